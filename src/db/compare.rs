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
        let Some(t) = analysis::test_by_key(conn, project.id, test)? else { continue };
        let entry = TestChange {
            test_id: t.test_id,
            suite: t.suite,
            classname: t.classname,
            name: t.name,
            file: t.file,
            status: status.to_string(),
            base_status: base_status.map(str::to_string),
            duration_ms,
            base_duration_ms,
            message: r.get(3)?,
        };
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
    let by_name = |a: &TestChange, b: &TestChange| {
        (&a.classname, &a.suite, &a.name, &a.test_id).cmp(&(&b.classname, &b.suite, &b.name, &b.test_id))
    };
    for list in [&mut out.new_failures, &mut out.fixed, &mut out.still_failing, &mut out.slower] {
        list.sort_by(by_name);
    }
    // The biggest slowdowns first (stable: equal ones stay by name).
    out.slower.sort_by_key(|c| std::cmp::Reverse(c.duration_ms.unwrap_or(0) - c.base_duration_ms.unwrap_or(0)));
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
