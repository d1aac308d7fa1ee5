//! Windows read back: per-test tallies, failures by group and test, and
//! the days a test's history walks.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension, Row};

use super::{entries, horizon, tally, Tests};
use crate::db::{Conn, DbError};
use crate::domain::rollup::{Entry, Tally};

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
pub(super) fn each_total(
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
