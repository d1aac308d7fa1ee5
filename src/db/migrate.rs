//! Schema migrations. `schema.sql` is version 1; every later change is one
//! numbered step appended to [`STEPS`], never edited once released. The
//! version lives in `PRAGMA user_version`. Rules:
//! - all pending steps run in one transaction at start, or none do;
//! - a database newer than this binary is refused (an old binary must not
//!   write a schema it does not know);
//! - `user_version` 0 with tables present is refused as not ours.

use rusqlite::Connection;

/// Step `i` brings the schema from version `i + 1` to `i + 2`.
const STEPS: &[&str] = &[
    include_str!("migrations/0002_tokens.sql"),
    include_str!("migrations/0003_runs.sql"),
    include_str!("migrations/0004_analysis.sql"),
    include_str!("migrations/0005_project_meta_epoch.sql"),
    include_str!("migrations/0006_result_attempts.sql"),
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
    // PRAGMA takes no bound parameters; `latest` is our own integer.
    tx.execute_batch(&format!("PRAGMA user_version = {latest}"))?;
    tx.commit()?;
    Ok(found)
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
        conn.execute_batch(SCHEMA_V1).unwrap();
        for step in &STEPS[..(v - 1) as usize] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(&format!("PRAGMA user_version = {v}")).unwrap();
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
