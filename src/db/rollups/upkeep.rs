//! The backfill of results stored before rollups existed, and rollup
//! retention.

use rusqlite::{params, OptionalExtension};

use super::{horizon, queue, BACKFILL_RUNS, DIGEST_ENTRIES};
use crate::db::{DbError, Tx};
use crate::domain::report::Outcome;
use crate::domain::rollup::{DigestWriter, Entry};

/// Backfill progress: runs up to `done_seq` of `last_seq` are digested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backfill {
    pub done_seq: i64,
    pub last_seq: i64,
    pub results: u64,
}

/// Digests the next runs stored before rollups existed, about `batch`
/// results' worth (whole runs); `None` once none are left.
pub fn backfill(tx: &Tx, batch: u64) -> Result<Option<Backfill>, DbError> {
    let marker: Option<(i64, i64)> = tx
        .query_row("SELECT next_seq, last_seq FROM rollup_backfill WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((next_seq, last_seq)) = marker else { return Ok(None) };
    let runs: Vec<(i64, i64, i64)> = tx
        .prepare_cached(
            "SELECT seq, project_id, created_at FROM runs WHERE seq >= ?1 AND seq <= ?2
             ORDER BY seq LIMIT CAST(?3 AS INTEGER)",
        )?
        .query_map(params![next_seq, last_seq, BACKFILL_RUNS], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    // With no run left in the range, every one is done.
    let mut done_seq = if runs.is_empty() { last_seq } else { next_seq - 1 };
    let mut results = 0u64;
    let mut stmt = tx.prepare_cached("SELECT test, status, duration_ms, fingerprint FROM results WHERE run = ?1")?;
    for (seq, project_id, created_at) in runs {
        let mut digest = DigestWriter::default();
        let mut rows = stmt.query([seq])?;
        while let Some(r) = rows.next()? {
            if digest.len() >= DIGEST_ENTRIES {
                queue(tx, project_id, created_at, std::mem::take(&mut digest))?;
            }
            let status = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            let outcome = Outcome::parse(status).unwrap_or(Outcome::Skipped);
            let failing = matches!(outcome, Outcome::Failed | Outcome::Error);
            digest.push(&Entry {
                test: r.get(0)?,
                outcome,
                removed: false,
                duration_ms: r.get::<_, Option<i64>>(2)?.map(|d| d.max(0) as u64),
                fingerprint: r.get::<_, Option<i64>>(3)?.filter(|_| failing),
            });
            results += 1;
        }
        queue(tx, project_id, created_at, digest)?;
        done_seq = seq;
        if results >= batch {
            break;
        }
    }
    if done_seq >= last_seq {
        tx.execute("DELETE FROM rollup_backfill WHERE id = 1", [])?;
    } else {
        tx.execute("UPDATE rollup_backfill SET next_seq = ?1 WHERE id = 1", [done_seq + 1])?;
    }
    Ok(Some(Backfill { done_seq, last_seq, results }))
}

/// Deletes rollups of days before `first_kept_day`, keeping per test (and
/// signal) the newest totals before it, which windows starting there
/// subtract, and makes it the [`horizon`]; returns the rows gone.
pub fn prune(tx: &Tx, first_kept_day: i64) -> Result<usize, DbError> {
    let first_kept_day = first_kept_day.max(horizon(tx)?);
    crate::db::settings::set_rollup_horizon(tx, first_kept_day)?;
    // Tests whose oldest row is before the cut-off, and not already the
    // base kept by an earlier pass (its day is then the test's first).
    let old: Vec<(i64, i64)> = tx
        .prepare_cached(
            "SELECT t.project_id, t.test FROM test_totals t WHERE t.first_day < ?1
               AND EXISTS (SELECT 1 FROM test_days d WHERE d.project_id = t.project_id AND d.test = t.test
                             AND d.day > t.first_day AND d.day < ?1)",
        )?
        .query_map([first_kept_day], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut gone = 0;
    let mut base =
        tx.prepare_cached("SELECT max(day) FROM test_days WHERE project_id = ?1 AND test = ?2 AND day < ?3")?;
    let mut delete = tx.prepare_cached("DELETE FROM test_days WHERE project_id = ?1 AND test = ?2 AND day < ?3")?;
    let mut first = tx.prepare_cached("UPDATE test_totals SET first_day = ?3 WHERE project_id = ?1 AND test = ?2")?;
    for (project_id, test) in old {
        let Some(kept): Option<i64> = base.query_row(params![project_id, test, first_kept_day], |r| r.get(0))? else {
            continue;
        };
        gone += delete.execute(params![project_id, test, kept])?;
        first.execute(params![project_id, test, kept])?;
    }
    let projects: Vec<i64> =
        tx.prepare_cached("SELECT id FROM projects")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut failures = tx.prepare_cached("DELETE FROM failure_days WHERE project_id = ?1 AND day < ?2")?;
    for project_id in projects {
        gone += failures.execute(params![project_id, first_kept_day])?;
    }
    let old: Vec<(i64, i64, String)> = tx
        .prepare_cached(
            "SELECT t.project_id, t.test, t.kind FROM signal_totals t WHERE t.first_day < ?1
               AND EXISTS (SELECT 1 FROM signal_days d WHERE d.project_id = t.project_id AND d.test = t.test
                             AND d.kind = t.kind AND d.day > t.first_day AND d.day < ?1)",
        )?
        .query_map([first_kept_day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut base = tx.prepare_cached(
        "SELECT max(day) FROM signal_days WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day < ?4",
    )?;
    let mut delete =
        tx.prepare_cached("DELETE FROM signal_days WHERE project_id = ?1 AND test = ?2 AND kind = ?3 AND day < ?4")?;
    let mut first =
        tx.prepare_cached("UPDATE signal_totals SET first_day = ?4 WHERE project_id = ?1 AND test = ?2 AND kind = ?3")?;
    for (project_id, test, kind) in old {
        let kept: Option<i64> = base.query_row(params![project_id, test, kind, first_kept_day], |r| r.get(0))?;
        let Some(kept) = kept else { continue };
        gone += delete.execute(params![project_id, test, kind, kept])?;
        first.execute(params![project_id, test, kind, kept])?;
    }
    Ok(gone)
}
