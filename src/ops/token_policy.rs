//! The global token expiration policy: replacing it, and the background
//! sweep that revokes tokens left unused for longer than it allows. Expiry
//! dates themselves are decided in `domain::policy` when a token is issued.

use serde_json::json;

use super::tokens::{load, target};
use crate::db::Tx;
use crate::db::{self, audit};
use crate::domain::audit::{Actor, AuditContext, Target};
use crate::domain::policy::TokenPolicy;
use crate::domain::time::unix_now;
use crate::ops::{OpsError, Refusal};

/// Replaces the global expiration policy.
pub fn set_policy(tx: &Tx, ctx: &AuditContext, policy: &TokenPolicy) -> Result<(), OpsError> {
    policy.validate().map_err(Refusal::InvalidPolicy)?;
    let before = db::settings::token_policy(tx)?;
    db::settings::set_token_policy(tx, policy)?;
    audit::record(
        tx,
        ctx,
        "token_policy.updated",
        Some(&Target::new("settings", "token-policy", "token policy")),
        json!({"from": before, "to": policy}),
    )?;
    Ok(())
}

/// Revokes tokens unused for longer than the policy allows; returns how many.
pub fn revoke_unused(tx: &Tx) -> Result<usize, OpsError> {
    let policy = db::settings::token_policy(tx)?;
    let Some(days) = policy.revoke_unused_after_days else { return Ok(0) };
    let now = unix_now();
    let ids = db::tokens::unused_since(tx, crate::domain::time::days_before(now, days), now)?;
    let ctx = AuditContext { actor: Actor::system(), ip: None, user_agent: None };
    for id in &ids {
        let token = load(tx, id)?;
        db::tokens::revoke(tx, id, now, "unused")?;
        audit::record(tx, &ctx, "token.expired_unused", Some(&target(&token)), json!({"unused_days": days}))?;
    }
    Ok(ids.len())
}
