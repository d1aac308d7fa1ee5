//! Flakiness signals kept as runs close (tables `flaky_signals`,
//! `flip_state`, `test_marks`; the rules are `domain::flaky`).
//!
//! A closing run's failing and flaky results are read through a partial
//! index, so the work per run grows with its failures, the tests standing
//! as failing on the default branch and the other runs of its commit, not
//! with its passes: a green run of 200,000 tests reads a handful of rows
//! and writes none.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension};

use crate::db::runs::Run;
use crate::db::{Conn, DbError, Tx};
use crate::domain::audit::Actor;
use crate::domain::flaky::{is_flip, Signal, Signals, FIRST_FAILURE_LOOKBACK};

/// Records the signal events of `run`, which just closed with its results final.
pub fn record(tx: &Tx, run: &Run) -> Result<(), DbError> {
    let mut closing = Closing::new(tx, run)?;
    // Eight bytes per failing test: a run of 700,000 tests failing 10% is
    // closed in well under a megabyte.
    let (mut failed, mut flaky) = (Tests::default(), Tests::default());
    closing.each_failing(run.seq, |test, is_flaky| {
        if is_flaky { &mut flaky } else { &mut failed }.0.push(test);
        Ok(())
    })?;
    for &test in &flaky.0 {
        closing.event(test, Signal::Retry)?;
    }
    if closing.on_default_branch()? {
        closing.flips(&failed, &flaky)?;
    }
    if run.commit.is_some() {
        closing.same_commit(&failed, &flaky)?;
    }
    Ok(())
}

/// From now on only results of runs created after `at` count for the test:
/// its signals before are ignored and its standing on the default branch
/// starts afresh.
pub fn mark_fixed(tx: &Tx, project_id: i64, test: i64, at: i64, by: &Actor) -> Result<(), DbError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO test_marks (test, project_id, fixed_at, fixed_type, fixed_id, fixed_name, fixed_preview)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![test, project_id, at, by.kind.as_str(), by.id, by.name, by.preview])?;
    tx.prepare_cached("DELETE FROM flip_state WHERE test = ?1")?.execute([test])?;
    Ok(())
}

/// Forgets every test's standing on the project's default branch (it
/// changed: the new branch's first results are compared with nothing).
pub fn forget_standings(tx: &Tx, project_id: i64) -> Result<(), DbError> {
    tx.prepare_cached("DELETE FROM flip_state WHERE project_id = ?1")?.execute([project_id])?;
    Ok(())
}

/// Tests in ascending order (as the failing-results index gives them).
#[derive(Default)]
struct Tests(Vec<i64>);

impl Tests {
    fn contains(&self, test: &i64) -> bool {
        self.0.binary_search(test).is_ok()
    }
}

struct Closing<'a, 't> {
    tx: &'a Tx<'t>,
    run: &'a Run,
    /// The project's fixed marks, by test (few: read once).
    marks: HashMap<i64, i64>,
}

impl<'a, 't> Closing<'a, 't> {
    fn new(tx: &'a Tx<'t>, run: &'a Run) -> Result<Closing<'a, 't>, DbError> {
        let mut stmt = tx.prepare_cached("SELECT test, fixed_at FROM test_marks WHERE project_id = ?1")?;
        let marks = stmt.query_map([run.project_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(Closing { tx, run, marks })
    }

    /// Hands `each` a run's failed, errored and flaky results (test,
    /// flaky), by test, as they are read.
    fn each_failing(&self, run: i64, mut each: impl FnMut(i64, bool) -> Result<(), DbError>) -> Result<(), DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT test, status = 'flaky' FROM results INDEXED BY results_failing
             WHERE run = ?1 AND status <> 'passed' AND status <> 'skipped' ORDER BY test",
        )?;
        let mut rows = stmt.query([run])?;
        while let Some(row) = rows.next()? {
            each(row.get(0)?, row.get(1)?)?;
        }
        Ok(())
    }

    fn on_default_branch(&self) -> Result<bool, DbError> {
        let default: String = self
            .tx
            .prepare_cached("SELECT default_branch FROM projects WHERE id = ?1")?
            .query_row([self.run.project_id], |r| r.get(0))?;
        Ok(self.run.branch.as_deref() == Some(default.as_str()))
    }

    /// The test's fixed mark, if any.
    fn mark(&self, test: i64) -> Option<i64> {
        self.marks.get(&test).copied()
    }

    /// Whether a result of a run created at `at` counts for the test (it is
    /// after the test's fixed mark, if any).
    fn counts(&self, test: i64, at: i64) -> bool {
        self.mark(test).is_none_or(|fixed| at > fixed)
    }

    fn event(&mut self, test: i64, signal: Signal) -> Result<(), DbError> {
        if !self.counts(test, self.run.created_at) {
            return Ok(());
        }
        let new = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO flaky_signals (test, kind, run, project_id, at, commit_sha)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                test,
                signal.as_str(),
                self.run.seq,
                self.run.project_id,
                self.run.created_at,
                if signal == Signal::SameCommit { self.run.commit.as_deref() } else { None },
            ])?;
        if new == 1 {
            crate::db::rollups::signal(self.tx, self.run.project_id, test, signal.as_str(), self.run.created_at)?;
        }
        Ok(())
    }

    /// Changes between passing and failing on the default branch: each
    /// failure of a test not standing as failing there, and each test
    /// standing as failing that passed in this run. Results of a run created
    /// before a test's fixed mark change nothing for it. A run failing the
    /// same tests as the one before reads two indexes and writes nothing.
    fn flips(&mut self, failed: &Tests, flaky: &Tests) -> Result<(), DbError> {
        let at = self.run.created_at;
        let standing_failing = self.standing_as_failing()?;
        let mut earlier: Option<Vec<(i64, i64)>> = None;
        // In key order: the standings written go in in the table's order.
        let new_failures = failed.0.iter().copied().filter(|t| !standing_failing.contains(t));
        for test in new_failures {
            if !self.counts(test, at) {
                continue;
            }
            let previous = match self.standing(test)? {
                Some(failing) => Some(failing),
                None => {
                    let runs = match &earlier {
                        Some(runs) => runs,
                        None => earlier.insert(self.earlier_runs()?),
                    };
                    self.passed_before(test, runs)?.then_some(false)
                }
            };
            if is_flip(previous, true) {
                self.event(test, Signal::Flip)?;
            }
            self.stand(test, true)?;
        }
        let mut maybe_recovered: Vec<i64> =
            standing_failing.iter().filter(|t| !failed.contains(t) && !flaky.contains(t)).copied().collect();
        maybe_recovered.sort_unstable();
        for test in maybe_recovered {
            if self.counts(test, at) && self.status_in(self.run.seq, test)?.as_deref() == Some("passed") {
                self.event(test, Signal::Flip)?;
                self.stand(test, false)?;
            }
        }
        Ok(())
    }

    fn standing(&self, test: i64) -> Result<Option<bool>, DbError> {
        Ok(self
            .tx
            .prepare_cached("SELECT failing FROM flip_state WHERE test = ?1")?
            .query_row([test], |r| r.get(0))
            .optional()?)
    }

    fn stand(&self, test: i64, failing: bool) -> Result<(), DbError> {
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO flip_state (test, project_id, failing) VALUES (?1, ?2, ?3)")?
            .execute(params![test, self.run.project_id, failing])?;
        Ok(())
    }

    /// The project's tests standing as failing on the default branch.
    fn standing_as_failing(&self) -> Result<HashSet<i64>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT test FROM flip_state INDEXED BY flip_state_failing WHERE project_id = ?1 AND failing = 1",
        )?;
        let rows = stmt.query_map([self.run.project_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The last closed runs of this run's name on the default branch before
    /// it, newest first (at most [`FIRST_FAILURE_LOOKBACK`]): (seq, created_at).
    fn earlier_runs(&self) -> Result<Vec<(i64, i64)>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT seq, created_at FROM runs INDEXED BY runs_by_name
             WHERE project_id = ?1 AND name = ?2 AND branch = ?3 AND seq <> ?4 AND created_at <= ?5
               AND status <> 'running'
             ORDER BY created_at DESC, seq DESC LIMIT CAST(?6 AS INTEGER)",
        )?;
        let r = self.run;
        let rows = stmt
            .query_map(params![r.project_id, r.name, r.branch, r.seq, r.created_at, FIRST_FAILURE_LOOKBACK], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether the test's last passing or failing result in `earlier` (after
    /// its fixed mark) passed: a first failure on the default branch is a
    /// change only then.
    fn passed_before(&self, test: i64, earlier: &[(i64, i64)]) -> Result<bool, DbError> {
        let since = self.mark(test).unwrap_or(i64::MIN);
        for &(run, _) in earlier.iter().take_while(|(_, at)| *at > since) {
            match self.status_in(run, test)?.as_deref() {
                Some("passed") => return Ok(true),
                Some("failed" | "error") => return Ok(false),
                _ => {}
            }
        }
        Ok(false)
    }

    fn status_in(&self, run: i64, test: i64) -> Result<Option<String>, DbError> {
        Ok(self
            .tx
            .prepare_cached("SELECT status FROM results WHERE run = ?1 AND test = ?2")?
            .query_row([run, test], |r| r.get(0))
            .optional()?)
    }

    /// Tests that passed in this run and failed in another closed run of
    /// the same commit, or the other way round; one event per test and
    /// commit.
    fn same_commit(&mut self, failed: &Tests, flaky: &Tests) -> Result<(), DbError> {
        let mut pairs: HashSet<i64> = HashSet::new();
        for (sibling, created_at) in self.siblings()? {
            for &test in &failed.0 {
                if self.counts(test, created_at) && self.status_in(sibling, test)?.as_deref() == Some("passed") {
                    pairs.insert(test);
                }
            }
            self.each_failing(sibling, |test, was_flaky| {
                let ours = failed.contains(&test) || flaky.contains(&test);
                if !was_flaky
                    && !ours
                    && self.counts(test, created_at)
                    && self.status_in(self.run.seq, test)?.as_deref() == Some("passed")
                {
                    pairs.insert(test);
                }
                Ok(())
            })?;
        }
        for test in pairs {
            let since = self.mark(test).unwrap_or(i64::MIN);
            if !self.commit_counted(test, since)? {
                self.event(test, Signal::SameCommit)?;
            }
        }
        Ok(())
    }

    /// The other closed runs of this run's commit: (seq, created_at).
    fn siblings(&self) -> Result<Vec<(i64, i64)>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT seq, created_at FROM runs INDEXED BY runs_by_commit
             WHERE project_id = ?1 AND commit_sha = ?2 AND seq <> ?3 AND status <> 'running'",
        )?;
        let rows = stmt
            .query_map(params![self.run.project_id, self.run.commit, self.run.seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether the test's pair on this commit was counted (after `since`,
    /// its fixed mark).
    fn commit_counted(&self, test: i64, since: i64) -> Result<bool, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT 1 FROM flaky_signals
                 WHERE test = ?1 AND kind = 'same_commit' AND commit_sha = ?2 AND at > ?3 LIMIT 1",
            )?
            .query_row(params![test, self.run.commit, since], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// A test that got a signal in a closing run: its signals in the window
/// (since its fixed mark) before that run, and with it.
pub struct SignalledTest {
    /// The API's test id (hex).
    pub test_id: String,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub before: Signals,
    pub with_run: Signals,
}

/// The tests `run` gave a signal, with their signals since `since` (and
/// since each one's fixed mark), for telling which became flaky.
pub fn signalled_in(conn: &Conn, run: &Run, since: i64) -> Result<Vec<SignalledTest>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT lower(hex(t.test_id)), t.suite, t.classname, t.name,
                sum(f.kind = 'retry' AND f.run <> ?1), sum(f.kind = 'same_commit' AND f.run <> ?1),
                sum(f.kind = 'flip' AND f.run <> ?1),
                sum(f.kind = 'retry'), sum(f.kind = 'same_commit'), sum(f.kind = 'flip')
         FROM flaky_signals f JOIN tests t ON t.id = f.test
         WHERE f.test IN (SELECT test FROM flaky_signals WHERE run = ?1) AND f.at >= ?2
           AND f.at > coalesce((SELECT fixed_at FROM test_marks m WHERE m.test = f.test), -1)
         GROUP BY f.test ORDER BY t.name",
    )?;
    let rows = stmt.query_map(params![run.seq, since], |r| {
        let signals = |i: usize| -> rusqlite::Result<Signals> {
            Ok(Signals { retry: r.get(i)?, same_commit: r.get(i + 1)?, flips: r.get(i + 2)? })
        };
        Ok(SignalledTest {
            test_id: r.get(0)?,
            suite: r.get(1)?,
            classname: r.get(2)?,
            name: r.get(3)?,
            before: signals(4)?,
            with_run: signals(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
