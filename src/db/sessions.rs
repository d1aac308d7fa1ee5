//! Web sessions, stored by the SHA-256 of the cookie value.

use rusqlite::{params, OptionalExtension};

use crate::db::{Conn, DbError, Tx};

/// A live session row with its account's state.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub account_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

pub fn insert(
    tx: &Tx,
    id_hash: &[u8],
    account_id: &str,
    now: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO sessions (id_hash, account_id, created_at, last_seen_at, ip, user_agent)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
        params![id_hash, account_id, now, ip, user_agent.map(|ua| ua.chars().take(256).collect::<String>())],
    )?;
    Ok(())
}

pub fn get(conn: &Conn, id_hash: &[u8]) -> Result<Option<SessionRow>, DbError> {
    Ok(conn
        .prepare_cached("SELECT account_id, created_at, last_seen_at FROM sessions WHERE id_hash = ?1")?
        .query_row([id_hash], |r| {
            Ok(SessionRow { account_id: r.get(0)?, created_at: r.get(1)?, last_seen_at: r.get(2)? })
        })
        .optional()?)
}

pub fn touch(tx: &Tx, id_hash: &[u8], now: i64) -> Result<(), DbError> {
    tx.execute("UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1", params![id_hash, now])?;
    Ok(())
}

pub fn delete(tx: &Tx, id_hash: &[u8]) -> Result<(), DbError> {
    tx.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
    Ok(())
}

pub fn delete_for_account(tx: &Tx, account_id: &str) -> Result<(), DbError> {
    tx.execute("DELETE FROM sessions WHERE account_id = ?1", [account_id])?;
    Ok(())
}

/// Removes sessions past either timeout.
pub fn delete_expired(tx: &Tx, idle_before: i64, created_before: i64) -> Result<usize, DbError> {
    Ok(tx.execute(
        "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2",
        params![idle_before, created_before],
    )?)
}

/// Sessions still open: seen since `idle_before` and made since `created_before`.
pub fn count_open(conn: &Conn, idle_before: i64, created_before: i64) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM sessions WHERE last_seen_at >= ?1 AND created_at >= ?2")?
        .query_row(params![idle_before, created_before], |r| r.get(0))?)
}
