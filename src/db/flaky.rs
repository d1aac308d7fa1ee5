//! The flaky list and one test's flakiness (API.md section 9), from the
//! signal events `db::signals` keeps as runs close, not from the window's
//! results. The list reads them rolled up per test, signal and day
//! (`db::rollups::signals`: one row per test and signal, whatever the
//! window holds); one test's standing, and the tests marked fixed inside
//! the window, read their events after the mark.
//!
//! Each listed test's `runs` and `failure_rate` count its results in the
//! whole window, read from the rollups (`db::rollups::window`).

use std::collections::{HashMap, HashSet};

use rusqlite::params;
use serde::Serialize;

use crate::db::analysis::{history, test_by_key, test_info, HistoryEntry, TestInfo};
use crate::db::projects::Project;
use crate::db::quarantine::{self, Rule};
use crate::db::rollups::{self, Tests};
use crate::db::{Conn, DbError};
use crate::domain::flaky::{self as rules, Signal, Signals, State, FLAKY_WINDOW_DAYS};
use crate::domain::rollup::{day_of, day_start};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlakyTest {
    #[serde(flatten)]
    pub test: TestInfo,
    pub signals: Signals,
    /// The signals that reached their rule, by name.
    pub fired: Vec<&'static str>,
    pub state: State,
    /// The active rule covering the test, if any.
    pub quarantine: Option<Rule>,
    /// When it was last marked fixed, if that is in the window.
    #[serde(serialize_with = "crate::db::serialize_unix_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fixed_at: Option<i64>,
    /// The changes on the default branch (`signals.flips`, kept for clients
    /// of the first version of this list).
    pub flips: u32,
    /// Failed, errored or flaky results / results, in the window.
    pub failure_rate: f64,
    pub runs: u32,
    #[serde(serialize_with = "crate::db::serialize_unix_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_flaky_at: Option<i64>,
    #[serde(serialize_with = "crate::db::serialize_unix_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_flaky_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlakyList {
    pub tests: Vec<FlakyTest>,
    /// Runs created in the window.
    pub window_runs: u32,
}

/// The project's flaky tests among runs created since `since`, most flaky
/// first, at most `limit`.
pub fn list(conn: &Conn, project: &Project, since: i64, now: i64, limit: u32) -> Result<FlakyList, DbError> {
    let mut found = judge(conn, project, now, collect(conn, project, since, Scope::Project)?)?;
    found.truncate(limit as usize);
    let window_runs: u32 = conn
        .prepare_cached("SELECT count(*) FROM runs WHERE project_id = ?1 AND created_at >= ?2")?
        .query_row(params![project.id, since], |r| r.get(0))?;
    Ok(FlakyList { tests: finish(conn, project, since, now, found)?, window_runs })
}

/// One test's standing in the window, `None` when it is not listed (no
/// signal fired and no fixed mark in the window).
pub fn one(conn: &Conn, project: &Project, test: i64, since: i64, now: i64) -> Result<Option<FlakyTest>, DbError> {
    let found = judge(conn, project, now, collect(conn, project, since, Scope::Tests(&[test]))?)?;
    Ok(finish(conn, project, since, now, found)?.pop())
}

/// The state and signals of those of `tests` that are listed, by key (for
/// the context of a run's failures).
pub fn states(
    conn: &Conn,
    project: &Project,
    tests: &[i64],
    since: i64,
    now: i64,
) -> Result<HashMap<i64, (State, Signals)>, DbError> {
    let found = judge(conn, project, now, collect(conn, project, since, Scope::Tests(tests))?)?;
    Ok(found.into_iter().map(|(s, state, _)| (s.test, (state, s.signals))).collect())
}

/// A test's flakiness in the last [`FLAKY_WINDOW_DAYS`] and the active
/// quarantine rule covering it, flaky or not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestStanding {
    pub flaky: Option<FlakyTest>,
    pub quarantine: Option<Rule>,
}

pub fn test_standing(
    conn: &Conn,
    project: &Project,
    test: i64,
    info: &TestInfo,
    now: i64,
) -> Result<TestStanding, DbError> {
    let flaky = one(conn, project, test, crate::domain::time::window_start(now, FLAKY_WINDOW_DAYS), now)?;
    let quarantine = match flaky.as_ref().and_then(|f| f.quarantine.clone()) {
        Some(rule) => Some(rule),
        None => {
            let active = quarantine::active(conn, project.id, now)?;
            let covering = active.covering(test, &info.suite, &info.classname, &info.name, info.file.as_deref());
            match covering.first() {
                Some(i) => Some(quarantine::get(conn, project.id, &active.rules()[*i].id, now)?),
                None => None,
            }
        }
    };
    Ok(TestStanding { flaky, quarantine })
}

/// A test's page (the API's and the UI's): the test, its results newest
/// first below run `before` (at most `limit`), and its standing; `None`
/// when the project has no such test.
pub fn test_page(
    conn: &Conn,
    project: &Project,
    test_id: &str,
    limit: u32,
    before: Option<&str>,
    now: i64,
) -> Result<Option<(TestInfo, Vec<HistoryEntry>, TestStanding)>, DbError> {
    let Some((key, info)) = test_info(conn, project.id, test_id)? else { return Ok(None) };
    let standing = test_standing(conn, project, key, &info, now)?;
    let found = history(conn, project.id, test_id, limit, before)?;
    Ok(found.map(|(test, entries)| (test, entries, standing)))
}

/// Which tests' events to read.
enum Scope<'a> {
    /// Every test of the project (through the events' project index).
    Project,
    /// These tests (each through the events' primary key).
    Tests(&'a [i64]),
}

/// A test's signals in the window, before its details are read.
struct Standing {
    test: i64,
    signals: Signals,
    /// The first and last event of each signal (retry, same commit, flip).
    spans: [Option<(i64, i64)>; 3],
    fixed_at: Option<i64>,
}

impl Standing {
    fn new(test: i64) -> Standing {
        Standing { test, signals: Signals::default(), spans: [None; 3], fixed_at: None }
    }

    fn add(&mut self, signal: Signal, count: u32, first: i64, last: i64) {
        self.signals.add(signal, count);
        self.spans[signal as usize] = Some((first, last));
    }

    /// The first and last event of the signals that fired.
    fn span(&self, threshold: u32) -> (Option<i64>, Option<i64>) {
        let fired = [self.signals.retry > 0, self.signals.same_commit > 0, self.signals.flips >= threshold];
        let spans = self.spans.iter().zip(fired).filter(|(_, f)| *f).filter_map(|(s, _)| *s);
        spans.fold((None, None), |(first, last), (f, l)| {
            (Some(first.map_or(f, |x: i64| x.min(f))), Some(last.map_or(l, |x: i64| x.max(l))))
        })
    }
}

/// The events since `since` (after each test's fixed mark) and the fixed
/// marks since `since` of the tests in `scope`.
fn collect(conn: &Conn, project: &Project, since: i64, scope: Scope) -> Result<HashMap<i64, Standing>, DbError> {
    let mut by_test: HashMap<i64, Standing> = HashMap::new();
    let events = |key: i64, sql: &str, by_test: &mut HashMap<i64, Standing>| -> Result<(), DbError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![key, since])?;
        while let Some(r) = rows.next()? {
            let Some(signal) = Signal::parse(&r.get::<_, String>(1)?) else { continue };
            let test = r.get(0)?;
            by_test.entry(test).or_insert_with(|| Standing::new(test)).add(signal, r.get(2)?, r.get(3)?, r.get(4)?);
        }
        Ok(())
    };
    let marks = |key: i64, sql: &str, by_test: &mut HashMap<i64, Standing>| -> Result<(), DbError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![key, since])?;
        while let Some(r) = rows.next()? {
            let test = r.get(0)?;
            by_test.entry(test).or_insert_with(|| Standing::new(test)).fixed_at = Some(r.get(1)?);
        }
        Ok(())
    };
    // Tests marked fixed inside the window count their events after the
    // mark, read one by one; the others' come from the rollups.
    let rolled = match scope {
        Scope::Project => {
            marks(project.id, PROJECT_MARKS, &mut by_test)?;
            rollups::signals(conn, project.id, day_of(since), Tests::All)?
        }
        Scope::Tests(tests) => {
            for &test in tests {
                marks(test, TEST_MARKS, &mut by_test)?;
            }
            let unmarked: Vec<i64> = tests.iter().copied().filter(|t| !by_test.contains_key(t)).collect();
            rollups::signals(conn, project.id, day_of(since), Tests::Only(&unmarked))?
        }
    };
    let marked: HashSet<i64> = by_test.keys().copied().collect();
    for s in rolled.into_iter().filter(|s| !marked.contains(&s.test)) {
        let Some(signal) = Signal::parse(&s.kind) else { continue };
        let count = s.events.clamp(0, i64::from(u32::MAX)) as u32;
        by_test.entry(s.test).or_insert_with(|| Standing::new(s.test)).add(signal, count, s.first_at, s.last_at);
    }
    for test in marked {
        events(test, TEST_EVENTS, &mut by_test)?;
    }
    Ok(by_test)
}

const TEST_EVENTS: &str = "SELECT s.test, s.kind, count(*), min(s.at), max(s.at)
    FROM flaky_signals s LEFT JOIN test_marks m ON m.test = s.test
    WHERE s.test = ?1 AND s.at >= ?2 AND (m.fixed_at IS NULL OR s.at > m.fixed_at)
    GROUP BY s.kind";
const PROJECT_MARKS: &str = "SELECT test, fixed_at FROM test_marks WHERE project_id = ?1 AND fixed_at >= ?2";
const TEST_MARKS: &str = "SELECT test, fixed_at FROM test_marks WHERE test = ?1 AND fixed_at >= ?2";

/// The listed ones of `found` with their state and covering rule's id,
/// most flaky first.
fn judge(
    conn: &Conn,
    project: &Project,
    now: i64,
    found: HashMap<i64, Standing>,
) -> Result<Vec<(Standing, State, Option<String>)>, DbError> {
    let threshold = project.flaky_flip_threshold;
    let active = quarantine::active(conn, project.id, now)?;
    let mut listed = Vec::new();
    for s in found.into_values() {
        let fired = !s.signals.fired(threshold).is_empty();
        if !fired && s.fixed_at.is_none() {
            continue;
        }
        let Some(info) = test_by_key(conn, project.id, s.test)? else { continue };
        let covering = active.covering(s.test, &info.suite, &info.classname, &info.name, info.file.as_deref());
        let rule = covering.first().map(|i| active.rules()[*i].id.clone());
        if let Some(state) = rules::state(fired, s.fixed_at.is_some(), rule.is_some()) {
            listed.push((s, state, rule));
        }
    }
    listed.sort_by(|(a, ..), (b, ..)| {
        let rank = |s: &Standing| rules::Rank {
            fired: s.signals.fired(threshold).len(),
            events: s.signals.events(),
            latest: s.span(threshold).1.unwrap_or(0),
        };
        rank(b).cmp(&rank(a)).then(a.test.cmp(&b.test))
    });
    Ok(listed)
}

/// Reads the listed tests' details, quarantine rules and failure rates.
fn finish(
    conn: &Conn,
    project: &Project,
    since: i64,
    now: i64,
    found: Vec<(Standing, State, Option<String>)>,
) -> Result<Vec<FlakyTest>, DbError> {
    let starts: Vec<(i64, i64)> =
        found.iter().map(|(s, ..)| (s.test, s.fixed_at.map_or(since, |f| since.max(f + 1)))).collect();
    let mut rates = rates(conn, project.id, &starts)?;
    let mut tests = Vec::with_capacity(found.len());
    for (s, state, rule) in found {
        let Some(test) = test_by_key(conn, project.id, s.test)? else { continue };
        let quarantine = match rule {
            Some(id) => Some(quarantine::get(conn, project.id, &id, now)?),
            None => None,
        };
        let (runs, failing) = rates.remove(&s.test).unwrap_or((0, 0));
        let (first_flaky_at, last_flaky_at) = s.span(project.flaky_flip_threshold);
        tests.push(FlakyTest {
            test,
            fired: s.signals.fired(project.flaky_flip_threshold),
            flips: s.signals.flips,
            signals: s.signals,
            state,
            quarantine,
            fixed_at: s.fixed_at,
            failure_rate: if runs == 0 {
                0.0
            } else {
                (f64::from(failing) / f64::from(runs) * 10_000.0).round() / 10_000.0
            },
            runs,
            first_flaky_at,
            last_flaky_at,
        });
    }
    Ok(tests)
}

/// Per test, its results and failing (failed, errored, flaky) results in
/// runs created since its start (the window's, or just after its fixed
/// mark): whole days from the rollups, one window for the tests that start
/// on the same day; the runs of a day a start cuts, from the results.
fn rates(conn: &Conn, project_id: i64, starts: &[(i64, i64)]) -> Result<HashMap<i64, (u32, u32)>, DbError> {
    let mut by_day: HashMap<i64, Vec<i64>> = HashMap::new();
    for (test, since) in starts {
        by_day.entry(day_of(since - 1) + 1).or_default().push(*test);
    }
    let mut counts: HashMap<i64, (i64, i64)> = HashMap::new();
    for (first_full_day, tests) in by_day {
        for (test, t) in rollups::window(conn, project_id, first_full_day, Tests::Only(&tests))? {
            counts.insert(test, (t.results(), t.failing()));
        }
    }
    let mut cut = conn.prepare_cached(
        "SELECT count(*), coalesce(sum(r.status <> 'passed' AND r.status <> 'skipped'), 0)
         FROM runs ru INDEXED BY runs_by_project_created JOIN results r ON r.run = ru.seq AND r.test = ?3
         WHERE ru.project_id = ?1 AND ru.created_at >= ?2 AND ru.created_at < ?4",
    )?;
    for (test, since) in starts {
        let day_end = day_start(day_of(since - 1) + 1);
        if day_end > *since {
            let (n, f): (i64, i64) =
                cut.query_row(params![project_id, since, test, day_end], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let c = counts.entry(*test).or_default();
            (c.0, c.1) = (c.0 + n, c.1 + f);
        }
    }
    let clamp = |n: i64| n.clamp(0, i64::from(u32::MAX)) as u32;
    Ok(counts.into_iter().map(|(test, (n, f))| (test, (clamp(n), clamp(f)))).collect())
}
