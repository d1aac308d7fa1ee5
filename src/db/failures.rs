//! What is known about a run's failures (API.md section 9's failure
//! context): since when each has been failing, whether the test is known
//! flaky, the quarantine rule covering it; and failure groups, the
//! failures of a run or of a window that share a message fingerprint
//! (`domain::fingerprint`).

use std::collections::{BTreeSet, HashMap};

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::db::analysis::test_by_key;
use crate::db::flaky;
use crate::db::projects::Project;
use crate::db::quarantine::{self, ActiveRules};
use crate::db::results::TestResult;
use crate::db::runs::Run;
use crate::db::{serialize_unix, Conn, DbError};
use crate::domain::analysis::is_failing;
use crate::domain::flaky::{Signals, State, FLAKY_WINDOW_DAYS};

/// Earlier runs read for a failure's streak; a longer one is "at least".
pub const MAX_STREAK: u32 = 50;

/// The run a failure's streak began in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailingSince {
    pub run_id: String,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// Runs in a row it failed in, this one included.
    pub runs: u32,
    /// True when the streak is longer than the runs read.
    pub at_least: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KnownFlaky {
    pub state: State,
    pub signals: Signals,
}

/// A quarantine rule as a failure shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleBrief {
    pub id: String,
    pub reason: String,
    pub issue_url: Option<String>,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: i64,
}

/// A failure's context; every field null for results that did not fail.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct FailureContext {
    /// `null` for a new failure (it did not fail in the run before).
    pub failing_since: Option<FailingSince>,
    #[serde(serialize_with = "crate::db::serialize_unix_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_failed_at: Option<i64>,
    pub known_flaky: Option<KnownFlaky>,
    pub quarantine: Option<RuleBrief>,
}

/// The context of each failed or errored result of `results` (of `run`).
pub fn context(
    conn: &Conn,
    project: &Project,
    run: &Run,
    results: &[TestResult],
    now: i64,
) -> Result<Vec<FailureContext>, DbError> {
    if !results.iter().any(|r| is_failing(&r.status)) {
        return Ok(vec![FailureContext::default(); results.len()]);
    }
    let earlier = earlier_runs(conn, run)?;
    let failing: Vec<i64> = results.iter().filter(|r| is_failing(&r.status)).map(|r| r.key).collect();
    let flaky = flaky::states(conn, project, &failing, crate::domain::time::window_start(now, FLAKY_WINDOW_DAYS), now)?;
    let rules = quarantine::active(conn, project.id, now)?;
    let mut briefs: HashMap<String, RuleBrief> = HashMap::new();
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        if !is_failing(&r.status) {
            out.push(FailureContext::default());
            continue;
        }
        let failing_since = streak(conn, r.key, &earlier)?;
        let quarantine = match covering(&rules, r) {
            Some(id) => Some(brief(conn, project.id, &id, now, &mut briefs)?),
            None => None,
        };
        out.push(FailureContext {
            first_failed_at: Some(failing_since.as_ref().map_or(run.created_at, |s| s.created_at)),
            failing_since,
            known_flaky: flaky.get(&r.key).map(|(state, signals)| KnownFlaky { state: *state, signals: *signals }),
            quarantine,
        });
    }
    Ok(out)
}

fn covering(rules: &ActiveRules, r: &TestResult) -> Option<String> {
    let found = rules.covering(r.key, &r.suite, &r.classname, &r.name, r.file.as_deref());
    found.first().map(|i| rules.rules()[*i].id.clone())
}

fn brief(
    conn: &Conn,
    project_id: i64,
    id: &str,
    now: i64,
    cache: &mut HashMap<String, RuleBrief>,
) -> Result<RuleBrief, DbError> {
    if let Some(b) = cache.get(id) {
        return Ok(b.clone());
    }
    let rule = quarantine::get(conn, project_id, id, now)?;
    let b = RuleBrief { id: rule.id, reason: rule.reason, issue_url: rule.issue_url, expires_at: rule.expires_at };
    cache.insert(id.to_string(), b.clone());
    Ok(b)
}

/// The closed runs before `run` of its name and branch, newest first:
/// (seq, id, created_at).
fn earlier_runs(conn: &Conn, run: &Run) -> Result<Vec<(i64, String, i64)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, created_at FROM runs INDEXED BY runs_by_name
         WHERE project_id = ?1 AND name = ?2 AND branch IS ?3 AND created_at <= ?4 AND seq <> ?5
           AND status <> 'running'
         ORDER BY created_at DESC, seq DESC LIMIT CAST(?6 AS INTEGER)",
    )?;
    let rows = stmt
        .query_map(params![run.project_id, run.name, run.branch, run.created_at, run.seq, MAX_STREAK + 1], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Where the test's run of failures began, `None` when the run before
/// that had it did not fail it (a new failure). Runs without the test, or
/// where it was skipped, neither end nor extend the streak.
fn streak(conn: &Conn, test: i64, earlier: &[(i64, String, i64)]) -> Result<Option<FailingSince>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT status FROM results WHERE run = ?1 AND test = ?2")?;
    let mut since: Option<(&str, i64)> = None;
    let (mut runs, mut ended) = (1, false);
    for (seq, id, created_at) in earlier.iter().take(MAX_STREAK as usize) {
        let status: Option<String> = stmt.query_row(params![seq, test], |r| r.get(0)).optional()?;
        match status.as_deref() {
            Some("failed" | "error") => {
                since = Some((id, *created_at));
                runs += 1;
            }
            Some("passed" | "flaky") => {
                ended = true;
                break;
            }
            _ => continue,
        }
    }
    let at_least = !ended && earlier.len() > MAX_STREAK as usize;
    Ok(since.map(|(id, created_at)| FailingSince { run_id: id.to_string(), created_at, runs, at_least }))
}

/// One failure group: the failures sharing a fingerprint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorGroup {
    pub fingerprint: String,
    /// The normalized message, placeholders and all.
    pub message: String,
    pub failures: u32,
    pub tests: u32,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: i64,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: i64,
    /// Some of the tests it hit (at most [`GROUP_TESTS`]).
    pub examples: Vec<TestRef>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestRef {
    pub test_id: String,
    pub name: String,
}

/// Tests named per group.
pub const GROUP_TESTS: u32 = 5;

/// The project's failure groups among runs created since `since` (the
/// start of a day), most failures first (at most `limit`), from the
/// rollups' failures per day, group and test (`db::rollups::failures`).
pub fn groups(conn: &Conn, project_id: i64, since: i64, limit: u32) -> Result<Vec<ErrorGroup>, DbError> {
    struct Tally {
        failures: u32,
        tests: BTreeSet<i64>,
        first: i64,
        last: i64,
    }
    let mut by_print: HashMap<i64, Tally> = HashMap::new();
    for ((print, test), f) in crate::db::rollups::failures(conn, project_id, crate::domain::rollup::day_of(since))? {
        let tally = by_print.entry(print).or_insert(Tally {
            failures: 0,
            tests: BTreeSet::new(),
            first: f.first_at,
            last: f.last_at,
        });
        tally.failures += f.failures.clamp(0, i64::from(u32::MAX)) as u32;
        tally.tests.insert(test);
        (tally.first, tally.last) = (tally.first.min(f.first_at), tally.last.max(f.last_at));
    }
    let mut found: Vec<(i64, Tally)> = by_print.into_iter().collect();
    found.sort_by(|(a, x), (b, y)| (y.failures, y.last, a).cmp(&(x.failures, x.last, b)));
    found.truncate(limit as usize);
    let mut out = Vec::with_capacity(found.len());
    for (print, tally) in found {
        let mut examples = Vec::new();
        for key in tally.tests.iter().take(GROUP_TESTS as usize) {
            if let Some(t) = test_by_key(conn, project_id, *key)? {
                examples.push(TestRef { test_id: t.test_id, name: t.name });
            }
        }
        examples.sort_by(|a, b| a.name.cmp(&b.name));
        out.push(ErrorGroup {
            fingerprint: format!("{:016x}", print as u64),
            message: message_of(conn, project_id, print)?.unwrap_or_default(),
            failures: tally.failures,
            tests: tally.tests.len() as u32,
            first_seen: tally.first,
            last_seen: tally.last,
            examples,
        });
    }
    Ok(out)
}

/// The normalized message of a fingerprint.
pub fn message_of(conn: &Conn, project_id: i64, print: i64) -> Result<Option<String>, DbError> {
    Ok(conn
        .prepare_cached("SELECT message FROM error_fingerprints WHERE project_id = ?1 AND fingerprint = ?2")?
        .query_row(params![project_id, print], |r| r.get(0))
        .optional()?)
}
