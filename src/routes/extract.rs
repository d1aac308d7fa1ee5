//! Who is asking, read from the request: the extractors of `auth`'s types
//! and the cookies of the web UI. The rules behind them (token checks,
//! sessions, CSRF, client addresses) are `auth`'s; this module only
//! speaks HTTP.

use std::net::IpAddr;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, LocalBoxFuture, Ready};

use crate::auth::api::{self, ApiCaller, AuthHeaders};
use crate::auth::client::ClientInfo;
use crate::auth::session::{self, MaybeSession, PreSession, SessionUser};
use crate::error::{AppError, PageError};
use crate::metrics::TokenOutcome;
use crate::state::AppState;

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| AppError::internal("application state missing"))
}

/// The client of `req`, believing `X-Forwarded-For` only from `trusted_proxies`.
pub fn client_info(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> ClientInfo {
    let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    ClientInfo::new(
        req.peer_addr().map(|a| a.ip()),
        text(header::HeaderName::from_static("x-forwarded-for")),
        text(header::USER_AGENT),
        trusted_proxies,
    )
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let proxies =
            req.app_data::<web::Data<AppState>>().map(|s| s.config.trusted_proxies.clone()).unwrap_or_default();
        ready(Ok(client_info(req, &proxies)))
    }
}

// ---- The API's token -------------------------------------------------------

const TOKEN_HEADERS: [&str; 3] = ["authorization", "x-api-key", "project-token"];

/// The one token presented, `Ok(None)` for none, 400 for two different ones.
fn presented(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let mut found: Option<String> = None;
    for name in TOKEN_HEADERS {
        for value in headers.get_all(name) {
            let raw = value.to_str().unwrap_or("").trim();
            let token = if name == "authorization" {
                match raw.split_once(' ') {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                    _ => raw,
                }
            } else {
                raw
            };
            match &found {
                Some(existing) if existing != token => {
                    return Err(AppError::bad_request(
                        "ambiguous_credentials",
                        "Two different tokens were sent; send exactly one.",
                    ))
                }
                _ => found = Some(token.to_string()),
            }
        }
    }
    Ok(found)
}

/// Authenticates `req`, leaving the headers its response must carry in the
/// request's extensions (the API middleware copies them, errors included).
async fn authenticate(req: HttpRequest) -> Result<ApiCaller, AppError> {
    let state = state_of(&req)?;
    let raw = presented(req.headers())?;
    let client = client_info(&req, &state.config.trusted_proxies);
    let done = api::authenticate(&state, raw, client).await;
    if let Some(headers) = done.headers {
        req.extensions_mut().insert(headers);
    }
    state.metrics.token_check(token_outcome(&done.caller));
    done.caller
}

/// How a token check ended, for the metrics.
fn token_outcome(caller: &Result<ApiCaller, AppError>) -> TokenOutcome {
    match caller {
        Ok(_) => TokenOutcome::Ok,
        Err(e) => match e.code() {
            "token_revoked" => TokenOutcome::Revoked,
            "token_expired" => TokenOutcome::Expired,
            "rate_limited" => TokenOutcome::RateLimited,
            _ => TokenOutcome::Invalid,
        },
    }
}

/// The headers [`authenticate`] left for the response of `req`.
pub fn auth_headers(req: &HttpRequest) -> Option<AuthHeaders> {
    req.extensions().get::<AuthHeaders>().cloned()
}

/// The outcome of authenticating before the handler's extractors run.
struct PreAuthenticated(std::cell::RefCell<Option<Result<ApiCaller, AppError>>>);

/// Authenticates a request that presents a token *before* its handler's
/// extractors run (called by the API middleware). Extractors run
/// concurrently, so otherwise a malformed JSON body could be answered (400)
/// before an invalid token (401) whose check had to wait for the database.
pub async fn preauthenticate(req: &HttpRequest) {
    if TOKEN_HEADERS.iter().any(|h| req.headers().contains_key(*h)) {
        let result = authenticate(req.clone()).await;
        req.extensions_mut().insert(PreAuthenticated(std::cell::RefCell::new(Some(result))));
    }
}

impl FromRequest for ApiCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let done = req.extensions().get::<PreAuthenticated>().and_then(|p| p.0.borrow_mut().take());
        match done {
            Some(result) => Box::pin(ready(result)),
            None => Box::pin(authenticate(req.clone())),
        }
    }
}

// ---- The web UI's cookies ----------------------------------------------------

fn session_cookie_name(https: bool) -> &'static str {
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

/// HttpOnly, SameSite=Lax, for the whole site; Secure (and `__Host-`) over HTTPS.
fn cookie(name: &'static str, value: String, https: bool, max_age: Option<CookieDuration>) -> Cookie<'static> {
    let mut builder = Cookie::build(name, value).path("/").http_only(true).same_site(SameSite::Lax).secure(https);
    if let Some(age) = max_age {
        builder = builder.max_age(age);
    }
    builder.finish()
}

/// The cookie of a new session. It has no Max-Age: the browser forgets it
/// on exit, and the server enforces the timeouts.
pub fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    let https = state.config.is_https();
    cookie(session_cookie_name(https), value, https, None)
}

/// The cookie that clears the session cookie.
pub fn cleared_session_cookie(state: &AppState) -> Cookie<'static> {
    let https = state.config.is_https();
    let mut cleared = cookie(session_cookie_name(https), String::new(), https, None);
    cleared.make_removal();
    cleared
}

/// The pre-session cookie to set with a login or setup page, when it is new.
pub fn pre_session_cookie(state: &AppState, pre: &PreSession) -> Option<Cookie<'static>> {
    let https = state.config.is_https();
    pre.is_new.then(|| cookie(pre_cookie_name(https), pre.value.clone(), https, Some(CookieDuration::hours(12))))
}

fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// The live session behind `req`'s session cookie, if any.
async fn session_of(req: HttpRequest) -> Result<Option<SessionUser>, PageError> {
    let state = state_of(&req)?;
    match cookie_value(&req, session_cookie_name(state.config.is_https())) {
        Some(value) => Ok(session::load(&state, value).await?),
        None => Ok(None),
    }
}

impl FromRequest for SessionUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = session_of(req.clone());
        Box::pin(async move { session.await?.ok_or(PageError(AppError::LoginRequired)) })
    }
}

impl FromRequest for MaybeSession {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = session_of(req.clone());
        Box::pin(async move { Ok(MaybeSession(session.await?)) })
    }
}

impl FromRequest for PreSession {
    type Error = PageError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(state_of(req).map_err(PageError).map(|state| {
            let existing = cookie_value(req, pre_cookie_name(state.config.is_https()));
            PreSession::of(&state, existing)
        }))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn one_token_from_any_header() {
        assert_eq!(presented(&headers(&[])).unwrap(), None);
        assert_eq!(presented(&headers(&[("authorization", "Bearer abc")])).unwrap().as_deref(), Some("abc"));
        assert_eq!(presented(&headers(&[("x-api-key", "abc")])).unwrap().as_deref(), Some("abc"));
        assert_eq!(presented(&headers(&[("project-token", " abc ")])).unwrap().as_deref(), Some("abc"));
        let same = headers(&[("authorization", "bearer abc"), ("x-api-key", "abc")]);
        assert_eq!(presented(&same).unwrap().as_deref(), Some("abc"));
        let two = headers(&[("authorization", "Bearer abc"), ("project-token", "def")]);
        assert!(matches!(presented(&two), Err(AppError::Client { code: "ambiguous_credentials", .. })));
    }
}
