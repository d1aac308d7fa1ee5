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

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{params, OptionalExtension, Row};

use crate::db::{Conn, DbError, Tx};
use crate::domain::report::Outcome;
use crate::domain::rollup::{self, day_of, DigestWriter, Entry, Tally};
use crate::domain::sketch::Sketch;

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

/// What one fold did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    pub digests: usize,
    pub entries: i64,
    /// Whether the project has digests left.
    pub more: bool,
}

/// Folds the project's oldest digests, up to [`FOLD_KEYS`] tests and days
/// or [`FOLD_RESULTS`] results.
pub fn fold(tx: &Tx, project_id: i64) -> Result<Folded, DbError> {
    let mut by_test: BTreeMap<(i64, i64), Vec<Entry>> = BTreeMap::new();
    let mut failures: HashMap<(i64, i64, i64), FailureDelta> = HashMap::new();
    let mut folded = Folded::default();
    let mut last_id = 0i64;
    {
        let mut stmt = tx.prepare_cached(
            "SELECT id, day, run_at, entries, digest FROM rollup_digests WHERE project_id = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([project_id])?;
        while let Some(r) = rows.next()? {
            if by_test.len() >= FOLD_KEYS || folded.entries >= FOLD_RESULTS {
                folded.more = true;
                break;
            }
            let (id, day, run_at, count): (i64, i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            for e in entries(id, r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?) {
                by_test.entry((e.test, day)).or_default().push(e);
                if let Some(print) = e.fingerprint {
                    failures.entry((day, print, e.test)).or_default().add(e.removed, run_at);
                }
            }
            (last_id, folded.digests, folded.entries) = (id, folded.digests + 1, folded.entries + count);
        }
    }
    let mut lost = 0;
    for ((test, day), entries) in by_test {
        lost += fold_test_day(tx, project_id, test, day, &entries)?;
    }
    if lost > 0 {
        log::warn!("rollups: {lost} merged result(s) of project {project_id} removed nothing from the totals");
    }
    store_failures(tx, project_id, failures)?;
    tx.prepare_cached("DELETE FROM rollup_digests WHERE project_id = ?1 AND id <= ?2")?
        .execute(params![project_id, last_id])?;
    Ok(folded)
}

/// Failed and errored results a fold adds to (or takes from) one day,
/// group and test.
#[derive(Debug, Clone, Copy)]
struct FailureDelta {
    failures: i64,
    first_at: i64,
    last_at: i64,
}

impl Default for FailureDelta {
    fn default() -> FailureDelta {
        FailureDelta { failures: 0, first_at: i64::MAX, last_at: i64::MIN }
    }
}

impl FailureDelta {
    fn add(&mut self, removed: bool, run_at: i64) {
        if removed {
            self.failures -= 1;
        } else {
            self.failures += 1;
            (self.first_at, self.last_at) = (self.first_at.min(run_at), self.last_at.max(run_at));
        }
    }
}

/// Applies `entries` to the test's totals through `day` and every later
/// day's, and keeps its `test_totals` on the newest; returns how many
/// removals found nothing to remove. The common case, a day no earlier
/// than the test's newest, reads one row and writes two.
fn fold_test_day(tx: &Tx, project_id: i64, test: i64, day: i64, entries: &[Entry]) -> Result<u32, DbError> {
    let newest: Option<(i64, Tally)> = tx
        .prepare_cached(
            "SELECT last_day, passed, failed, errors, skipped, flaky, durations FROM test_totals
             WHERE project_id = ?1 AND test = ?2",
        )?
        .query_row(params![project_id, test], |r| Ok((r.get(0)?, tally(r, 1)?)))
        .optional()?;
    let (base, later) = match newest {
        Some((last_day, totals)) if last_day <= day => (totals, false),
        None => (Tally::default(), false),
        // Rare: a report to a run created on an earlier day than the
        // test's newest folded one.
        Some(_) => (totals_through(tx, project_id, test, day)?, true),
    };
    let mut totals = base.clone();
    let lost = entries.iter().filter(|e| !totals.apply(e)).count() as u32;
    put_day(tx, project_id, test, day, &totals)?;
    let mut newest = (day, totals.clone());
    if later {
        // Every later day's totals change by as much as this day's did:
        // later + (totals - base), added before it is taken away so that
        // nothing goes below zero.
        let rows: Vec<(i64, Tally)> = tx
            .prepare_cached(
                "SELECT day, passed, failed, errors, skipped, flaky, durations FROM test_days
                 WHERE project_id = ?1 AND test = ?2 AND day > ?3 ORDER BY day",
            )?
            .query_map(params![project_id, test, day], |r| Ok((r.get(0)?, tally(r, 1)?)))?
            .collect::<Result<_, _>>()?;
        for (later_day, mut t) in rows {
            t.merge(&totals);
            t.subtract(&base).map_err(|_| {
                DbError::Internal(format!("the totals of test {test} on day {later_day} do not hold day {day}'s"))
            })?;
            put_day(tx, project_id, test, later_day, &t)?;
            newest = (later_day, t);
        }
    }
    let [passed, failed, errors, skipped, flaky] = newest.1.counts();
    tx.prepare_cached(
        "INSERT INTO test_totals (project_id, test, first_day, last_day, passed, failed, errors, skipped, flaky,
                                  durations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (project_id, test) DO UPDATE SET first_day = min(first_day, excluded.first_day),
             last_day = excluded.last_day, passed = excluded.passed, failed = excluded.failed,
             errors = excluded.errors, skipped = excluded.skipped, flaky = excluded.flaky,
             durations = excluded.durations",
    )?
    .execute(params![
        project_id,
        test,
        day,
        newest.0,
        passed,
        failed,
        errors,
        skipped,
        flaky,
        newest.1.durations.encode()
    ])?;
    Ok(lost)
}

/// The test's running totals through the end of `day`.
fn totals_through(tx: &Tx, project_id: i64, test: i64, day: i64) -> Result<Tally, DbError> {
    Ok(tx
        .prepare_cached(
            "SELECT passed, failed, errors, skipped, flaky, durations FROM test_days
             WHERE project_id = ?1 AND test = ?2 AND day <= ?3 ORDER BY day DESC LIMIT 1",
        )?
        .query_row(params![project_id, test, day], |r| tally(r, 0))
        .optional()?
        .unwrap_or_default())
}

fn put_day(tx: &Tx, project_id: i64, test: i64, day: i64, t: &Tally) -> Result<(), DbError> {
    let [passed, failed, errors, skipped, flaky] = t.counts();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO test_days (project_id, test, day, passed, failed, errors, skipped, flaky, durations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![project_id, test, day, passed, failed, errors, skipped, flaky, t.durations.encode()])?;
    Ok(())
}

fn store_failures(tx: &Tx, project_id: i64, failures: HashMap<(i64, i64, i64), FailureDelta>) -> Result<(), DbError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO failure_days (project_id, day, fingerprint, test, failures, first_at, last_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT DO UPDATE SET failures = failures + excluded.failures,
             first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)",
    )?;
    // Merges took back more than this fold adds: the row stored holds them.
    let mut take_back = tx.prepare_cached(
        "UPDATE failure_days SET failures = failures + ?5
         WHERE project_id = ?1 AND day = ?2 AND fingerprint = ?3 AND test = ?4",
    )?;
    let mut emptied = tx.prepare_cached(
        "DELETE FROM failure_days
         WHERE project_id = ?1 AND day = ?2 AND fingerprint = ?3 AND test = ?4 AND failures <= 0",
    )?;
    for ((day, print, test), d) in failures {
        if d.failures > 0 || d.first_at <= d.last_at {
            upsert.execute(params![project_id, day, print, test, d.failures, d.first_at, d.last_at])?;
        } else {
            take_back.execute(params![project_id, day, print, test, d.failures])?;
        }
        if d.failures < 0 {
            emptied.execute(params![project_id, day, print, test])?;
        }
    }
    Ok(())
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

/// Where the `settings` table keeps the first day rollups cover.
const HORIZON: &str = "rollup_horizon_day";

/// The first day the rollups cover in full: retention deleted what came
/// before (`i64::MIN` until it has). Windows start there at the earliest.
pub fn horizon(conn: &Conn) -> Result<i64, DbError> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([HORIZON], |r| r.get(0))
        .optional()?;
    Ok(stored.and_then(|v| v.parse().ok()).unwrap_or(i64::MIN))
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

/// Per test, its results in runs created from the start of `first_day` to
/// now (tests without any are absent).
pub fn window(conn: &Conn, project_id: i64, first_day: i64, tests: Tests) -> Result<HashMap<i64, Tally>, DbError> {
    let first_day = first_day.max(horizon(conn)?);
    let mut out: HashMap<i64, Tally> = HashMap::new();
    let mut before = conn.prepare_cached(
        "SELECT passed, failed, errors, skipped, flaky, durations FROM test_days
         WHERE project_id = ?1 AND test = ?2 AND day < ?3 ORDER BY day DESC LIMIT 1",
    )?;
    let add = |r: &Row| -> Result<(), DbError> {
        let (test, first, mut t): (i64, i64, Tally) = (r.get(0)?, r.get(1)?, tally(r, 2)?);
        if first < first_day {
            let earlier = before.query_row(params![project_id, test, first_day], |r| tally(r, 0)).optional()?;
            if let Some(earlier) = earlier {
                t.subtract(&earlier).map_err(|_| DbError::Internal(format!("test {test}'s totals shrank")))?;
            }
        }
        if !t.is_empty() {
            out.insert(test, t);
        }
        Ok(())
    };
    let totals = "SELECT test, first_day, passed, failed, errors, skipped, flaky, durations FROM test_totals";
    each_total(conn, totals, project_id, first_day, tests, add)?;
    let only: Option<HashSet<i64>> = match tests {
        Tests::All => None,
        Tests::Only(keys) => Some(keys.iter().copied().collect()),
    };
    queued(conn, project_id, first_day, |e, _| {
        if only.as_ref().is_none_or(|keys| keys.contains(&e.test)) {
            out.entry(e.test).or_default().apply(&e);
        }
    })?;
    out.retain(|_, t| !t.is_empty());
    Ok(out)
}

/// Calls `each` with the rows of `select` (a `SELECT … FROM` a table of
/// per-test totals keyed by project and test, with a `last_day`) that have
/// results on `first_day` or later: of every test of the project in one
/// pass, or of `tests` one seek each.
fn each_total(
    conn: &Conn,
    select: &str,
    project_id: i64,
    first_day: i64,
    tests: Tests,
    mut each: impl FnMut(&Row) -> Result<(), DbError>,
) -> Result<(), DbError> {
    match tests {
        Tests::All => {
            let mut stmt = conn.prepare_cached(&format!("{select} WHERE project_id = ?1 AND last_day >= ?2"))?;
            let mut rows = stmt.query(params![project_id, first_day])?;
            while let Some(r) = rows.next()? {
                each(r)?;
            }
        }
        Tests::Only(keys) => {
            let mut stmt =
                conn.prepare_cached(&format!("{select} WHERE project_id = ?1 AND test = ?2 AND last_day >= ?3"))?;
            for key in keys {
                let mut rows = stmt.query(params![project_id, key, first_day])?;
                while let Some(r) = rows.next()? {
                    each(r)?;
                }
            }
        }
    }
    Ok(())
}

/// Calls `each` with every entry of the project's digests not yet folded
/// of runs created on `first_day` or later, oldest first, with its run's
/// creation.
fn queued(conn: &Conn, project_id: i64, first_day: i64, mut each: impl FnMut(Entry, i64)) -> Result<(), DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, run_at, digest FROM rollup_digests INDEXED BY rollup_digests_by_project
         WHERE project_id = ?1 AND day >= ?2 ORDER BY id",
    )?;
    let mut rows = stmt.query(params![project_id, first_day])?;
    while let Some(r) = rows.next()? {
        let (id, run_at): (i64, i64) = (r.get(0)?, r.get(1)?);
        for e in entries(id, r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?) {
            each(e, run_at);
        }
    }
    Ok(())
}

/// A failure group's failed and errored results of one test in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub failures: i64,
    pub first_at: i64,
    pub last_at: i64,
}

/// By (fingerprint, test), the failed and errored results with a failure
/// group in runs created from the start of `first_day` to now.
pub fn failures(conn: &Conn, project_id: i64, first_day: i64) -> Result<HashMap<(i64, i64), Failures>, DbError> {
    let first_day = first_day.max(horizon(conn)?);
    let mut out: HashMap<(i64, i64), Failures> = HashMap::new();
    let mut merge = |key: (i64, i64), n: i64, first: i64, last: i64| {
        let f = out.entry(key).or_insert(Failures { failures: 0, first_at: first, last_at: last });
        f.failures += n;
        if n > 0 {
            (f.first_at, f.last_at) = (f.first_at.min(first), f.last_at.max(last));
        }
    };
    let mut stmt = conn.prepare_cached(
        "SELECT fingerprint, test, failures, first_at, last_at FROM failure_days
         WHERE project_id = ?1 AND day >= ?2 AND failures > 0",
    )?;
    let mut rows = stmt.query(params![project_id, first_day])?;
    while let Some(r) = rows.next()? {
        merge((r.get(0)?, r.get(1)?), r.get(2)?, r.get(3)?, r.get(4)?);
    }
    queued(conn, project_id, first_day, |e, run_at| {
        if let Some(print) = e.fingerprint {
            merge((print, e.test), if e.removed { -1 } else { 1 }, run_at, run_at);
        }
    })?;
    out.retain(|_, f| f.failures > 0);
    Ok(out)
}

/// The days, newest first, on which the test may have results, up to
/// `last_day`: those its totals have and those of digests not yet folded.
pub fn days_of(conn: &Conn, project_id: i64, test: i64, last_day: i64) -> Result<Vec<i64>, DbError> {
    let mut days: Vec<i64> = conn
        .prepare_cached(
            "SELECT day FROM test_days WHERE project_id = ?1 AND test = ?2 AND day <= ?3
             UNION SELECT day FROM rollup_digests INDEXED BY rollup_digests_by_project
             WHERE project_id = ?1 AND day <= ?3",
        )?
        .query_map(params![project_id, test, last_day], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    days.sort_unstable_by(|a, b| b.cmp(a));
    Ok(days)
}

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

/// Backfill progress: runs up to `done_seq` of `last_seq` are digested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backfill {
    pub done_seq: i64,
    pub last_seq: i64,
    pub results: u64,
}

/// Digests the next runs stored before rollups existed, about `batch`
/// results' worth (whole runs); `None` once none are left.
pub fn backfill(tx: &Tx, batch: u64) -> Result<Option<Backfill>, DbError> {
    let marker: Option<(i64, i64)> = tx
        .query_row("SELECT next_seq, last_seq FROM rollup_backfill WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((next_seq, last_seq)) = marker else { return Ok(None) };
    let runs: Vec<(i64, i64, i64)> = tx
        .prepare_cached(
            "SELECT seq, project_id, created_at FROM runs WHERE seq >= ?1 AND seq <= ?2
             ORDER BY seq LIMIT CAST(?3 AS INTEGER)",
        )?
        .query_map(params![next_seq, last_seq, BACKFILL_RUNS], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    // With no run left in the range, every one is done.
    let mut done_seq = if runs.is_empty() { last_seq } else { next_seq - 1 };
    let mut results = 0u64;
    let mut stmt = tx.prepare_cached("SELECT test, status, duration_ms, fingerprint FROM results WHERE run = ?1")?;
    for (seq, project_id, created_at) in runs {
        let mut digest = DigestWriter::default();
        let mut rows = stmt.query([seq])?;
        while let Some(r) = rows.next()? {
            if digest.len() >= DIGEST_ENTRIES {
                queue(tx, project_id, created_at, std::mem::take(&mut digest))?;
            }
            let status = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            let outcome = Outcome::parse(status).unwrap_or(Outcome::Skipped);
            let failing = matches!(outcome, Outcome::Failed | Outcome::Error);
            digest.push(&Entry {
                test: r.get(0)?,
                outcome,
                removed: false,
                duration_ms: r.get::<_, Option<i64>>(2)?.map(|d| d.max(0) as u64),
                fingerprint: r.get::<_, Option<i64>>(3)?.filter(|_| failing),
            });
            results += 1;
        }
        queue(tx, project_id, created_at, digest)?;
        done_seq = seq;
        if results >= batch {
            break;
        }
    }
    if done_seq >= last_seq {
        tx.execute("DELETE FROM rollup_backfill WHERE id = 1", [])?;
    } else {
        tx.execute("UPDATE rollup_backfill SET next_seq = ?1 WHERE id = 1", [done_seq + 1])?;
    }
    Ok(Some(Backfill { done_seq, last_seq, results }))
}

/// Deletes rollups of days before `first_kept_day`, keeping per test (and
/// signal) the newest totals before it, which windows starting there
/// subtract, and makes it the [`horizon`]; returns the rows gone.
pub fn prune(tx: &Tx, first_kept_day: i64) -> Result<usize, DbError> {
    let first_kept_day = first_kept_day.max(horizon(tx)?);
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![HORIZON, first_kept_day.to_string()],
    )?;
    // Tests whose oldest row is before the cut-off, and not already the
    // base kept by an earlier pass (its day is then the test's first).
    let old: Vec<(i64, i64)> = tx
        .prepare_cached(
            "SELECT t.project_id, t.test FROM test_totals t WHERE t.first_day < ?1
               AND EXISTS (SELECT 1 FROM test_days d WHERE d.project_id = t.project_id AND d.test = t.test
                             AND d.day > t.first_day AND d.day < ?1)",
        )?
        .query_map([first_kept_day], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut gone = 0;
    let mut base =
        tx.prepare_cached("SELECT max(day) FROM test_days WHERE project_id = ?1 AND test = ?2 AND day < ?3")?;
    let mut delete = tx.prepare_cached("DELETE FROM test_days WHERE project_id = ?1 AND test = ?2 AND day < ?3")?;
    let mut first = tx.prepare_cached("UPDATE test_totals SET first_day = ?3 WHERE project_id = ?1 AND test = ?2")?;
    for (project_id, test) in old {
        let Some(kept): Option<i64> = base.query_row(params![project_id, test, first_kept_day], |r| r.get(0))? else {
            continue;
        };
        gone += delete.execute(params![project_id, test, kept])?;
        first.execute(params![project_id, test, kept])?;
    }
    let projects: Vec<i64> =
        tx.prepare_cached("SELECT id FROM projects")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut failures = tx.prepare_cached("DELETE FROM failure_days WHERE project_id = ?1 AND day < ?2")?;
    for project_id in projects {
        gone += failures.execute(params![project_id, first_kept_day])?;
    }
    let old: Vec<(i64, i64, String)> = tx
        .prepare_cached(
            "SELECT t.project_id, t.test, t.kind FROM signal_totals t WHERE t.first_day < ?1
               AND EXISTS (SELECT 1 FROM signal_days d WHERE d.project_id = t.project_id AND d.test = t.test
                             AND d.kind = t.kind AND d.day > t.first_day AND d.day < ?1)",
        )?
        .query_map([first_kept_day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut base = tx.prepare_cached(
        "SELECT max(day) FROM signal_days WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day < ?4",
    )?;
    let mut delete =
        tx.prepare_cached("DELETE FROM signal_days WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day < ?4")?;
    let mut first =
        tx.prepare_cached("UPDATE signal_totals SET first_day = ?4 WHERE project_id = ?1 AND test = ?2 AND kind = ?3")?;
    for (project_id, test, kind) in old {
        let kept: Option<i64> = base.query_row(params![project_id, test, kind, first_kept_day], |r| r.get(0))?;
        let Some(kept) = kept else { continue };
        gone += delete.execute(params![project_id, test, kind, kept])?;
        first.execute(params![project_id, test, kind, kept])?;
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::db::Db;

    fn open(path: &std::path::Path) -> Db {
        Db::open(path, Synchronous::Normal).unwrap()
    }

    #[test]
    fn an_interrupted_backfill_resumes_and_digests_every_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = open(&path);
        db.write_blocking(|tx| {
            tx.execute_batch(
                "INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1);
                 INSERT INTO runs (seq, id, project_id, created_at)
                     VALUES (1, 'a', 1, 86400), (2, 'b', 1, 86401), (3, 'c', 1, 172800);
                 INSERT INTO results (run, test, status, duration_ms, fingerprint)
                     VALUES (1, 1, 'passed', 10, NULL), (1, 2, 'failed', 20, 7), (2, 1, 'passed', 30, NULL),
                            (3, 1, 'skipped', NULL, NULL), (3, 2, 'failed', 40, 7);
                 INSERT INTO rollup_backfill (id, next_seq, last_seq) VALUES (1, 0, 3);",
            )
            .map_err(DbError::from)
        })
        .unwrap();
        let step = |db: &Db| db.write_blocking(|tx| backfill(tx, 1)).unwrap();
        assert_eq!(step(&db), Some(Backfill { done_seq: 1, last_seq: 3, results: 2 }));
        // Stopped here, as by a crash; the next start goes on from run 2.
        drop(db);
        let db = open(&path);
        assert_eq!(step(&db), Some(Backfill { done_seq: 2, last_seq: 3, results: 1 }));
        assert_eq!(step(&db), Some(Backfill { done_seq: 3, last_seq: 3, results: 2 }));
        assert_eq!(step(&db), None);
        let digests: (i64, i64) = db
            .read_blocking(|c| {
                c.query_row("SELECT count(*), sum(entries) FROM rollup_digests", [], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(DbError::from)
            })
            .unwrap();
        assert_eq!(digests, (3, 5), "one digest per run, one entry per result");
        while db.write_blocking(|tx| fold(tx, 1)).unwrap().more {}
        let (all, failed) =
            db.read_blocking(|c| Ok::<_, DbError>((window(c, 1, 1, Tests::All)?, failures(c, 1, 1)?))).unwrap();
        let t1 = &all[&1];
        assert_eq!((t1.results(), t1.count(Outcome::Skipped), t1.durations.count()), (3, 1, 2));
        assert_eq!((all[&2].failing(), all[&2].durations.percentile(100.0)), (2, Some(40)));
        assert_eq!(failed[&(7, 2)], Failures { failures: 2, first_at: 86400, last_at: 172800 });
        // A window from day 2 holds run 3 only.
        let day2 = db.read_blocking(|c| window(c, 1, 2, Tests::Only(&[1, 2]))).unwrap();
        assert_eq!((day2[&1].results(), day2[&2].results()), (1, 1));
    }

    fn passed(test: i64, ms: u64) -> DigestWriter {
        let mut digest = DigestWriter::default();
        digest.push(&Entry {
            test,
            outcome: Outcome::Passed,
            removed: false,
            duration_ms: Some(ms),
            fingerprint: None,
        });
        digest
    }

    #[test]
    fn a_late_report_moves_every_later_days_totals_by_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir.path().join("t.db"));
        let results =
            |db: &Db, first_day: i64| db.read_blocking(|c| window(c, 1, first_day, Tests::All)).unwrap()[&1].results();
        db.write_blocking(|tx| {
            tx.execute("INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1)", [])?;
            for day in 1..=4 {
                queue(tx, 1, day * 86_400, passed(1, day as u64))?;
                while fold(tx, 1)?.more {}
            }
            // A run of day 1 gets a report after days 2 to 4 were folded.
            queue(tx, 1, 86_400 + 5, passed(1, 500))?;
            while fold(tx, 1)?.more {}
            Ok::<_, DbError>(())
        })
        .unwrap();
        assert_eq!((results(&db, 1), results(&db, 2), results(&db, 3), results(&db, 4)), (5, 3, 2, 1));
        let totals: Vec<i64> = db
            .read_blocking(|c| {
                let mut stmt = c.prepare_cached("SELECT passed FROM test_days WHERE test = 1 ORDER BY day")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok::<_, DbError>(rows)
            })
            .unwrap();
        assert_eq!(totals, [2, 3, 4, 5], "running totals through each day");
    }

    #[test]
    fn a_backfill_goes_on_past_a_step_of_runs_with_few_results() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir.path().join("t.db"));
        let runs = i64::from(BACKFILL_RUNS) + 5;
        db.write_blocking(|tx| {
            tx.execute("INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1)", [])?;
            tx.execute(
                "WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < ?1)
                 INSERT INTO runs (seq, id, project_id, created_at) SELECT seq, 'r' || seq, 1, 86400 + seq FROM n",
                [runs],
            )?;
            tx.execute(
                "INSERT INTO results (run, test, status, duration_ms) SELECT seq, 1, 'passed', 3 FROM runs",
                [],
            )?;
            tx.execute("INSERT INTO rollup_backfill (id, next_seq, last_seq) VALUES (1, 0, ?1)", [runs])?;
            Ok::<_, DbError>(())
        })
        .unwrap();
        let step = || db.write_blocking(|tx| backfill(tx, 1_000_000)).unwrap();
        assert_eq!(step(), Some(Backfill { done_seq: i64::from(BACKFILL_RUNS), last_seq: runs, results: 10_000 }));
        assert_eq!(step(), Some(Backfill { done_seq: runs, last_seq: runs, results: 5 }));
        assert_eq!(step(), None);
        while db.write_blocking(|tx| fold(tx, 1)).unwrap().more {}
        let all = db.read_blocking(|c| window(c, 1, 0, Tests::All)).unwrap();
        assert_eq!(all[&1].results(), runs);
    }

    #[test]
    fn pruning_keeps_the_totals_windows_subtract() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir.path().join("t.db"));
        db.write_blocking(|tx| {
            tx.execute("INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1)", [])?;
            for day in 1..=5 {
                let mut digest = DigestWriter::default();
                digest.push(&Entry {
                    test: 1,
                    outcome: Outcome::Failed,
                    removed: false,
                    duration_ms: Some(day as u64 * 100),
                    fingerprint: Some(9),
                });
                queue(tx, 1, day * 86_400, digest)?;
            }
            while fold(tx, 1)?.more {}
            Ok::<_, DbError>(())
        })
        .unwrap();
        let before = db.read_blocking(|c| window(c, 1, 4, Tests::All)).unwrap();
        let gone = db.write_blocking(|tx| prune(tx, 4)).unwrap();
        // Days 1 and 2 of test_days and days 1–3 of failure_days.
        assert_eq!(gone, 2 + 3);
        let after = db.read_blocking(|c| window(c, 1, 4, Tests::All)).unwrap();
        assert_eq!(after, before);
        assert_eq!(after[&1].results(), 2);
        assert_eq!(db.read_blocking(|c| failures(c, 1, 1)).unwrap()[&(9, 1)].failures, 2);
    }
}
