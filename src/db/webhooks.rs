//! Webhooks and their deliveries, the outbox (API.md section 12).

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::{serialize_unix, Conn, DbError, Missing, Tx};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::webhook::Format;

/// An endpoint, as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: String,
    #[serde(skip)]
    pub project_id: Option<i64>,
    pub url: String,
    pub events: Vec<String>,
    pub format: Format,
    /// `run.finished` only when the run's status differs from the previous
    /// finished run of the same name and branch.
    pub only_changes: bool,
    pub active: bool,
    /// Why the server turned it off (e.g. the endpoint answered 410).
    pub disabled_reason: Option<String>,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(skip)]
    pub created_by: Actor,
    /// Sealed with the instance secret.
    #[serde(skip)]
    pub sealed_secret: Vec<u8>,
}

const COLUMNS: &str = "id, project_id, url, events, format, only_changes, active, disabled_reason, created_at, \
    created_by_type, created_by_id, created_by_name, secret";

fn from_row(r: &Row) -> rusqlite::Result<Webhook> {
    from_row_at(r, 0)
}

/// The webhook in [`COLUMNS`] order from column `at` on.
fn from_row_at(r: &Row, at: usize) -> rusqlite::Result<Webhook> {
    let events: String = r.get(at + 3)?;
    let format: String = r.get(at + 4)?;
    let kind: String = r.get(at + 9)?;
    Ok(Webhook {
        id: r.get(at)?,
        project_id: r.get(at + 1)?,
        url: r.get(at + 2)?,
        events: events.split_whitespace().map(str::to_string).collect(),
        format: Format::parse(&format).unwrap_or(Format::Standard),
        only_changes: r.get(at + 5)?,
        active: r.get(at + 6)?,
        disabled_reason: r.get(at + 7)?,
        created_at: r.get(at + 8)?,
        created_by: Actor { kind: ActorKind::parse(&kind), id: r.get(at + 10)?, name: r.get(at + 11)?, preview: None },
        sealed_secret: r.get(at + 12)?,
    })
}

/// `columns` (comma-separated) each prefixed with `alias.`.
fn prefixed(columns: &str, alias: &str) -> String {
    columns.split(", ").map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

pub fn insert(tx: &Tx, hook: &Webhook) -> Result<(), DbError> {
    tx.execute(
        &format!("INSERT INTO webhooks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            hook.id,
            hook.project_id,
            hook.url,
            hook.events.join(" "),
            hook.format.as_str(),
            hook.only_changes,
            hook.active,
            hook.disabled_reason,
            hook.created_at,
            hook.created_by.kind.as_str(),
            hook.created_by.id,
            hook.created_by.name,
            hook.sealed_secret,
        ],
    )?;
    Ok(())
}

/// Writes every field but the id, the owner and the creation.
pub fn update(tx: &Tx, hook: &Webhook) -> Result<(), DbError> {
    tx.execute(
        "UPDATE webhooks SET url = ?2, events = ?3, format = ?4, only_changes = ?5, active = ?6,
            disabled_reason = ?7, secret = ?8 WHERE id = ?1",
        params![
            hook.id,
            hook.url,
            hook.events.join(" "),
            hook.format.as_str(),
            hook.only_changes,
            hook.active,
            hook.disabled_reason,
            hook.sealed_secret,
        ],
    )?;
    Ok(())
}

pub fn delete(tx: &Tx, id: &str) -> Result<(), DbError> {
    tx.execute("DELETE FROM webhooks WHERE id = ?1", params![id])?;
    Ok(())
}

/// Webhook `id` of project `project_id` (`None`: of the instance).
pub fn get(conn: &Conn, project_id: Option<i64>, id: &str) -> Result<Webhook, DbError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1 AND project_id IS ?2"),
        params![id, project_id],
        from_row,
    )
    .optional()?
    .ok_or(DbError::NotFound(Missing::Webhook))
}

/// The webhooks of project `project_id` (`None`: the instance's) after
/// `after`, oldest first.
pub fn list(conn: &Conn, project_id: Option<i64>, after: Option<&str>, limit: u32) -> Result<Vec<Webhook>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE project_id IS ?1 AND id > ?2 ORDER BY id LIMIT CAST(?3 AS INTEGER)"
    ))?;
    let rows = stmt.query_map(params![project_id, after.unwrap_or(""), limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many webhooks project `project_id` (`None`: the instance) has.
pub fn count(conn: &Conn, project_id: Option<i64>) -> Result<usize, DbError> {
    let n: i64 =
        conn.query_row("SELECT count(*) FROM webhooks WHERE project_id IS ?1", params![project_id], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The active webhooks that hear `event` about project `project_id`: the
/// project's own (if any) and the instance's.
pub fn subscribers(conn: &Conn, project_id: Option<i64>, event: &str) -> Result<Vec<Webhook>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhooks
         WHERE active = 1 AND (project_id IS NULL OR project_id = ?1)
           AND (' ' || events || ' ') LIKE '% ' || ?2 || ' %'
         ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![project_id, event], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    #[serde(skip)]
    pub webhook_id: String,
    /// The `webhook-id` header: the same for every attempt and redelivery of one event.
    pub message_id: String,
    pub event: String,
    #[serde(skip)]
    pub payload: String,
    #[serde(skip)]
    pub event_at: i64,
    /// Attempts made so far.
    pub attempt: u32,
    /// `pending`, `succeeded`, `failed` or `refused`.
    pub status: String,
    pub response_code: Option<u16>,
    #[serde(skip)]
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub latency_ms: Option<u32>,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(serialize_with = "crate::db::serialize_unix_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, message_id, event, payload, event_at, attempt, status, \
    response_code, response_body, error, latency_ms, created_at, next_attempt_at";

fn delivery_from_row(r: &Row) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        message_id: r.get(2)?,
        event: r.get(3)?,
        payload: r.get(4)?,
        event_at: r.get(5)?,
        attempt: r.get(6)?,
        status: r.get(7)?,
        response_code: r.get(8)?,
        response_body: r.get(9)?,
        error: r.get(10)?,
        latency_ms: r.get(11)?,
        created_at: r.get(12)?,
        next_attempt_at: r.get(13)?,
    })
}

/// Queues a delivery, due at once.
pub fn enqueue(
    tx: &Tx,
    webhook_id: &str,
    message_id: &str,
    event: &str,
    payload: &str,
    at: i64,
) -> Result<String, DbError> {
    let id = uuid::Uuid::now_v7().to_string();
    tx.queued_outgoing();
    tx.execute(
        "INSERT INTO webhook_deliveries (id, webhook_id, message_id, event, payload, event_at, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
        params![id, webhook_id, message_id, event, payload, at],
    )?;
    Ok(id)
}

pub fn delivery(conn: &Conn, webhook_id: &str, id: &str) -> Result<Delivery, DbError> {
    conn.query_row(
        &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?1 AND id = ?2"),
        params![webhook_id, id],
        delivery_from_row,
    )
    .optional()?
    .ok_or(DbError::NotFound(Missing::Delivery))
}

/// A webhook's deliveries, newest first, below `before`.
pub fn deliveries(conn: &Conn, webhook_id: &str, before: Option<&str>, limit: u32) -> Result<Vec<Delivery>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?1 AND (?2 IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT CAST(?3 AS INTEGER)"
    ))?;
    let rows = stmt.query_map(params![webhook_id, before, limit], delivery_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What the worker should send now, each with its webhook: of each
/// endpoint, its oldest pending delivery (so one endpoint's events go in
/// order, one at a time), if it is due at `now` and its endpoint is not in
/// `busy`; at most `limit`.
pub fn due(conn: &Conn, now: i64, busy: &[String], limit: u32) -> Result<Vec<(Delivery, Webhook)>, DbError> {
    let busy = serde_json::to_string(busy).map_err(|e| DbError::Internal(e.to_string()))?;
    let mut stmt = conn.prepare_cached(&due_sql())?;
    let width = DELIVERY_COLUMNS.split(", ").count();
    let rows = stmt.query_map(params![now, busy, limit], |r| Ok((delivery_from_row(r)?, from_row_at(r, width)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The query of [`due`]; its subquery reads the pending rows only
/// (index `webhook_deliveries_pending`), not the whole log.
fn due_sql() -> String {
    format!(
        "SELECT {}, {} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.active = 1
         WHERE d.id IN (SELECT min(id) FROM webhook_deliveries WHERE status = 'pending' GROUP BY webhook_id)
           AND d.next_attempt_at <= ?1
           AND d.webhook_id NOT IN (SELECT value FROM json_each(?2))
         ORDER BY d.next_attempt_at LIMIT CAST(?3 AS INTEGER)",
        prefixed(DELIVERY_COLUMNS, "d"),
        prefixed(COLUMNS, "w"),
    )
}

/// The outcome of one attempt.
pub struct Attempt<'a> {
    pub status: &'a str,
    pub response_code: Option<u16>,
    pub response_body: Option<&'a str>,
    pub error: Option<&'a str>,
    pub latency_ms: Option<u32>,
    pub next_attempt_at: Option<i64>,
}

/// Writes attempt `a` on delivery `id`, unless the delivery was ended
/// meanwhile (its webhook turned off or deleted while it was in flight).
pub fn record_attempt(tx: &Tx, id: &str, a: &Attempt) -> Result<(), DbError> {
    tx.execute(
        "UPDATE webhook_deliveries SET attempt = attempt + 1, status = ?2, response_code = ?3, response_body = ?4,
            error = ?5, latency_ms = ?6, next_attempt_at = ?7 WHERE id = ?1 AND status = 'pending'",
        params![id, a.status, a.response_code, a.response_body, a.error, a.latency_ms, a.next_attempt_at],
    )?;
    Ok(())
}

/// Turns webhook `id` off for `reason` (the endpoint answered 410) and
/// ends its pending deliveries.
pub fn disable(tx: &Tx, id: &str, reason: &str) -> Result<(), DbError> {
    tx.execute("UPDATE webhooks SET active = 0, disabled_reason = ?2 WHERE id = ?1", params![id, reason])?;
    cancel_pending(tx, id, reason)?;
    Ok(())
}

/// Ends every pending delivery of a webhook that was turned off.
pub fn cancel_pending(tx: &Tx, webhook_id: &str, reason: &str) -> Result<usize, DbError> {
    Ok(tx.execute(
        "UPDATE webhook_deliveries SET status = 'failed', error = ?2, next_attempt_at = NULL
         WHERE webhook_id = ?1 AND status = 'pending'",
        params![webhook_id, reason],
    )?)
}

/// Forgets deliveries made before `cutoff` that are no longer pending;
/// returns how many.
pub fn prune(tx: &Tx, cutoff: i64, batch: u32) -> Result<usize, DbError> {
    Ok(tx.execute(
        "DELETE FROM webhook_deliveries WHERE id IN (
            SELECT id FROM webhook_deliveries WHERE created_at < ?1 AND status <> 'pending' LIMIT CAST(?2 AS INTEGER))",
        params![cutoff, batch],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_due_deliveries_reads_only_the_pending_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db"), crate::config::Synchronous::Normal).unwrap();
        let plan: Vec<String> = db
            .read_blocking(|c| -> Result<_, DbError> {
                let mut stmt = c.prepare_cached(&format!("EXPLAIN QUERY PLAN {}", due_sql()))?;
                let rows = stmt.query_map(params![0, "[]", 8], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert!(
            plan.iter().any(|step| step.starts_with("SCAN webhook_deliveries")
                && step.ends_with("INDEX webhook_deliveries_pending")),
            "the subquery scans the pending index, not the log: {plan:#?}"
        );
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN d") && !step.ends_with("SCAN webhook_deliveries")),
            "no delivery is read but by its id or the pending index: {plan:#?}"
        );
    }
}
