//! Schema migrations. `schema.sql` is version 1; every later change is one
//! numbered step appended to [`STEPS`], never edited once released. The
//! version lives in `PRAGMA user_version`. Rules:
//! - all pending steps run in one transaction at start, or none do;
//! - a database newer than this binary is refused (an old binary must not
//!   write a schema it does not know);
//! - `user_version` 0 with tables present is refused as not ours;
//! - steps run with foreign keys off, so a step may rebuild a table others
//!   refer to (SQLite's documented way to change a table's keys); the result
//!   must pass `PRAGMA foreign_key_check` or nothing is committed.

use rusqlite::Connection;

/// Step `i` brings the schema from version `i + 1` to `i + 2`.
const STEPS: &[&str] = &[
    include_str!("migrations/0002_tokens.sql"),
    include_str!("migrations/0003_runs.sql"),
    include_str!("migrations/0004_analysis.sql"),
    include_str!("migrations/0005_project_meta_epoch.sql"),
    include_str!("migrations/0006_result_attempts.sql"),
    include_str!("migrations/0007_integer_keys.sql"),
    include_str!("migrations/0008_stale_runs.sql"),
    include_str!("migrations/0009_quarantine.sql"),
    include_str!("migrations/0010_quarantined_results.sql"),
    include_str!("migrations/0011_flaky_signals.sql"),
    include_str!("migrations/0012_trusted_publishers.sql"),
    include_str!("migrations/0013_oidc_exchanges.sql"),
    include_str!("migrations/0014_webhooks.sql"),
    include_str!("migrations/0015_token_warnings.sql"),
    include_str!("migrations/0016_mail.sql"),
    include_str!("migrations/0017_pending_deliveries.sql"),
    include_str!("migrations/0018_unused_due_index.sql"),
    include_str!("migrations/0019_rollups.sql"),
    include_str!("migrations/0020_signal_rollups.sql"),
];

pub const SCHEMA_V1: &str = include_str!("../../schema.sql");

/// The schema version this binary writes.
pub fn latest_version() -> i64 {
    1 + STEPS.len() as i64
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the database is at schema version {found}, newer than this binary's {supported}; upgrade proctor")]
    TooNew { found: i64, supported: i64 },
    #[error("the database has tables but no proctor schema version; is it a proctor database?")]
    Foreign,
    #[error("migration would leave {0} rows pointing at missing rows; nothing was changed")]
    ForeignKeys(i64),
    #[error("migration failed: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Brings the database to [`latest_version`]; returns the version it found.
pub fn migrate(conn: &mut Connection) -> Result<i64, MigrateError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let latest = latest_version();
    if found > latest {
        return Err(MigrateError::TooNew { found, supported: latest });
    }
    if found == latest {
        return Ok(found);
    }
    // Not changeable inside a transaction; restored below whatever happens.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let result = run_steps(conn, found, latest);
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    result?;
    Ok(found)
}

fn run_steps(conn: &mut Connection, found: i64, latest: i64) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    if found == 0 {
        let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))?;
        if tables > 0 {
            return Err(MigrateError::Foreign);
        }
        tx.execute_batch(SCHEMA_V1)?;
    }
    for step in &STEPS[(found.max(1) - 1) as usize..] {
        tx.execute_batch(step)?;
    }
    let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
    if broken > 0 {
        return Err(MigrateError::ForeignKeys(broken));
    }
    // PRAGMA takes no bound parameters; `latest` is our own integer.
    tx.execute_batch(&format!("PRAGMA user_version = {latest}"))?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_reaches_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, latest_version());
        assert_eq!(migrate(&mut conn).unwrap(), latest_version(), "second run is a no-op");
    }

    /// Builds a database as version `v` of the binary left it.
    fn database_at(v: i64) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        for step in &STEPS[..(v - 1) as usize] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(&format!("PRAGMA user_version = {v}; PRAGMA foreign_keys = ON")).unwrap();
        conn
    }

    #[test]
    fn every_earlier_version_migrates_and_keeps_its_data() {
        for v in 1..=latest_version() {
            let mut conn = database_at(v);
            conn.execute(
                "INSERT INTO accounts (id, kind, email, name, password_hash, role, created_at)
                 VALUES ('a1', 'user', 'ada@example.com', 'Ada', 'x', 'admin', 1)",
                [],
            )
            .unwrap();
            conn.execute("INSERT INTO projects (slug, name, created_at) VALUES ('web', 'Web', 1)", []).unwrap();
            assert_eq!(migrate(&mut conn).unwrap(), v);
            let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
            assert_eq!(found, latest_version());
            let email: String = conn.query_row("SELECT email FROM accounts", [], |r| r.get(0)).unwrap();
            assert_eq!(email, "ada@example.com");
            let fresh = {
                let mut c = Connection::open_in_memory().unwrap();
                migrate(&mut c).unwrap();
                schema_of(&c)
            };
            assert_eq!(schema_of(&conn), fresh, "migrated v{v} differs from a fresh database");
        }
    }

    /// Version 7 re-keys runs, tests and results; every row must survive,
    /// still joined the same way.
    #[test]
    fn results_survive_the_move_to_integer_keys() {
        let mut conn = database_at(6);
        conn.execute_batch(
            "INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1), (2, 'api', 'API', 1);
             INSERT INTO runs (id, project_id, status, created_at, tests, failed) VALUES
               ('0190-a', 1, 'failed', 10, 2, 1), ('0190-b', 2, 'passed', 11, 1, 0);
             INSERT INTO tests (project_id, test_id, suite, classname, name) VALUES
               (1, '00112233445566778899aabbccddeeff', 's', 'C', 'one'),
               (1, 'ffeeddccbbaa99887766554433221100', 's', 'C', 'two'),
               (2, '00112233445566778899aabbccddeeff', 's', 'C', 'one');
             INSERT INTO results (run_id, test_id, status, duration_ms, retries, attempts, message, attempt_bits) VALUES
               ('0190-a', '00112233445566778899aabbccddeeff', 'passed', 5, 0, 1, NULL, 1),
               ('0190-a', 'ffeeddccbbaa99887766554433221100', 'failed', 7, 1, 2, 'boom', 2),
               ('0190-b', '00112233445566778899aabbccddeeff', 'flaky', 9, 1, 2, NULL, 3);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows: Vec<(String, i64, String, String, Option<String>, i64)> = conn
            .prepare(
                "SELECT ru.id, t.project_id, lower(hex(t.test_id)), r.status, r.message, r.attempts
                 FROM results r JOIN runs ru ON ru.seq = r.run JOIN tests t ON t.id = r.test
                 ORDER BY ru.id, t.test_id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let id = |s: &str| s.to_string();
        assert_eq!(
            rows,
            vec![
                (id("0190-a"), 1, id("00112233445566778899aabbccddeeff"), id("passed"), None, 1),
                (id("0190-a"), 1, id("ffeeddccbbaa99887766554433221100"), id("failed"), Some(id("boom")), 2),
                (id("0190-b"), 2, id("00112233445566778899aabbccddeeff"), id("flaky"), None, 2),
            ]
        );
        let runs: i64 = conn.query_row("SELECT count(*) FROM runs WHERE tests > 0", [], |r| r.get(0)).unwrap();
        assert_eq!(runs, 2, "run counts kept");
        // Foreign keys are back on and cascade through the new keys.
        conn.execute("DELETE FROM projects WHERE id = 1", []).unwrap();
        let left: i64 = conn.query_row("SELECT count(*) FROM results", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 1);
    }

    /// Version 11 derives the flakiness signals of the runs already stored,
    /// as closing each run would have.
    #[test]
    fn stored_runs_get_their_flakiness_signals() {
        let mut conn = database_at(10);
        // Test 1 on main: pass, fail, pass (two changes), then a retry; test
        // 2 passed and failed on commit c9 of a branch; a running run is ignored.
        conn.execute_batch(
            "INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'web', 'Web', 1);
             INSERT INTO tests (id, project_id, test_id, suite, classname, name) VALUES
               (1, 1, x'01', 's', 'C', 'one'), (2, 1, x'02', 's', 'C', 'two');
             INSERT INTO runs (seq, id, project_id, status, branch, commit_sha, created_at) VALUES
               (1, 'r1', 1, 'passed', 'main', 'c1', 10), (2, 'r2', 1, 'failed', 'main', 'c2', 20),
               (3, 'r3', 1, 'passed', 'main', 'c3', 30), (4, 'r4', 1, 'passed', 'main', 'c4', 40),
               (5, 'r5', 1, 'passed', 'dev', 'c9', 50), (6, 'r6', 1, 'failed', 'dev', 'c9', 60),
               (7, 'r7', 1, 'running', 'main', 'c7', 70);
             INSERT INTO results (run, test, status) VALUES
               (1, 1, 'passed'), (2, 1, 'failed'), (3, 1, 'passed'), (4, 1, 'flaky'), (7, 1, 'failed'),
               (5, 2, 'passed'), (6, 2, 'error');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let events: Vec<(i64, String, i64, i64, Option<String>)> = conn
            .prepare("SELECT test, kind, run, at, commit_sha FROM flaky_signals ORDER BY test, run, kind")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let s = |k: &str| k.to_string();
        assert_eq!(
            events,
            vec![
                (1, s("flip"), 2, 20, None),
                (1, s("flip"), 3, 30, None),
                (1, s("retry"), 4, 40, None),
                (2, s("same_commit"), 6, 60, Some(s("c9"))),
            ]
        );
        let standing: Vec<(i64, bool)> = conn
            .prepare("SELECT test, failing FROM flip_state ORDER BY test")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(standing, vec![(1, false)], "test 1 failed on main once and passes there now");
        // Version 20 rolls them up: the flips are one day's two events.
        let totals: Vec<(i64, String, i64, i64, i64)> = conn
            .prepare("SELECT test, kind, total, first_at, last_at FROM signal_totals ORDER BY test, kind")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            totals,
            vec![(1, s("flip"), 2, 20, 30), (1, s("retry"), 1, 40, 40), (2, s("same_commit"), 1, 60, 60)]
        );
        let days: i64 = conn.query_row("SELECT count(*) FROM signal_days WHERE day = 0", [], |r| r.get(0)).unwrap();
        assert_eq!(days, 3);
    }

    /// Version 12 rebuilds `tokens` to admit `oidc`: every token survives
    /// with its project list, and a change still bumps the auth epoch.
    #[test]
    fn tokens_survive_the_rebuild_for_oidc() {
        let mut conn = database_at(11);
        conn.execute_batch(
            "INSERT INTO accounts (id, kind, email, name, password_hash, role, created_at)
                 VALUES ('a1', 'user', 'ada@example.com', 'Ada', 'x', 'admin', 1);
             INSERT INTO projects (slug, name, created_at) VALUES ('web', 'Web', 1);
             INSERT INTO tokens (id, kind, name, hash, preview, owner_id, permissions, all_projects, created_at,
                 created_by_type) VALUES ('t1', 'pat', 'ci', x'01', 'prc_pat_a…b', 'a1', 'runs:read', 0, 1, 'system');
             INSERT INTO tokens (id, kind, name, hash, preview, project_id, permissions, created_at, created_by_type)
                 VALUES ('t2', 'key', 'k', x'02', 'prc_key_a…b', 1, 'runs:write', 1, 'system');
             INSERT INTO token_projects (token_id, project_id) VALUES ('t1', 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let kinds: Vec<String> = conn
            .prepare("SELECT kind FROM tokens ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(kinds, ["pat", "key"]);
        let restricted: i64 =
            conn.query_row("SELECT count(*) FROM token_projects WHERE token_id = 't1'", [], |r| r.get(0)).unwrap();
        assert_eq!(restricted, 1);
        let epoch = |c: &Connection| -> i64 { c.query_row("SELECT n FROM auth_epoch", [], |r| r.get(0)).unwrap() };
        let before = epoch(&conn);
        conn.execute("UPDATE tokens SET revoked_at = 5 WHERE id = 't2'", []).unwrap();
        assert_eq!(epoch(&conn), before + 1, "the trigger came back with the table");
        // An exchanged token belongs to a project and must expire; a PAT cannot be one.
        let oidc = "INSERT INTO tokens (id, kind, name, hash, preview, project_id, permissions, created_at, created_by_type, expires_at)
                    VALUES (?1, 'oidc', 'gh', ?2, 'prc_oidc_a…b', ?3, 'runs:write', 1, 'system', ?4)";
        assert!(conn.execute(oidc, rusqlite::params!["t3", vec![3u8], 1, 100]).is_ok());
        assert!(conn.execute(oidc, rusqlite::params!["t4", vec![4u8], Option::<i64>::None, 100]).is_err());
        assert!(conn.execute(oidc, rusqlite::params!["t5", vec![5u8], 1, Option::<i64>::None]).is_err());
    }

    fn schema_of(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", latest_version() + 1)).unwrap();
        assert!(matches!(migrate(&mut conn), Err(MigrateError::TooNew { .. })));
    }

    #[test]
    fn foreign_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        assert!(matches!(migrate(&mut conn), Err(MigrateError::Foreign)));
    }

    #[test]
    fn audit_log_is_append_only() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute("INSERT INTO audit_events (at, actor_type, action) VALUES (1, 'system', 'x')", []).unwrap();
        assert!(conn.execute("UPDATE audit_events SET action = 'y'", []).is_err());
        assert!(conn.execute("DELETE FROM audit_events", []).is_err());
    }
}
