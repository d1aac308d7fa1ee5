//! Storage-level checks of folding, windows, the backfill and retention.

use super::*;
use crate::config::Synchronous;
use crate::db::Db;
use crate::domain::report::Outcome;

fn open(path: &std::path::Path) -> Db {
    Db::open(path, Synchronous::Normal).unwrap()
}

#[test]
fn an_interrupted_backfill_resumes_and_digests_every_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let db = open(&path);
    db.write_blocking(|tx| {
        tx.execute_batch(
            "INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1);
             INSERT INTO runs (seq, id, project_id, created_at)
                 VALUES (1, 'a', 1, 86400), (2, 'b', 1, 86401), (3, 'c', 1, 172800);
             INSERT INTO results (run, test, status, duration_ms, fingerprint)
                 VALUES (1, 1, 'passed', 10, NULL), (1, 2, 'failed', 20, 7), (2, 1, 'passed', 30, NULL),
                        (3, 1, 'skipped', NULL, NULL), (3, 2, 'failed', 40, 7);
             INSERT INTO rollup_backfill (id, next_seq, last_seq) VALUES (1, 0, 3);",
        )
        .map_err(DbError::from)
    })
    .unwrap();
    let step = |db: &Db| db.write_blocking(|tx| backfill(tx, 1)).unwrap();
    assert_eq!(step(&db), Some(Backfill { done_seq: 1, last_seq: 3, results: 2 }));
    // Stopped here, as by a crash; the next start goes on from run 2.
    drop(db);
    let db = open(&path);
    assert_eq!(step(&db), Some(Backfill { done_seq: 2, last_seq: 3, results: 1 }));
    assert_eq!(step(&db), Some(Backfill { done_seq: 3, last_seq: 3, results: 2 }));
    assert_eq!(step(&db), None);
    let digests: (i64, i64) = db
        .read_blocking(|c| {
            c.query_row("SELECT count(*), sum(entries) FROM rollup_digests", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(DbError::from)
        })
        .unwrap();
    assert_eq!(digests, (3, 5), "one digest per run, one entry per result");
    while db.write_blocking(|tx| fold(tx, 1)).unwrap().more {}
    let (all, failed) =
        db.read_blocking(|c| Ok::<_, DbError>((window(c, 1, 1, Tests::All)?, failures(c, 1, 1)?))).unwrap();
    let t1 = &all[&1];
    assert_eq!((t1.results(), t1.count(Outcome::Skipped), t1.durations.count()), (3, 1, 2));
    assert_eq!((all[&2].failing(), all[&2].durations.percentile(100.0)), (2, Some(40)));
    assert_eq!(failed[&(7, 2)], Failures { failures: 2, first_at: 86400, last_at: 172800 });
    // A window from day 2 holds run 3 only.
    let day2 = db.read_blocking(|c| window(c, 1, 2, Tests::Only(&[1, 2]))).unwrap();
    assert_eq!((day2[&1].results(), day2[&2].results()), (1, 1));
}

fn passed(test: i64, ms: u64) -> DigestWriter {
    let mut digest = DigestWriter::default();
    digest.push(&Entry { test, outcome: Outcome::Passed, removed: false, duration_ms: Some(ms), fingerprint: None });
    digest
}

#[test]
fn a_late_report_moves_every_later_days_totals_by_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir.path().join("t.db"));
    let results =
        |db: &Db, first_day: i64| db.read_blocking(|c| window(c, 1, first_day, Tests::All)).unwrap()[&1].results();
    db.write_blocking(|tx| {
        tx.execute("INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1)", [])?;
        for day in 1..=4 {
            queue(tx, 1, day * 86_400, passed(1, day as u64))?;
            while fold(tx, 1)?.more {}
        }
        // A run of day 1 gets a report after days 2 to 4 were folded.
        queue(tx, 1, 86_400 + 5, passed(1, 500))?;
        while fold(tx, 1)?.more {}
        Ok::<_, DbError>(())
    })
    .unwrap();
    assert_eq!((results(&db, 1), results(&db, 2), results(&db, 3), results(&db, 4)), (5, 3, 2, 1));
    let totals: Vec<i64> = db
        .read_blocking(|c| {
            let mut stmt = c.prepare_cached("SELECT passed FROM test_days WHERE test = 1 ORDER BY day")?;
            let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok::<_, DbError>(rows)
        })
        .unwrap();
    assert_eq!(totals, [2, 3, 4, 5], "running totals through each day");
}

#[test]
fn a_backfill_goes_on_past_a_step_of_runs_with_few_results() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir.path().join("t.db"));
    let runs = i64::from(BACKFILL_RUNS) + 5;
    db.write_blocking(|tx| {
        tx.execute("INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1)", [])?;
        tx.execute(
            "WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < ?1)
             INSERT INTO runs (seq, id, project_id, created_at) SELECT seq, 'r' || seq, 1, 86400 + seq FROM n",
            [runs],
        )?;
        tx.execute("INSERT INTO results (run, test, status, duration_ms) SELECT seq, 1, 'passed', 3 FROM runs", [])?;
        tx.execute("INSERT INTO rollup_backfill (id, next_seq, last_seq) VALUES (1, 0, ?1)", [runs])?;
        Ok::<_, DbError>(())
    })
    .unwrap();
    let step = || db.write_blocking(|tx| backfill(tx, 1_000_000)).unwrap();
    assert_eq!(step(), Some(Backfill { done_seq: i64::from(BACKFILL_RUNS), last_seq: runs, results: 10_000 }));
    assert_eq!(step(), Some(Backfill { done_seq: runs, last_seq: runs, results: 5 }));
    assert_eq!(step(), None);
    while db.write_blocking(|tx| fold(tx, 1)).unwrap().more {}
    let all = db.read_blocking(|c| window(c, 1, 0, Tests::All)).unwrap();
    assert_eq!(all[&1].results(), runs);
}

#[test]
fn pruning_keeps_the_totals_windows_subtract() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir.path().join("t.db"));
    db.write_blocking(|tx| {
        tx.execute("INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1)", [])?;
        for day in 1..=5 {
            let mut digest = DigestWriter::default();
            digest.push(&Entry {
                test: 1,
                outcome: Outcome::Failed,
                removed: false,
                duration_ms: Some(day as u64 * 100),
                fingerprint: Some(9),
            });
            queue(tx, 1, day * 86_400, digest)?;
        }
        while fold(tx, 1)?.more {}
        Ok::<_, DbError>(())
    })
    .unwrap();
    let before = db.read_blocking(|c| window(c, 1, 4, Tests::All)).unwrap();
    let gone = db.write_blocking(|tx| prune(tx, 4)).unwrap();
    // Days 1 and 2 of test_days and days 1–3 of failure_days.
    assert_eq!(gone, 2 + 3);
    let after = db.read_blocking(|c| window(c, 1, 4, Tests::All)).unwrap();
    assert_eq!(after, before);
    assert_eq!(after[&1].results(), 2);
    assert_eq!(db.read_blocking(|c| failures(c, 1, 1)).unwrap()[&(9, 1)].failures, 2);
}
