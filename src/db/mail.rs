//! Mail in the outbox (API.md section 12): queued in the transaction that
//! decides it, sent and retried by the delivery worker.

use rusqlite::params;

use crate::db::{Conn, DbError, Tx};

/// One mail to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempt: u32,
    pub created_at: i64,
}

/// Queues a mail, due at once.
pub fn enqueue(tx: &Tx, to: &str, subject: &str, body: &str, now: i64) -> Result<(), DbError> {
    tx.queued_outgoing();
    tx.execute(
        "INSERT INTO mail_deliveries (id, to_address, subject, body, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![uuid::Uuid::now_v7().to_string(), to, subject, body, now],
    )?;
    Ok(())
}

/// Pending mails due at `now`, oldest first, at most `limit`.
pub fn due(conn: &Conn, now: i64, limit: u32) -> Result<Vec<Mail>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, to_address, subject, body, attempt, created_at FROM mail_deliveries
         WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT CAST(?2 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![now, limit], |r| {
        Ok(Mail {
            id: r.get(0)?,
            to: r.get(1)?,
            subject: r.get(2)?,
            body: r.get(3)?,
            attempt: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records an attempt: sent (`next` None, no error), failed for good
/// (`next` None, an error) or to be tried again at `next`.
pub fn record_attempt(tx: &Tx, id: &str, error: Option<&str>, next: Option<i64>) -> Result<(), DbError> {
    let status = match (error, next) {
        (None, _) => "succeeded",
        (Some(_), Some(_)) => "pending",
        (Some(_), None) => "failed",
    };
    tx.execute(
        "UPDATE mail_deliveries SET attempt = attempt + 1, status = ?2, error = ?3, next_attempt_at = ?4 WHERE id = ?1",
        params![id, status, error, next],
    )?;
    Ok(())
}

/// Forgets finished mails made before `cutoff`.
pub fn prune(tx: &Tx, cutoff: i64) -> Result<usize, DbError> {
    Ok(tx.execute("DELETE FROM mail_deliveries WHERE created_at < ?1 AND status <> 'pending'", params![cutoff])?)
}
