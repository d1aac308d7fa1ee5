//! Test identities and per-run results: the ingestion sink and the reads of
//! one run's results.

use rusqlite::{params, CachedStatement, Connection, Transaction};
use serde::Serialize;

use crate::domain::report::TestCase;
use crate::domain::test_identity::test_id;
use crate::error::AppError;

/// Writes parsed test cases of one report into a run, merging repeats of a
/// test the way `domain::report::Merged` does (some attempt failed and some
/// passed: flaky; else the last result), across reports and shards too.
///
/// Cases are buffered in batches and written in `test_id` order: ids are
/// hashes, so writing in arrival order would land every insert on a random
/// page of three B-trees (tests, results and their by-test index) and, past
/// the page cache, spill and re-read pages for each one. Sorted, a batch
/// sweeps each tree once. The sort is stable, so repeats of one test keep
/// their order and merge as reported.
pub struct ResultWriter<'t> {
    upsert_test: CachedStatement<'t>,
    upsert_result: CachedStatement<'t>,
    project_id: i64,
    run_id: String,
    pending: Vec<(String, TestCase)>,
}

/// Cases per sorted batch: large enough to order the writes, small enough
/// that the buffer stays a few MB whatever the report's size.
const BATCH: usize = 16_384;

impl<'t> ResultWriter<'t> {
    pub fn new(tx: &'t Transaction, project_id: i64, run_id: &str) -> Result<ResultWriter<'t>, AppError> {
        let upsert_test = tx.prepare_cached(
            "INSERT INTO tests (project_id, test_id, suite, classname, name, file) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (project_id, test_id) DO NOTHING",
        )?;
        let upsert_result = tx.prepare_cached(
            "INSERT INTO results (run_id, test_id, status, duration_ms, retries, message, details, attempt_bits)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (run_id, test_id) DO UPDATE SET
               attempt_bits = results.attempt_bits | excluded.attempt_bits | (CASE results.status
                 WHEN 'passed' THEN 1 WHEN 'failed' THEN 2 WHEN 'error' THEN 2 WHEN 'flaky' THEN 3 ELSE 0 END),
               status = CASE
                 WHEN (results.attempt_bits | excluded.attempt_bits | (CASE results.status
                   WHEN 'passed' THEN 1 WHEN 'failed' THEN 2 WHEN 'error' THEN 2 WHEN 'flaky' THEN 3 ELSE 0 END)) = 3
                 THEN 'flaky'
                 ELSE excluded.status END,
               duration_ms = coalesce(excluded.duration_ms, results.duration_ms),
               retries = results.retries + excluded.retries + 1,
               attempts = results.attempts + 1,
               message = coalesce(excluded.message, results.message),
               details = coalesce(excluded.details, results.details)",
        )?;
        Ok(ResultWriter {
            upsert_test,
            upsert_result,
            project_id,
            run_id: run_id.to_string(),
            pending: Vec::with_capacity(BATCH),
        })
    }

    /// Queues one case; returns its test id.
    pub fn write(&mut self, case: TestCase) -> Result<String, AppError> {
        let id = test_id(self.project_id, &case.suite, &case.classname, &case.name, case.file.as_deref());
        self.pending.push((id.clone(), case));
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(id)
    }

    /// Writes what is queued; call once more after the last case.
    pub fn flush(&mut self) -> Result<(), AppError> {
        self.pending.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, case) in self.pending.drain(..) {
            self.upsert_test.execute(params![self.project_id, id, case.suite, case.classname, case.name, case.file])?;
            self.upsert_result.execute(params![
                self.run_id,
                id,
                case.outcome.as_str(),
                case.duration_ms.map(|d| d.min(i64::MAX as u64) as i64),
                case.retries,
                case.message,
                case.details,
                case.outcome.attempt_bits(),
            ])?;
        }
        Ok(())
    }
}

/// A test result as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub test_id: String,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub status: String,
    pub duration_ms: Option<i64>,
    pub retries: i64,
    pub message: Option<String>,
    pub details: Option<String>,
}

/// Results of a run, failures first (error, failed, flaky, then the rest),
/// then by test id; `after` is the (rank, test_id) cursor of the previous page.
pub fn list(
    conn: &Connection,
    project_id: i64,
    run_id: &str,
    status: Option<&str>,
    after: Option<(i64, String)>,
    limit: u32,
) -> Result<Vec<(i64, TestResult)>, AppError> {
    let (after_rank, after_id) = match after {
        Some((rank, id)) => (Some(rank), Some(id)),
        None => (None, None),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT rank, test_id, suite, classname, name, file, status, duration_ms, retries, message, details FROM (
           SELECT CASE r.status WHEN 'error' THEN 0 WHEN 'failed' THEN 1 WHEN 'flaky' THEN 2 WHEN 'passed' THEN 3 ELSE 4 END AS rank,
                  r.test_id, t.suite, t.classname, t.name, t.file, r.status, r.duration_ms, r.retries, r.message, r.details
           FROM results r JOIN tests t ON t.project_id = ?1 AND t.test_id = r.test_id
           WHERE r.run_id = ?2 AND (?3 IS NULL OR r.status = ?3))
         WHERE ?4 IS NULL OR rank > ?4 OR (rank = ?4 AND test_id > ?5)
         ORDER BY rank, test_id LIMIT ?6",
    )?;
    let rows = stmt.query_map(params![project_id, run_id, status, after_rank, after_id, limit], |r| {
        Ok((
            r.get(0)?,
            TestResult {
                test_id: r.get(1)?,
                suite: r.get(2)?,
                classname: r.get(3)?,
                name: r.get(4)?,
                file: r.get(5)?,
                status: r.get(6)?,
                duration_ms: r.get(7)?,
                retries: r.get(8)?,
                message: r.get(9)?,
                details: r.get(10)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
