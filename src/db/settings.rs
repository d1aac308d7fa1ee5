//! Instance-wide settings stored as JSON values (the token policy).

use rusqlite::{params, OptionalExtension};

use crate::db::{Conn, DbError, Tx};
use crate::domain::policy::TokenPolicy;

const TOKEN_POLICY: &str = "token_policy";

/// The global token expiration policy (defaults until an admin sets one).
pub fn token_policy(conn: &Conn) -> Result<TokenPolicy, DbError> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([TOKEN_POLICY], |r| r.get(0))
        .optional()?;
    match stored {
        Some(json) => serde_json::from_str(&json).map_err(DbError::internal),
        None => Ok(TokenPolicy::default()),
    }
}

pub fn set_token_policy(tx: &Tx, policy: &TokenPolicy) -> Result<(), DbError> {
    let json = serde_json::to_string(policy).map_err(DbError::internal)?;
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![TOKEN_POLICY, json],
    )?;
    Ok(())
}
