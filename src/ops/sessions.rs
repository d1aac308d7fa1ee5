//! Signing in, as changes: the new session's row and the audit rows of
//! login attempts. The throttle and the password check that come first are
//! `auth::login`'s.

use serde_json::json;

use crate::db::accounts::Account;
use crate::db::{audit, sessions, Tx};
use crate::domain::audit::{Actor, AuditContext, Target};
use crate::domain::session_id;
use crate::domain::time::unix_now;
use crate::ops::OpsError;

/// Starts a session for `account`, signed in from `client` (whose actor is
/// replaced by the account), with its `login.succeeded` row when it came
/// through the login form (`login_email`). Returns the cookie value.
pub fn start(tx: &Tx, client: &AuditContext, account: &Account, login_email: Option<&str>) -> Result<String, OpsError> {
    let value = session_id::generate();
    let (ip, user_agent) = (client.ip.as_deref(), client.user_agent.as_deref());
    sessions::insert(tx, &session_id::hash(&value), &account.id, unix_now(), ip, user_agent)?;
    if let Some(email) = login_email {
        let ctx = AuditContext {
            actor: Actor::account(account.kind.actor_kind(), &account.id, &account.name),
            ..client.clone()
        };
        let target = Target::new("user", account.id.clone(), email.to_string());
        audit::record(tx, &ctx, "login.succeeded", Some(&target), json!({}))?;
    }
    Ok(value)
}

/// Records a refused login attempt for `email` (`reason`: `throttled` or
/// `bad_credentials`).
pub fn refuse(tx: &Tx, client: &AuditContext, email: &str, reason: &str) -> Result<(), OpsError> {
    let ctx = AuditContext { actor: Actor::system(), ..client.clone() };
    let target = Target::new("user", email.to_string(), email.to_string());
    audit::record(tx, &ctx, "login.failed", Some(&target), json!({"reason": reason}))?;
    Ok(())
}
