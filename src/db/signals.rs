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
use crate::domain::flaky::{is_flip, Signal, FIRST_FAILURE_LOOKBACK};

/// Records the signal events of `run`, which just closed with its results final.
pub fn record(tx: &Tx, run: &Run) -> Result<(), DbError> {
    let mut closing = Closing { tx, run, marks: HashMap::new() };
    let failing = closing.failing_results(run.seq)?;
    for (test, flaky) in &failing {
        if *flaky {
            closing.event(*test, Signal::Retry)?;
        }
    }
    let failed: HashSet<i64> = failing.iter().filter(|(_, flaky)| !flaky).map(|(t, _)| *t).collect();
    if closing.on_default_branch()? {
        closing.flips(&failed)?;
    }
    if run.commit.is_some() {
        let flaky: HashSet<i64> = failing.iter().filter(|(_, flaky)| *flaky).map(|(t, _)| *t).collect();
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

/// When the test was last marked fixed.
fn fixed_at(conn: &Conn, test: i64) -> Result<Option<i64>, DbError> {
    Ok(conn
        .prepare_cached("SELECT fixed_at FROM test_marks WHERE test = ?1")?
        .query_row([test], |r| r.get(0))
        .optional()?)
}

struct Closing<'a, 't> {
    tx: &'a Tx<'t>,
    run: &'a Run,
    /// Fixed marks read so far, by test.
    marks: HashMap<i64, Option<i64>>,
}

impl Closing<'_, '_> {
    /// A run's failed, errored and flaky results: (test, flaky).
    fn failing_results(&self, run: i64) -> Result<Vec<(i64, bool)>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT test, status = 'flaky' FROM results INDEXED BY results_failing
             WHERE run = ?1 AND status <> 'passed' AND status <> 'skipped'",
        )?;
        let rows = stmt.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn on_default_branch(&self) -> Result<bool, DbError> {
        let default: String = self
            .tx
            .prepare_cached("SELECT default_branch FROM projects WHERE id = ?1")?
            .query_row([self.run.project_id], |r| r.get(0))?;
        Ok(self.run.branch.as_deref() == Some(default.as_str()))
    }

    /// The test's fixed mark, if any (read once per closing).
    fn mark(&mut self, test: i64) -> Result<Option<i64>, DbError> {
        if let Some(mark) = self.marks.get(&test) {
            return Ok(*mark);
        }
        let mark = fixed_at(self.tx, test)?;
        self.marks.insert(test, mark);
        Ok(mark)
    }

    /// Whether a result of a run created at `at` counts for the test (it is
    /// after the test's fixed mark, if any).
    fn counts(&mut self, test: i64, at: i64) -> Result<bool, DbError> {
        Ok(self.mark(test)?.is_none_or(|fixed| at > fixed))
    }

    fn event(&mut self, test: i64, signal: Signal) -> Result<(), DbError> {
        if !self.counts(test, self.run.created_at)? {
            return Ok(());
        }
        self.tx
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
        Ok(())
    }

    /// Changes between passing and failing on the default branch: each
    /// failure against the test's standing there, and each test standing
    /// as failing that passed in this run. Results of a run created before
    /// a test's fixed mark change nothing for it.
    fn flips(&mut self, failed: &HashSet<i64>) -> Result<(), DbError> {
        let at = self.run.created_at;
        for &test in failed {
            if !self.counts(test, at)? {
                continue;
            }
            let previous = match self.standing(test)? {
                Some(failing) => Some(failing),
                None => self.passed_before(test)?.then_some(false),
            };
            if is_flip(previous, true) {
                self.event(test, Signal::Flip)?;
            }
            if previous != Some(true) {
                self.stand(test, true)?;
            }
        }
        for test in self.recovered()? {
            if self.counts(test, at)? {
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

    /// The tests standing as failing on the default branch that passed in
    /// this run.
    fn recovered(&self) -> Result<Vec<i64>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT f.test FROM flip_state f INDEXED BY flip_state_failing
             JOIN results r ON r.run = ?2 AND r.test = f.test
             WHERE f.project_id = ?1 AND f.failing = 1 AND r.status = 'passed'",
        )?;
        let rows = stmt.query_map([self.run.project_id, self.run.seq], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether the test passed in one of the last runs of this run's name
    /// on the default branch before this one (after its fixed mark): a
    /// first failure there is a change only then.
    fn passed_before(&mut self, test: i64) -> Result<bool, DbError> {
        let since = self.mark(test)?.unwrap_or(i64::MIN);
        let status: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT r.status FROM (
                     SELECT seq, created_at FROM runs INDEXED BY runs_by_name
                     WHERE project_id = ?1 AND name = ?8 AND branch = ?2 AND seq <> ?3 AND created_at <= ?4
                       AND created_at > ?5 AND status <> 'running'
                     ORDER BY created_at DESC, seq DESC LIMIT CAST(?6 AS INTEGER)
                 ) ru JOIN results r ON r.run = ru.seq AND r.test = ?7
                 WHERE r.status = 'passed' OR r.status = 'failed' OR r.status = 'error'
                 ORDER BY ru.created_at DESC, ru.seq DESC LIMIT 1",
            )?
            .query_row(
                params![
                    self.run.project_id,
                    self.run.branch,
                    self.run.seq,
                    self.run.created_at,
                    since,
                    FIRST_FAILURE_LOOKBACK,
                    test,
                    self.run.name,
                ],
                |r| r.get(0),
            )
            .optional()?;
        Ok(status.as_deref() == Some("passed"))
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
    fn same_commit(&mut self, failed: &HashSet<i64>, flaky: &HashSet<i64>) -> Result<(), DbError> {
        let mut pairs: HashSet<i64> = HashSet::new();
        for (sibling, created_at) in self.siblings()? {
            for &test in failed {
                if self.counts(test, created_at)? && self.status_in(sibling, test)?.as_deref() == Some("passed") {
                    pairs.insert(test);
                }
            }
            for (test, was_flaky) in self.failing_results(sibling)? {
                let ours = failed.contains(&test) || flaky.contains(&test);
                if !was_flaky
                    && !ours
                    && self.counts(test, created_at)?
                    && self.status_in(self.run.seq, test)?.as_deref() == Some("passed")
                {
                    pairs.insert(test);
                }
            }
        }
        for test in pairs {
            let since = self.mark(test)?.unwrap_or(i64::MIN);
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
