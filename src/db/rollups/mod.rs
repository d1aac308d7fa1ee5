//! Rollups' storage (the scheme is `domain::rollup`'s): digests queued by
//! ingestion, folded into running totals per test and day and into
//! failure counts per day, read back as windows; the backfill of results
//! stored before rollups existed; and their retention.
//!
//! Costs: a window over all of a project's tests is one pass over
//! `test_totals` (one row per test) plus, for tests older than the
//! window, one seek each for the totals before it; a failure window reads
//! one row per day, group and failing test; both add the digests not yet
//! folded (a minute's uploads at most, or [`FOLD_ENTRIES`] results). None
//! of it grows with the results a project keeps.

use rusqlite::{params, Row};

use crate::db::{Conn, DbError, Tx};
use crate::domain::rollup::{self, day_of, DigestWriter, Entry, Tally};
use crate::domain::sketch::Sketch;

mod fold;
mod read;
mod signals;
#[cfg(test)]
mod tests;
mod upkeep;

pub use fold::{fold, Folded};
pub use read::{days_of, failures, window, Failures};
pub use signals::{signal, signals, SignalEvents};
pub use upkeep::{backfill, prune, Backfill};

/// Digests wait at most this long (seconds) before they are folded…
pub const FOLD_AFTER_SECS: i64 = 60;
/// …or until a project has this many results waiting.
pub const FOLD_ENTRIES: i64 = 500_000;
/// A fold transaction takes digests until they hold this many distinct
/// tests and days (each a row read and two written: what a fold costs)…
const FOLD_KEYS: usize = 50_000;
/// …or this many results (the memory it holds), at least one digest. Many
/// runs of the same tests fold into one row each: 50 runs of a
/// 10,000-test suite are one transaction writing 20,000 rows.
const FOLD_RESULTS: i64 = 2_000_000;
/// Results per digest, at most: a fold takes whole digests.
pub const DIGEST_ENTRIES: u32 = 50_000;
/// Runs read per backfill step, at most.
const BACKFILL_RUNS: u32 = 10_000;

/// Queues what a report added to run results (`digest`) for the run's
/// project and day, in the ingest transaction.
pub fn queue(tx: &Tx, project_id: i64, run_at: i64, digest: DigestWriter) -> Result<(), DbError> {
    if digest.is_empty() {
        return Ok(());
    }
    let (bytes, entries) = digest.finish();
    tx.prepare_cached(
        "INSERT INTO rollup_digests (project_id, day, run_at, queued_at, entries, digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![project_id, day_of(run_at), run_at, crate::domain::time::unix_now(), entries, bytes])?;
    Ok(())
}

/// Projects with digests to fold at `now`: every one when `all`, else
/// those with a digest queued over [`FOLD_AFTER_SECS`] ago or
/// [`FOLD_ENTRIES`] results waiting.
pub fn due(conn: &Conn, now: i64, all: bool) -> Result<Vec<i64>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT project_id FROM rollup_digests GROUP BY project_id
         HAVING ?3 OR min(queued_at) <= ?1 OR sum(entries) >= ?2",
    )?;
    let rows = stmt.query_map(params![now - FOLD_AFTER_SECS, FOLD_ENTRIES, all], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Five counts from column `at` on, then the durations' sketch.
fn tally(r: &Row, at: usize) -> rusqlite::Result<Tally> {
    let counts = [r.get(at)?, r.get(at + 1)?, r.get(at + 2)?, r.get(at + 3)?, r.get(at + 4)?];
    let blob = r.get_ref(at + 5)?.as_blob()?;
    let durations = Sketch::decode(blob).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(at + 5, rusqlite::types::Type::Blob, "not a duration sketch".into())
    })?;
    Ok(Tally::from_parts(counts, durations))
}

/// A digest's entries; none, with a warning, when it is not a digest (a
/// damaged row must not stop folding or fail every read of its project).
fn entries(id: i64, bytes: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    if rollup::read_digest(bytes, |e| out.push(e)).is_err() {
        log::warn!("rollups: digest {id} is not a digest; its results are left out of the rollups");
        out.clear();
    }
    out
}

/// The first day the rollups cover in full: retention deleted what came
/// before (`i64::MIN` until it has). Windows start there at the earliest.
pub fn horizon(conn: &Conn) -> Result<i64, DbError> {
    Ok(crate::db::settings::rollup_horizon(conn)?.unwrap_or(i64::MIN))
}

/// Whether the rollups cover a window starting at `since` in full (it
/// does not reach back past the [`horizon`]).
pub fn covers(conn: &Conn, since: i64) -> Result<bool, DbError> {
    Ok(day_of(since) >= horizon(conn)?)
}

/// Which tests a window covers.
#[derive(Debug, Clone, Copy)]
pub enum Tests<'a> {
    All,
    Only(&'a [i64]),
}
