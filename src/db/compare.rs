//! A run compared with its base: which tests newly fail, were fixed, still
//! fail or got slower. The rules live in `domain::analysis`.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::db::analysis;
use crate::db::projects::Project;
use crate::db::results::stored_outcome;
use crate::db::runs::{self, Run};
use crate::db::{Conn, DbError, Missing};
use crate::domain::analysis::{self as rules, Change, Outcome};

/// One test in a comparison: its result now and in the base run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestChange {
    pub test_id: String,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub status: String,
    pub base_status: Option<String>,
    pub duration_ms: Option<i64>,
    pub base_duration_ms: Option<i64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    #[serde(rename = "base_run")]
    pub base: Option<Run>,
    pub new_failures: Vec<TestChange>,
    pub fixed: Vec<TestChange>,
    pub still_failing: Vec<TestChange>,
    pub slower: Vec<TestChange>,
}

/// Compares `run` with `base` (a run id of the project), or by default with
/// the newest finished run of the same name on the project's default
/// branch other than `run` itself. Without a base, every failing test is new.
pub fn compare(conn: &Conn, project: &Project, run: &Run, base: Option<&str>) -> Result<Comparison, DbError> {
    let base = match base {
        Some(id) => Some(runs::get(conn, project.id, id).map_err(|e| match e {
            DbError::NotFound(_) => DbError::NotFound(Missing::BaseRun),
            other => other,
        })?),
        None => default_base(conn, project, run)?.map(|id| runs::get(conn, project.id, &id)).transpose()?,
    };
    // The base's results by test, the status kept as its `&'static str`.
    let mut base_results: HashMap<i64, (&'static str, Option<i64>)> = HashMap::new();
    if let Some(b) = &base {
        let mut stmt = conn.prepare_cached("SELECT test, status, duration_ms FROM results WHERE run = ?1")?;
        let mut rows = stmt.query([b.seq])?;
        while let Some(r) = rows.next()? {
            base_results.insert(r.get(0)?, (stored_outcome(r.get_ref(1)?).as_str(), r.get(2)?));
        }
    }
    let mut out = Comparison { base, new_failures: vec![], fixed: vec![], still_failing: vec![], slower: vec![] };
    // Classify from the two runs' results alone; names are read only for the
    // tests that land in a list, so comparing two 200,000-test runs where
    // little changed reads little more than the results themselves.
    let mut stmt = conn.prepare_cached("SELECT test, status, duration_ms, message FROM results WHERE run = ?1")?;
    let mut rows = stmt.query([run.seq])?;
    while let Some(r) = rows.next()? {
        let test: i64 = r.get(0)?;
        let status = stored_outcome(r.get_ref(1)?).as_str();
        let duration_ms: Option<i64> = r.get(2)?;
        let (base_status, base_duration_ms) = match base_results.remove(&test) {
            Some((s, d)) => (Some(s), d),
            None => (None, None),
        };
        let measured = |s: &str| Outcome::from_status(s) != Outcome::Skipped;
        let slower = match (duration_ms, base_duration_ms, base_status) {
            (Some(now), Some(then), Some(bs)) => measured(status) && measured(bs) && rules::is_slower(then, now),
            _ => false,
        };
        let change = rules::classify(status, base_status);
        if change.is_none() && !slower {
            continue;
        }
        let now = (status, duration_ms, r.get(3)?);
        let Some(entry) = change_of(conn, project, test, now, (base_status, base_duration_ms))? else { continue };
        if slower {
            out.slower.push(entry.clone());
        }
        match change {
            Some(Change::NewFailure) => out.new_failures.push(entry),
            Some(Change::Fixed) => out.fixed.push(entry),
            Some(Change::StillFailing) => out.still_failing.push(entry),
            None => {}
        }
    }
    for list in [&mut out.new_failures, &mut out.fixed, &mut out.still_failing, &mut out.slower] {
        list.sort_by(by_name);
    }
    // The biggest slowdowns first (stable: equal ones stay by name).
    out.slower.sort_by_key(|c| std::cmp::Reverse(c.duration_ms.unwrap_or(0) - c.base_duration_ms.unwrap_or(0)));
    Ok(out)
}

/// How a comparison's lists are ordered.
fn by_name(a: &TestChange, b: &TestChange) -> std::cmp::Ordering {
    (&a.classname, &a.suite, &a.name, &a.test_id).cmp(&(&b.classname, &b.suite, &b.name, &b.test_id))
}

/// Test `test`'s entry in a comparison, from its result `now` (status,
/// duration, message) and its base's (status, duration); `None` when the
/// test is gone.
fn change_of(
    conn: &Conn,
    project: &Project,
    test: i64,
    now: (&str, Option<i64>, Option<String>),
    base: (Option<&str>, Option<i64>),
) -> Result<Option<TestChange>, DbError> {
    let Some(t) = analysis::test_by_key(conn, project.id, test)? else { return Ok(None) };
    Ok(Some(TestChange {
        test_id: t.test_id,
        suite: t.suite,
        classname: t.classname,
        name: t.name,
        file: t.file,
        status: now.0.to_string(),
        base_status: base.0.map(str::to_string),
        duration_ms: now.1,
        base_duration_ms: base.1,
        message: now.2,
    }))
}

/// `run`'s new failures against its default base, as [`compare`] lists
/// them, read from the two runs' failing results alone (index
/// `results_failing`), and the base's result of each new failure: what a
/// `run.finished` event costs follows the runs' failures, not their size.
pub fn new_failures(conn: &Conn, project: &Project, run: &Run) -> Result<Vec<TestChange>, DbError> {
    let base = default_base(conn, project, run)?.map(|id| runs::get(conn, project.id, &id)).transpose()?;
    let mut failing = conn.prepare_cached(
        "SELECT test, status, duration_ms, message FROM results INDEXED BY results_failing
         WHERE run = ?1 AND status <> 'passed' AND status <> 'skipped'",
    )?;
    let mut failed_before = std::collections::HashSet::new();
    if let Some(b) = &base {
        let mut rows = failing.query([b.seq])?;
        while let Some(r) = rows.next()? {
            if rules::is_failing(stored_outcome(r.get_ref(1)?).as_str()) {
                failed_before.insert(r.get::<_, i64>(0)?);
            }
        }
    }
    let mut base_result =
        conn.prepare_cached("SELECT status, duration_ms FROM results WHERE run = ?1 AND test = ?2")?;
    let mut out = Vec::new();
    let mut rows = failing.query([run.seq])?;
    while let Some(r) = rows.next()? {
        let test: i64 = r.get(0)?;
        let status = stored_outcome(r.get_ref(1)?).as_str();
        if !rules::is_failing(status) || failed_before.contains(&test) {
            continue;
        }
        let then = match &base {
            Some(b) => base_result
                .query_row(params![b.seq, test], |row| {
                    Ok((Some(stored_outcome(row.get_ref(0)?).as_str()), row.get(1)?))
                })
                .optional()?
                .unwrap_or((None, None)),
            None => (None, None),
        };
        if let Some(entry) = change_of(conn, project, test, (status, r.get(2)?, r.get(3)?), then)? {
            out.push(entry);
        }
    }
    out.sort_by(by_name);
    Ok(out)
}

/// The newest finished run of the same name on the default branch that was
/// created before `run` (run ids are UUID v7, ordered by creation): a run is
/// compared with what its branch diverged from, never with a later run.
fn default_base(conn: &Conn, project: &Project, run: &Run) -> Result<Option<String>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM runs WHERE project_id = ?1 AND name = ?2 AND branch = ?3
               AND status IN ('passed', 'failed') AND id < ?4
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![project.id, run.name, project.default_branch, run.id], |r| r.get(0))
        .optional()?)
}
