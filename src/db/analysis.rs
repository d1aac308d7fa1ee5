//! The SQL behind test analytics: flaky and slowest tests in a window of
//! days, one test's history and the run trend for charts (a run compared
//! with its base is in `db::compare`). The rules themselves live in
//! `domain::analysis`.
//!
//! Window analytics read the newest [`MAX_WINDOW_RUNS`] runs created in the
//! window, stopping once [`MAX_WINDOW_RESULTS`] results were read, so one
//! request's work and memory stay bounded however busy the project is.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::results::stored_outcome;
use crate::db::runs::RunStatus;
use crate::db::{Conn, DbError};
use crate::domain::analysis::{self as rules, Outcome, Trend};
use crate::domain::time::unix_now;

pub const MAX_WINDOW_RUNS: u32 = 2000;
pub const MAX_WINDOW_RESULTS: usize = 2_000_000;

/// A test's identity, as every analytics object shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestInfo {
    pub test_id: String,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlowTest {
    pub test_id: String,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    /// Results with a duration in the window.
    pub runs: u32,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub trend: Trend,
    /// Newer half's median / older half's (null when either is unknown or 0).
    pub trend_ratio: Option<f64>,
}

/// Tests by p95 duration among runs created in the last `days`, slowest
/// first; and whether every run of the window was read (see the module's
/// bounds).
pub fn slowest_tests(conn: &Conn, project_id: i64, days: u32, limit: u32) -> Result<(Vec<SlowTest>, bool), DbError> {
    let window = scan_window(conn, project_id, days)?;
    let complete = window.complete;
    let mut found: Vec<(i64, rules::DurationStats)> = window
        .tests
        .into_iter()
        .filter_map(|(test, results)| {
            let durations: Vec<i64> =
                results.iter().rev().filter(|w| w.outcome != Outcome::Skipped).filter_map(|w| w.duration_ms).collect();
            rules::duration_stats(&durations).map(|s| (test, s))
        })
        .collect();
    found.sort_by(|a, b| b.1.p95_ms.cmp(&a.1.p95_ms).then(b.1.p50_ms.cmp(&a.1.p50_ms)).then(a.0.cmp(&b.0)));
    found.truncate(limit as usize);
    let mut out = Vec::with_capacity(found.len());
    for (test, s) in found {
        let Some(t) = test_by_key(conn, project_id, test)? else { continue };
        out.push(SlowTest {
            test_id: t.test_id,
            suite: t.suite,
            classname: t.classname,
            name: t.name,
            file: t.file,
            runs: s.runs,
            p50_ms: s.p50_ms,
            p95_ms: s.p95_ms,
            trend: s.trend,
            trend_ratio: s.trend_ratio,
        });
    }
    Ok((out, complete))
}

/// One result: its outcome and duration.
struct WindowResult {
    outcome: Outcome,
    duration_ms: Option<i64>,
}

/// Every result read from the window by test (its key in `tests`), each
/// test's results newest first.
struct Window {
    tests: HashMap<i64, Vec<WindowResult>>,
    /// Whether every run created in the window was read.
    complete: bool,
}

fn scan_window(conn: &Conn, project_id: i64, days: u32) -> Result<Window, DbError> {
    let since = crate::domain::time::days_before(unix_now(), days);
    // One more run than is read, to know whether the window holds more.
    let runs: Vec<i64> = conn
        .prepare_cached(
            "SELECT seq FROM runs WHERE project_id = ?1 AND created_at >= ?2
             ORDER BY created_at DESC, id DESC LIMIT CAST(?3 AS INTEGER)",
        )?
        .query_map(params![project_id, since, MAX_WINDOW_RUNS + 1], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut tests: HashMap<i64, Vec<WindowResult>> = HashMap::new();
    let mut read = 0usize;
    let mut stmt = conn.prepare_cached("SELECT test, status, duration_ms FROM results WHERE run = ?1")?;
    let mut kept = 0;
    for (index, seq) in runs.iter().enumerate() {
        if read >= MAX_WINDOW_RESULTS || index == MAX_WINDOW_RUNS as usize {
            break;
        }
        let mut rows = stmt.query([seq])?;
        while let Some(r) = rows.next()? {
            let outcome = Outcome::from_status(stored_outcome(r.get_ref(1)?).as_str());
            tests.entry(r.get(0)?).or_default().push(WindowResult { outcome, duration_ms: r.get(2)? });
            read += 1;
        }
        kept = index + 1;
    }
    Ok(Window { tests, complete: kept == runs.len() })
}

fn info_from_row(r: &Row) -> rusqlite::Result<TestInfo> {
    Ok(TestInfo { test_id: r.get(0)?, suite: r.get(1)?, classname: r.get(2)?, name: r.get(3)?, file: r.get(4)? })
}

/// A test of the project by its public id, with its key in `tests`.
pub fn test_info(conn: &Conn, project_id: i64, test_id: &str) -> Result<Option<(i64, TestInfo)>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT lower(hex(test_id)), suite, classname, name, file, id FROM tests
             WHERE project_id = ?1 AND test_id = unhex(?2)",
        )?
        .query_row(params![project_id, test_id], |r| Ok((r.get(5)?, info_from_row(r)?)))
        .optional()?)
}

/// A test of the project by its key in `tests`.
pub(super) fn test_by_key(conn: &Conn, project_id: i64, key: i64) -> Result<Option<TestInfo>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT lower(hex(test_id)), suite, classname, name, file FROM tests WHERE id = ?1 AND project_id = ?2",
        )?
        .query_row(params![key, project_id], info_from_row)
        .optional()?)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub run_id: String,
    pub status: String,
    pub duration_ms: Option<i64>,
    pub commit: Option<String>,
    pub branch: Option<String>,
    #[serde(serialize_with = "crate::db::serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// A test and its results, newest run first; `before` continues below a run
/// id. `None` when the project has no such test.
pub fn history(
    conn: &Conn,
    project_id: i64,
    test_id: &str,
    limit: u32,
    before: Option<&str>,
) -> Result<Option<(TestInfo, Vec<HistoryEntry>)>, DbError> {
    let Some((key, info)) = test_info(conn, project_id, test_id)? else { return Ok(None) };
    // The project's runs newest first, each probed for the test: results
    // have no by-test index (it would make every upload rewrite pages all
    // over it), and a probe by (run, test) is one B-tree descent.
    let mut stmt = conn.prepare_cached(
        "SELECT ru.id, r.status, r.duration_ms, ru.commit_sha, ru.branch, ru.created_at
         FROM runs ru INDEXED BY runs_by_project JOIN results r ON r.run = ru.seq AND r.test = ?1
         WHERE ru.project_id = ?2 AND (?3 IS NULL OR ru.id < ?3)
         ORDER BY ru.id DESC LIMIT CAST(?4 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![key, project_id, before, limit], |r| {
        Ok(HistoryEntry {
            run_id: r.get(0)?,
            status: r.get(1)?,
            duration_ms: r.get(2)?,
            commit: r.get(3)?,
            branch: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    Ok(Some((info, rows.collect::<Result<_, _>>()?)))
}

/// One finished run, as a chart point.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrendPoint {
    pub run_id: String,
    #[serde(serialize_with = "crate::db::serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    pub status: RunStatus,
    pub tests: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    pub flaky: i64,
    pub skipped: i64,
    pub duration_ms: Option<i64>,
    /// Passed or flaky among the tests that ran (not skipped), 0–1.
    pub pass_rate: f64,
}

/// The newest `limit` finished (passed or failed) runs, on `branch` if
/// given, oldest first.
pub fn run_trend(
    conn: &Conn,
    project_id: i64,
    branch: Option<&str>,
    name: Option<&str>,
    limit: u32,
) -> Result<Vec<TrendPoint>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, created_at, status, tests, passed, failed, errors, flaky, skipped, duration_ms FROM runs
         WHERE project_id = ?1 AND status IN ('passed', 'failed') AND (?2 IS NULL OR branch = ?2)
           AND (?3 IS NULL OR name = ?3)
         ORDER BY id DESC LIMIT CAST(?4 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![project_id, branch, name, limit], |r| {
        let status: String = r.get(2)?;
        let (tests, passed, flaky, skipped) = (r.get(3)?, r.get(4)?, r.get(7)?, r.get(8)?);
        Ok(TrendPoint {
            run_id: r.get(0)?,
            created_at: r.get(1)?,
            status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
            tests,
            passed,
            failed: r.get(5)?,
            errors: r.get(6)?,
            flaky,
            skipped,
            duration_ms: r.get(9)?,
            pass_rate: rules::pass_rate(passed, flaky, tests, skipped),
        })
    })?;
    let mut points: Vec<TrendPoint> = rows.collect::<Result<_, _>>()?;
    points.reverse();
    Ok(points)
}
