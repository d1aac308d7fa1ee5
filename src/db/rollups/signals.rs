//! Flakiness signal events rolled up by test, signal and day.

use rusqlite::{params, OptionalExtension, Row};

use super::horizon;
use super::read::each_total;
use super::Tests;
use crate::db::{Conn, DbError, Tx};
use crate::domain::rollup::day_of;

/// Counts one flakiness event (`db::signals`) of `kind` for the test, of
/// a run created at `at`, in the signal rollups.
pub fn signal(tx: &Tx, project_id: i64, test: i64, kind: &str, at: i64) -> Result<(), DbError> {
    let day = day_of(at);
    let key = params![project_id, test, kind, day, at];
    let same_day = tx
        .prepare_cached(
            "UPDATE signal_days SET total = total + 1, first_at = min(first_at, ?5), last_at = max(last_at, ?5)
             WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day = ?4",
        )?
        .execute(key)?;
    if same_day == 0 {
        tx.prepare_cached(
            "INSERT INTO signal_days (project_id, test, kind, day, total, first_at, last_at)
             SELECT ?1, ?2, ?3, ?4, coalesce((SELECT total FROM signal_days
                 WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day < ?4 ORDER BY day DESC LIMIT 1), 0) + 1,
                 ?5, ?5",
        )?
        .execute(key)?;
    }
    // A run closing after a later day's events (it was open that long).
    tx.prepare_cached(
        "UPDATE signal_days SET total = total + 1 WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day > ?4",
    )?
    .execute(params![project_id, test, kind, day])?;
    tx.prepare_cached(
        "INSERT INTO signal_totals (project_id, test, kind, first_day, last_day, total, first_at, last_at)
         VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5, ?5)
         ON CONFLICT DO UPDATE SET first_day = min(first_day, excluded.first_day),
             last_day = max(last_day, excluded.last_day), total = total + 1,
             first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)",
    )?
    .execute(key)?;
    Ok(())
}

/// A test's events of one flakiness signal in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalEvents {
    pub test: i64,
    pub kind: String,
    pub events: i64,
    pub first_at: i64,
    pub last_at: i64,
}

/// Per test and signal, the events of runs created from the start of
/// `first_day` on: one pass over the project's signal totals, and for
/// those older than the window two seeks (the total before it, its first
/// event in it).
pub fn signals(conn: &Conn, project_id: i64, first_day: i64, tests: Tests) -> Result<Vec<SignalEvents>, DbError> {
    let first_day = first_day.max(horizon(conn)?);
    let mut before = conn.prepare_cached(
        "SELECT total FROM signal_days WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day < ?4
         ORDER BY day DESC LIMIT 1",
    )?;
    let mut first = conn.prepare_cached(
        "SELECT first_at FROM signal_days WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day >= ?4
         ORDER BY day LIMIT 1",
    )?;
    let mut out = Vec::new();
    let add = |r: &Row| -> Result<(), DbError> {
        let (test, kind, oldest, total): (i64, String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let (mut events, mut first_at, last_at) = (total, r.get(4)?, r.get(5)?);
        if oldest < first_day {
            let key = params![project_id, test, kind, first_day];
            events -= before.query_row(key, |r| r.get::<_, i64>(0)).optional()?.unwrap_or(0);
            first_at = first.query_row(key, |r| r.get(0)).optional()?.unwrap_or(first_at);
        }
        if events > 0 {
            out.push(SignalEvents { test, kind, events, first_at, last_at });
        }
        Ok(())
    };
    let totals = "SELECT test, kind, first_day, total, first_at, last_at FROM signal_totals";
    each_total(conn, totals, project_id, first_day, tests, add)?;
    Ok(out)
}
