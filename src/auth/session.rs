//! Web sessions. The cookie holds 256 random bits (`domain::session_id`);
//! the database holds only their SHA-256. Every login issues a new id
//! (`auth::login`, which writes it through `ops::sessions`); logout and
//! deactivation delete the row; idle and absolute
//! timeouts end it. The cookies themselves (names, flags) are
//! `routes::extract`'s: this module knows values, not headers.

use super::{csrf, Principal, ProjectScope};
use crate::db::{self, accounts::Account};
use crate::domain::audit::Actor;
use crate::domain::session_id;
use crate::domain::time::unix_now;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Touching `last_seen_at` at most this often keeps page views read-only.
const TOUCH_EVERY_SECS: i64 = 60;

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

/// The session if there is one (pages that also serve visitors).
pub struct MaybeSession(pub Option<SessionUser>);

/// Loads the session behind the cookie value `value`, enforcing timeouts and
/// the account's state; `None` when there is no such live session.
pub async fn load(state: &AppState, value: String) -> Result<Option<SessionUser>, AppError> {
    let hash = session_id::hash(&value);
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

/// Ends the session of this cookie value.
pub async fn end(state: &AppState, value: &str) -> Result<(), AppError> {
    let hash = session_id::hash(value);
    state.db.write(move |tx| db::sessions::delete(tx, &hash)).await?;
    Ok(())
}

/// The visitor of the login and setup pages, before any session exists: a
/// random cookie that their CSRF token is bound to.
pub struct PreSession {
    pub value: String,
    /// The value is new: the response must set the cookie.
    pub is_new: bool,
    pub csrf: String,
}

impl PreSession {
    /// The pre-session of a visitor whose cookie holds `existing` (if it
    /// looks like one of ours), or a new one.
    pub fn of(state: &AppState, existing: Option<String>) -> PreSession {
        let (value, is_new) = match existing.filter(|v| v.len() >= 32) {
            Some(v) => (v, false),
            None => (session_id::generate(), true),
        };
        let csrf = csrf::token_for(&state.key, &value);
        PreSession { value, is_new, csrf }
    }

    pub fn verify_csrf(&self, state: &AppState, submitted: &str) -> Result<(), AppError> {
        csrf::verify(&state.key, &self.value, submitted)
    }
}
