//! The SQL behind test analytics: slowest tests in a window of days, one
//! test's history and the run trend for charts (flaky tests are
//! `db::flaky`'s, a run compared with its base `db::compare`'s). The rules
//! themselves live in `domain::analysis`.
//!
//! Windows are whole UTC days (`domain::time::window_start`) and read from
//! the rollups (`db::rollups`), so their cost does not grow with the
//! results a project keeps; a test's history walks only the days its
//! rollups say it ran on.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::rollups::{self, Tests};
use crate::db::runs::RunStatus;
use crate::db::{Conn, DbError};
use crate::domain::analysis::{self as rules, Trend};
use crate::domain::rollup::{day_of, day_start};

/// A slow test's trend compares the older and newer halves of at most
/// this many of its newest timed results in the window…
pub const TREND_RESULTS: usize = 40;
/// …found among at most this many of its newest results (a test mostly
/// skipped or untimed does not make the walk long).
pub const TREND_READ: usize = 400;

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

/// Tests by p95 duration among runs created since `since` (the start of a
/// day), slowest first, at most `limit`.
pub fn slowest_tests(conn: &Conn, project_id: i64, since: i64, limit: u32) -> Result<Vec<SlowTest>, DbError> {
    let window = rollups::window(conn, project_id, day_of(since), Tests::All)?;
    let mut found: Vec<(i64, u64, u64, u64)> = window
        .iter()
        .filter_map(|(test, t)| {
            let d = &t.durations;
            Some((*test, d.count(), d.percentile(50.0)?, d.percentile(95.0)?))
        })
        .collect();
    found.sort_by(|a, b| b.3.cmp(&a.3).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    found.truncate(limit as usize);
    let mut out = Vec::with_capacity(found.len());
    for (test, runs, p50, p95) in found {
        let Some(t) = test_by_key(conn, project_id, test)? else { continue };
        let (trend, trend_ratio) = rules::trend(&recent_durations(conn, project_id, test, since)?);
        out.push(SlowTest {
            test_id: t.test_id,
            suite: t.suite,
            classname: t.classname,
            name: t.name,
            file: t.file,
            runs: runs.min(u64::from(u32::MAX)) as u32,
            p50_ms: p50.min(i64::MAX as u64) as i64,
            p95_ms: p95.min(i64::MAX as u64) as i64,
            trend,
            trend_ratio,
        });
    }
    Ok(out)
}

/// The test's newest [`TREND_RESULTS`] timed, not skipped, durations in
/// runs created since `since` (among its newest [`TREND_READ`] results),
/// oldest first.
fn recent_durations(conn: &Conn, project_id: i64, test: i64, since: i64) -> Result<Vec<i64>, DbError> {
    let mut durations = Vec::with_capacity(TREND_RESULTS);
    let mut read = 0;
    walk(conn, project_id, test, None, since, |e| {
        if let (Some(ms), false) = (e.duration_ms, e.status == "skipped") {
            durations.push(ms);
        }
        read += 1;
        durations.len() < TREND_RESULTS && read < TREND_READ
    })?;
    durations.reverse();
    Ok(durations)
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

fn history_entry(r: &Row) -> rusqlite::Result<HistoryEntry> {
    Ok(HistoryEntry {
        run_id: r.get(0)?,
        status: r.get(1)?,
        duration_ms: r.get(2)?,
        commit: r.get(3)?,
        branch: r.get(4)?,
        created_at: r.get(5)?,
    })
}

impl HistoryEntry {
    /// Where the page after this entry starts (`before` of [`history`]):
    /// its run's creation and id, so a page goes on even when retention
    /// deleted the run in between.
    pub fn page_key(&self) -> String {
        format!("{}.{}", self.created_at, self.run_id)
    }
}

/// A test and its results, newest run first; `before` continues below an
/// entry's [`HistoryEntry::page_key`] (or a run id). `None` when the
/// project has no such test.
pub fn history(
    conn: &Conn,
    project_id: i64,
    test_id: &str,
    limit: u32,
    before: Option<&str>,
) -> Result<Option<(TestInfo, Vec<HistoryEntry>)>, DbError> {
    let Some((key, info)) = test_info(conn, project_id, test_id)? else { return Ok(None) };
    let page_key = before.and_then(|b| b.split_once('.')).and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)));
    let below = match (page_key, before) {
        (Some((at, id)), _) => Some((at, id.to_string())),
        (None, Some(id)) => conn
            .prepare_cached("SELECT created_at FROM runs WHERE id = ?1 AND project_id = ?2")?
            .query_row(params![id, project_id], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|at| (at, id.to_string())),
        (None, None) => None,
    };
    if before.is_some() && below.is_none() {
        return Ok(Some((info, Vec::new())));
    }
    let mut entries = Vec::new();
    walk(conn, project_id, key, below, i64::MIN, |e| {
        entries.push(e);
        entries.len() < limit as usize
    })?;
    Ok(Some((info, entries)))
}

/// Calls `each` with the test's results newest first (by run creation,
/// then run id), below the run `below` if given and in runs created since
/// `since`, until it answers false. Only the days the rollups say the test
/// ran on are read, each through the runs' (project, created) index.
fn walk(
    conn: &Conn,
    project_id: i64,
    test: i64,
    below: Option<(i64, String)>,
    since: i64,
    mut each: impl FnMut(HistoryEntry) -> bool,
) -> Result<(), DbError> {
    let oldest: Option<i64> = conn
        .prepare_cached("SELECT min(created_at) FROM runs WHERE project_id = ?1")?
        .query_row([project_id], |r| r.get(0))?;
    let Some(oldest) = oldest else { return Ok(()) };
    let last_day = below.as_ref().map_or(i64::MAX, |(at, _)| day_of(*at));
    let (below_at, below_id) = below.map_or((i64::MAX, None), |(at, id)| (at, Some(id)));
    let mut stmt = conn.prepare_cached(
        "SELECT ru.id, r.status, r.duration_ms, ru.commit_sha, ru.branch, ru.created_at
         FROM runs ru INDEXED BY runs_by_project_created JOIN results r ON r.run = ru.seq AND r.test = ?1
         WHERE ru.project_id = ?2 AND ru.created_at >= ?3 AND ru.created_at < ?4
           AND (ru.created_at < ?5 OR (ru.created_at = ?5 AND (?6 IS NULL OR ru.id < ?6)))
         ORDER BY ru.created_at DESC, ru.id DESC",
    )?;
    let horizon = day_start(rollups::horizon(conn)?.max(day_of(oldest)));
    for day in rollups::days_of(conn, project_id, test, last_day)? {
        if day_start(day + 1) <= horizon.max(since) {
            break;
        }
        let from = day_start(day).max(since);
        let mut rows = stmt.query(params![test, project_id, from, day_start(day + 1), below_at, below_id])?;
        while let Some(r) = rows.next()? {
            if !each(history_entry(r)?) {
                return Ok(());
            }
        }
    }
    // Runs older than the rollups' horizon (kept longer than rollups are):
    // no days to go by, so one walk over them.
    if oldest < horizon && since < horizon {
        let mut rows = stmt.query(params![test, project_id, oldest.max(since), horizon, below_at, below_id])?;
        while let Some(r) = rows.next()? {
            if !each(history_entry(r)?) {
                return Ok(());
            }
        }
    }
    Ok(())
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
