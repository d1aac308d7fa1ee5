//! Web sessions. The cookie holds 256 random bits; the database holds only
//! their SHA-256, so a leaked database cannot be replayed as cookies. Every
//! login issues a new id; logout and deactivation delete the row; idle and
//! absolute timeouts end it. The cookie is HttpOnly and SameSite=Lax, plus
//! Secure with the `__Host-` prefix when users come over HTTPS.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};

use super::{csrf, Principal, ProjectScope};
use crate::db::{self, accounts::Account};
use crate::domain::audit::Actor;
use crate::domain::time::unix_now;
use crate::error::{AppError, AppResult, PageError};
use crate::state::AppState;

/// Touching `last_seen_at` at most this often keeps page views read-only.
const TOUCH_EVERY_SECS: i64 = 60;

pub fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-proctor_session"
    } else {
        "proctor_session"
    }
}

fn pre_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-proctor_pre"
    } else {
        "proctor_pre"
    }
}

fn random_cookie_value() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_id(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

fn build_cookie(name: &'static str, value: String, https: bool, max_age: Option<CookieDuration>) -> Cookie<'static> {
    let mut builder = Cookie::build(name, value).path("/").http_only(true).same_site(SameSite::Lax).secure(https);
    if let Some(age) = max_age {
        builder = builder.max_age(age);
    }
    builder.finish()
}

/// Creates a session for `account` and returns its cookie.
pub async fn start(
    state: &AppState,
    account_id: String,
    ip: Option<String>,
    ua: Option<String>,
) -> Result<Cookie<'static>, AppError> {
    let value = random_cookie_value();
    let hash = hash_id(&value);
    let now = unix_now();
    state.db.write(move |tx| db::sessions::insert(tx, &hash, &account_id, now, ip.as_deref(), ua.as_deref())).await?;
    let https = state.config.is_https();
    // A session cookie (no Max-Age): the browser forgets it on exit; the server enforces the timeouts.
    Ok(build_cookie(cookie_name(https), value, https, None))
}

/// Ends the session of this cookie value (if any) and returns a cookie that clears it.
pub async fn end(state: &AppState, value: Option<String>) -> Result<Cookie<'static>, AppError> {
    if let Some(value) = value {
        let hash = hash_id(&value);
        state.db.write(move |tx| db::sessions::delete(tx, &hash)).await?;
    }
    let https = state.config.is_https();
    let mut cookie = build_cookie(cookie_name(https), String::new(), https, None);
    cookie.make_removal();
    Ok(cookie)
}

/// A signed-in person, for every page behind the login.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub account: Account,
    pub principal: Principal,
    /// The CSRF token for forms on this page.
    pub csrf: String,
    cookie_value: String,
}

impl SessionUser {
    /// Checks a submitted form's CSRF token.
    pub fn verify_csrf(&self, state: &AppState, submitted: &str) -> Result<(), AppError> {
        csrf::verify(&state.key, &self.cookie_value, submitted)
    }

    pub fn cookie_value(&self) -> &str {
        &self.cookie_value
    }
}

/// Loads the session behind `value`, enforcing timeouts and the account's state.
async fn load(state: web::Data<AppState>, value: String) -> Result<Option<SessionUser>, AppError> {
    let hash = hash_id(&value);
    let now = unix_now();
    let idle = i64::from(state.config.session_idle_minutes) * 60;
    let max = i64::from(state.config.session_max_hours) * 3600;
    let found = state
        .db
        .read(move |conn| -> AppResult<_> {
            let Some(row) = db::sessions::get(conn, &hash)? else { return Ok(None) };
            let Some(account) = db::accounts::get(conn, &row.account_id)? else { return Ok(None) };
            let permissions = db::roles::permissions(conn, &account.role)?.unwrap_or_default();
            Ok(Some((row, account, permissions)))
        })
        .await?;
    let Some((row, account, permissions)) = found else { return Ok(None) };
    let expired = now - row.last_seen_at > idle || now - row.created_at > max;
    if expired || !account.active {
        state.db.write(move |tx| db::sessions::delete(tx, &hash)).await?;
        return Ok(None);
    }
    if now - row.last_seen_at >= TOUCH_EVERY_SECS {
        state.db.write(move |tx| db::sessions::touch(tx, &hash, now)).await?;
    }
    let principal = Principal {
        actor: Actor::account(account.kind.actor_kind(), &account.id, &account.name),
        account_id: Some(account.id.clone()),
        permissions,
        projects: ProjectScope::All,
    };
    let csrf = csrf::token_for(&state.key, &value);
    Ok(Some(SessionUser { account, principal, csrf, cookie_value: value }))
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| AppError::internal("application state missing"))
}

fn session_cookie(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(cookie_name(state.config.is_https())).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

impl FromRequest for SessionUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state_of(&req)?;
            let value = session_cookie(&req, &state).ok_or(AppError::LoginRequired)?;
            load(state, value).await?.ok_or(PageError(AppError::LoginRequired))
        })
    }
}

/// The session if there is one (pages that also serve visitors).
pub struct MaybeSession(pub Option<SessionUser>);

impl FromRequest for MaybeSession {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state_of(&req)?;
            match session_cookie(&req, &state) {
                Some(value) => Ok(MaybeSession(load(state, value).await?)),
                None => Ok(MaybeSession(None)),
            }
        })
    }
}

/// The visitor of the login and setup pages, before any session exists: a
/// random cookie that their CSRF token is bound to.
pub struct PreSession {
    value: String,
    /// Set when the cookie is new and must be sent with the response.
    pub new_cookie: Option<Cookie<'static>>,
    pub csrf: String,
}

impl PreSession {
    pub fn verify_csrf(&self, state: &AppState, submitted: &str) -> Result<(), AppError> {
        csrf::verify(&state.key, &self.value, submitted)
    }
}

impl FromRequest for PreSession {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state_of(&req)?;
            let https = state.config.is_https();
            let existing = req.cookie(pre_cookie_name(https)).map(|c| c.value().to_string()).filter(|v| v.len() >= 32);
            let (value, new_cookie) = match existing {
                Some(v) => (v, None),
                None => {
                    let v = random_cookie_value();
                    let cookie =
                        build_cookie(pre_cookie_name(https), v.clone(), https, Some(CookieDuration::hours(12)));
                    (v, Some(cookie))
                }
            };
            let csrf = csrf::token_for(&state.key, &value);
            Ok(PreSession { value, new_cookie, csrf })
        })
    }
}
