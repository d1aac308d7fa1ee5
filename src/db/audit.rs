//! The audit trail: append (inside the caller's transaction) and read.

use rusqlite::params;
use serde::Serialize;
use serde_json::Value;

use crate::db::{Conn, DbError, Tx};
use crate::domain::audit::{Actor, ActorKind, AuditContext, Target};
use crate::domain::secrets::{redact, redact_json};
use crate::domain::time::unix_now;

/// User agents are stored truncated: they are evidence, not payload.
const MAX_USER_AGENT: usize = 256;

/// Appends one event; call it in the transaction of the change it records.
pub fn record(
    tx: &Tx,
    ctx: &AuditContext,
    action: &str,
    target: Option<&Target>,
    mut details: Value,
) -> Result<(), DbError> {
    // Free text from clients (a name, the login form's email) may hold a
    // pasted secret; none is ever stored. (User agents are redacted where
    // they are read, in `auth::client`.)
    let ua = ctx.user_agent.as_deref().map(|ua| truncate(ua, MAX_USER_AGENT));
    let target_id = target.map(|t| redact(&t.id));
    let target_name = target.map(|t| redact(&t.name));
    redact_json(&mut details);
    tx.execute(
        "INSERT INTO audit_events (at, actor_type, actor_id, actor_name, actor_preview, action,
                                   target_type, target_id, target_name, ip, user_agent, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            unix_now(),
            ctx.actor.kind.as_str(),
            ctx.actor.id,
            ctx.actor.name,
            ctx.actor.preview,
            action,
            target.map(|t| t.kind.as_str()),
            target_id.as_deref(),
            target_name.as_deref(),
            ctx.ip,
            ua,
            details.to_string(),
        ],
    )?;
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    #[serde(serialize_with = "crate::db::serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    pub actor: Actor,
    pub action: String,
    pub target: Option<Target>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

/// Filters of the audit page and `GET /api/v1/audit`.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Exact action, or a prefix ending in `.` (`token.` for every token event).
    pub action: Option<String>,
    /// Actor id, name or token preview.
    pub actor: Option<String>,
    /// Target id or name.
    pub target: Option<String>,
}

/// Newest first; `before` is the id to continue below (keyset pagination).
pub fn list(conn: &Conn, filter: &AuditFilter, before: Option<i64>, limit: u32) -> Result<Vec<AuditEvent>, DbError> {
    let action_prefix = filter.action.as_ref().filter(|a| a.ends_with('.')).map(|a| format!("{a}%"));
    let action_exact = filter.action.as_ref().filter(|a| !a.ends_with('.'));
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor_type, actor_id, actor_name, actor_preview, action,
                target_type, target_id, target_name, ip, user_agent, details
         FROM audit_events
         WHERE (?1 IS NULL OR id < ?1)
           AND (?2 IS NULL OR action = ?2)
           AND (?3 IS NULL OR action LIKE ?3)
           AND (?4 IS NULL OR actor_id = ?4 OR actor_name = ?4 OR actor_preview = ?4)
           AND (?5 IS NULL OR target_id = ?5 OR target_name = ?5)
         ORDER BY id DESC LIMIT CAST(?6 AS INTEGER)",
    )?;
    let rows =
        stmt.query_map(params![before, action_exact, action_prefix, filter.actor, filter.target, limit], |r| {
            let target_type: Option<String> = r.get(7)?;
            let details: String = r.get(12)?;
            Ok(AuditEvent {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: Actor {
                    kind: ActorKind::parse(&r.get::<_, String>(2)?),
                    id: r.get(3)?,
                    name: r.get(4)?,
                    preview: r.get(5)?,
                },
                action: r.get(6)?,
                target: match target_type {
                    Some(kind) => Some(Target {
                        kind,
                        id: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                        name: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
                    }),
                    None => None,
                },
                ip: r.get(10)?,
                user_agent: r.get(11)?,
                details: serde_json::from_str(&details).unwrap_or(Value::Null),
            })
        })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The distinct actions recorded so far (for the filter menu).
pub fn actions(conn: &Conn) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT action FROM audit_events ORDER BY action")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
