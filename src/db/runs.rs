//! Runs: one CI build's test results for one project, and their reports.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::{Conn, DbError, Missing, Tx};
use crate::domain::report::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Passed,
    Failed,
    Errored,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Passed => "passed",
            RunStatus::Failed => "failed",
            RunStatus::Errored => "errored",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::Passed, RunStatus::Failed, RunStatus::Errored]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Distinct tests of a run (or one report) by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub tests: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    pub skipped: i64,
    pub flaky: i64,
    /// Failed or errored results an active quarantine rule covered when
    /// they were stored (also counted in `failed` / `errors`).
    pub quarantined: i64,
}

impl Counts {
    /// Adds `n` to the count of `outcome` (not to `tests`).
    pub fn add(&mut self, outcome: Outcome, n: i64) {
        match outcome {
            Outcome::Passed => self.passed += n,
            Outcome::Failed => self.failed += n,
            Outcome::Error => self.errors += n,
            Outcome::Skipped => self.skipped += n,
            Outcome::Flaky => self.flaky += n,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Run {
    pub id: String,
    /// The run's key inside the database (results refer to it).
    #[serde(skip)]
    pub seq: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub project: String,
    pub status: RunStatus,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub build_id: Option<String>,
    pub build_url: Option<String>,
    pub name: String,
    pub tags: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(serialize_with = "crate::db::serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(serialize_with = "crate::db::serialize_unix_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
    #[serde(flatten)]
    pub counts: Counts,
}

const COLUMNS: &str = "r.id, r.project_id, p.slug, r.status, r.commit_sha, r.branch, r.build_id, r.build_url, r.name,
    r.tags, r.reason, r.created_at, r.finished_at, r.duration_ms, r.tests, r.passed, r.failed, r.errors, r.skipped, r.flaky,
    r.seq, r.quarantined";
const FROM: &str = "FROM runs r JOIN projects p ON p.id = r.project_id";

fn from_row(r: &Row) -> rusqlite::Result<Run> {
    let status: String = r.get(3)?;
    let tags: String = r.get(9)?;
    Ok(Run {
        id: r.get(0)?,
        project_id: r.get(1)?,
        project: r.get(2)?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Errored),
        commit: r.get(4)?,
        branch: r.get(5)?,
        build_id: r.get(6)?,
        build_url: r.get(7)?,
        name: r.get(8)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        reason: r.get(10)?,
        created_at: r.get(11)?,
        finished_at: r.get(12)?,
        duration_ms: r.get(13)?,
        counts: Counts {
            tests: r.get(14)?,
            passed: r.get(15)?,
            failed: r.get(16)?,
            errors: r.get(17)?,
            skipped: r.get(18)?,
            flaky: r.get(19)?,
            quarantined: r.get(21)?,
        },
        seq: r.get(20)?,
    })
}

/// What a client says about a new run; every field optional.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub build_id: Option<String>,
    pub build_url: Option<String>,
    pub name: String,
    pub tags: serde_json::Value,
}

pub fn insert(tx: &Tx, project_id: i64, meta: &RunMeta, now: i64) -> Result<String, DbError> {
    let id = uuid::Uuid::now_v7().to_string();
    tx.execute(
        "INSERT INTO runs (id, project_id, commit_sha, branch, build_id, build_url, name, tags, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            project_id,
            meta.commit,
            meta.branch,
            meta.build_id,
            meta.build_url,
            meta.name,
            meta.tags.to_string(),
            now
        ],
    )?;
    Ok(id)
}

/// The running run of this build and name, which every shard joins.
pub fn find_running(conn: &Conn, project_id: i64, build_id: &str, name: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM runs WHERE project_id = ?1 AND build_id = ?2 AND name = ?3 AND status = 'running'",
        )?
        .query_row(params![project_id, build_id, name], |r| r.get(0))
        .optional()?)
}

/// The run `id` of project `project_id`, or 404.
pub fn get(conn: &Conn, project_id: i64, id: &str) -> Result<Run, DbError> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE r.id = ?1 AND r.project_id = ?2");
    conn.prepare_cached(&sql)?
        .query_row(params![id, project_id], from_row)
        .optional()?
        .ok_or(DbError::NotFound(Missing::Run))
}

/// The status of the newest finished run of the same name and branch
/// before `run` (`None`: there is none), for `only_changes`.
pub fn previous_status(conn: &Conn, run: &Run) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT status FROM runs WHERE project_id = ?1 AND name = ?2 AND branch IS ?3 AND seq < ?4
                AND status <> 'running' ORDER BY seq DESC LIMIT 1",
            params![run.project_id, run.name, run.branch, run.seq],
            |r| r.get(0),
        )
        .optional()?)
}

#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub branch: Option<String>,
    pub status: Option<RunStatus>,
    pub commit: Option<String>,
    pub name: Option<String>,
}

/// Newest first; `before` continues below a run id.
pub fn list(
    conn: &Conn,
    project_id: i64,
    f: &RunFilter,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Run>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} {FROM} WHERE r.project_id = ?1 AND (?2 IS NULL OR r.branch = ?2)
           AND (?3 IS NULL OR r.status = ?3) AND (?4 IS NULL OR r.commit_sha = ?4) AND (?5 IS NULL OR r.name = ?5)
           AND (?6 IS NULL OR r.id < ?6)
         ORDER BY r.id DESC LIMIT CAST(?7 AS INTEGER)"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![project_id, f.branch, f.status.map(RunStatus::as_str), f.commit, f.name, before, limit],
        from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The counts of a report already stored in this run with these bytes.
pub fn find_report(conn: &Conn, run_id: &str, sha256: &[u8]) -> Result<Option<(String, Counts)>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, tests, passed, failed, errors, skipped, flaky FROM reports WHERE run_id = ?1 AND sha256 = ?2",
        )?
        .query_row(params![run_id, sha256], |r| {
            Ok((
                r.get(0)?,
                Counts {
                    tests: r.get(1)?,
                    passed: r.get(2)?,
                    failed: r.get(3)?,
                    errors: r.get(4)?,
                    skipped: r.get(5)?,
                    flaky: r.get(6)?,
                    quarantined: 0,
                },
            ))
        })
        .optional()?)
}

pub struct NewReport<'a> {
    pub run_id: &'a str,
    pub sha256: &'a [u8],
    pub format: &'a str,
    pub bytes: u64,
    pub counts: Counts,
    pub now: i64,
}

pub fn insert_report(tx: &Tx, r: &NewReport) -> Result<String, DbError> {
    let id = uuid::Uuid::now_v7().to_string();
    let c = r.counts;
    tx.execute(
        "INSERT INTO reports (id, run_id, sha256, format, bytes, created_at, tests, passed, failed, errors, skipped, flaky)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![id, r.run_id, r.sha256, r.format, r.bytes as i64, r.now, c.tests, c.passed, c.failed, c.errors, c.skipped, c.flaky],
    )?;
    Ok(id)
}

/// Adds `delta` (negative fields subtract) to a run's counts and `duration_ms`
/// to its total duration.
pub fn add_counts(tx: &Tx, run_seq: i64, delta: &Counts, duration_ms: i64) -> Result<(), DbError> {
    tx.prepare_cached(
        "UPDATE runs SET tests = tests + ?2, passed = passed + ?3, failed = failed + ?4, errors = errors + ?5,
           skipped = skipped + ?6, flaky = flaky + ?7, duration_ms = coalesce(duration_ms, 0) + ?8,
           quarantined = quarantined + ?9
         WHERE seq = ?1",
    )?
    .execute(params![
        run_seq,
        delta.tests,
        delta.passed,
        delta.failed,
        delta.errors,
        delta.skipped,
        delta.flaky,
        duration_ms,
        delta.quarantined
    ])?;
    Ok(())
}

/// Closes a run with `status` (and a reason for `errored`).
pub fn close(tx: &Tx, run_id: &str, status: RunStatus, reason: Option<&str>, now: i64) -> Result<(), DbError> {
    tx.execute(
        "UPDATE runs SET status = ?2, reason = ?3, finished_at = ?4, duration_ms = coalesce(duration_ms, 0) WHERE id = ?1",
        params![run_id, status.as_str(), reason, now],
    )?;
    Ok(())
}

/// Runs still running that were created before `cutoff` and got no report
/// since, oldest first, at most `limit`: (project id, run id).
pub fn stale(conn: &Conn, cutoff: i64, limit: u32) -> Result<Vec<(i64, String)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT project_id, id FROM runs INDEXED BY runs_running
         WHERE status = 'running' AND created_at < ?1
           AND NOT EXISTS (SELECT 1 FROM reports WHERE reports.run_id = runs.id AND reports.created_at >= ?1)
         ORDER BY created_at LIMIT CAST(?2 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![cutoff, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Runs created before `cutoff`, oldest first, at most `limit` (retention).
pub fn older_than(conn: &Conn, cutoff: i64, limit: u32) -> Result<Vec<String>, DbError> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM runs WHERE created_at < ?1 ORDER BY id LIMIT CAST(?2 AS INTEGER)")?;
    let rows = stmt.query_map(params![cutoff, limit], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete(tx: &Tx, run_id: &str) -> Result<(), DbError> {
    tx.execute("DELETE FROM runs WHERE id = ?1", [run_id])?;
    Ok(())
}
