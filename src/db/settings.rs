//! Instance-wide settings stored as JSON values (the token policy, the
//! rollups' horizon).

use rusqlite::{params, OptionalExtension};

use crate::db::{Conn, DbError, Tx};
use crate::domain::policy::TokenPolicy;

const TOKEN_POLICY: &str = "token_policy";
const ROLLUP_HORIZON: &str = "rollup_horizon_day";

fn get(conn: &Conn, key: &str) -> Result<Option<String>, DbError> {
    Ok(conn.prepare_cached("SELECT value FROM settings WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

fn set(tx: &Tx, key: &str, json: &str) -> Result<(), DbError> {
    tx.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, json])?;
    Ok(())
}

/// The global token expiration policy (defaults until an admin sets one).
pub fn token_policy(conn: &Conn) -> Result<TokenPolicy, DbError> {
    match get(conn, TOKEN_POLICY)? {
        Some(json) => serde_json::from_str(&json).map_err(DbError::internal),
        None => Ok(TokenPolicy::default()),
    }
}

pub fn set_token_policy(tx: &Tx, policy: &TokenPolicy) -> Result<(), DbError> {
    set(tx, TOKEN_POLICY, &serde_json::to_string(policy).map_err(DbError::internal)?)
}

/// The first day analytics rollups cover in full (`db::rollups::horizon`),
/// once retention has pruned some.
pub fn rollup_horizon(conn: &Conn) -> Result<Option<i64>, DbError> {
    Ok(get(conn, ROLLUP_HORIZON)?.and_then(|v| v.parse().ok()))
}

pub fn set_rollup_horizon(tx: &Tx, day: i64) -> Result<(), DbError> {
    set(tx, ROLLUP_HORIZON, &day.to_string())
}
