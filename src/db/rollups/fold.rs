//! Folding digests into the running totals by test and day, and failures
//! by day, group and test.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, OptionalExtension};

use super::{entries, tally, FOLD_KEYS, FOLD_RESULTS};
use crate::db::{DbError, Tx};
use crate::domain::rollup::{Entry, Tally};

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
