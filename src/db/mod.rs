//! Storage: one SQLite file in WAL mode. Reads use an r2d2 pool, each read
//! one read transaction (one snapshot for all its statements); writes go
//! through a single writer connection in `BEGIN IMMEDIATE` transactions, so
//! writers queue in-process instead of fighting over SQLite's lock. Blocking
//! work runs on actix's blocking pool, never on the async executor. All SQL
//! lives in this module's files.
//!
//! Every statement is prepared once per connection (`prepare_cached`) and
//! must stay prepared: a row limit is written `LIMIT CAST(?n AS INTEGER)`,
//! never `LIMIT ?n`. SQLite's planner reads a bare bound limit, so binding it
//! again expires the statement and the next step parses and plans the query
//! anew; that was 40% of the time of `GET …/runs?limit=1` (see the tests).

pub mod accounts;
pub mod analysis;
pub mod attachments;
pub mod audit;
pub mod compare;
pub mod migrate;
pub mod pages;
pub mod projects;
pub mod results;
pub mod roles;
pub mod runs;
pub mod sessions;
pub mod settings;
pub mod tokens;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::config::Synchronous;
use crate::error::AppError;

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    read: Pool,
    writer: Arc<Mutex<Connection>>,
}

const BUSY_TIMEOUT_MS: u64 = 5000;
const WRITER_CACHE_KIB: i64 = 12 * 1024;

/// Pragmas every connection needs (WAL itself is persistent and set once).
fn configure(conn: &Connection, sync: Synchronous) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {}; PRAGMA temp_store = MEMORY;",
        sync.pragma()
    ))
}

impl Db {
    /// Opens (creating if needed) the database, enables WAL and migrates it.
    pub fn open(path: &Path, sync: Synchronous) -> Result<Db, AppError> {
        // Our own mutex serializes the writer, so SQLite's per-call mutex is
        // pure overhead on the ingestion path.
        let mut writer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        configure(&writer, sync)?;
        // Storing a report probes the tests index once per case; 12 MiB keeps
        // most of a 200,000-test project's index in memory (bench/ingest.sh:
        // ~0.37 s instead of ~0.5 s with the 2 MiB default; 16 MiB gained
        // little more and pushed peak memory past twice the report's size).
        // The cache only grows as pages are used.
        writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        migrate::migrate(&mut writer).map_err(AppError::internal)?;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)
            .with_init(move |c| configure(c, sync));
        let read = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            // A connection to a local file does not go stale; checking it on
            // every checkout ran a statement per read (4% of a keyed read).
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        Ok(Db { read, writer: Arc::new(Mutex::new(writer)) })
    }

    /// Runs `f` on a read connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.read_blocking(f)).await?
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`), off the async
    /// executor; commits when `f` returns `Ok`, rolls back otherwise.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.write_blocking(f)).await?
    }

    /// Runs `f` in one read transaction: its statements see one snapshot,
    /// and take SQLite's WAL read lock once rather than once each.
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> Result<T, AppError>) -> Result<T, AppError> {
        let conn = self.read.get()?;
        let snapshot = ReadTransaction::begin(&conn)?;
        let value = f(&conn);
        snapshot.end()?;
        value
    }

    pub fn write_blocking<T>(&self, f: impl FnOnce(&Transaction) -> Result<T, AppError>) -> Result<T, AppError> {
        // A panic while holding the lock leaves the connection usable: the
        // transaction was dropped (rolled back) during unwinding.
        let mut conn = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Whether the database answers (for `/healthz`).
    pub fn ping(&self) -> Result<(), AppError> {
        self.read_blocking(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }
}

/// A read transaction on a pooled connection, begun and ended with cached
/// statements (parsed once per connection). Dropped without [`Self::end`]
/// (a panic in the read), it rolls back, so the connection goes back to the
/// pool outside any transaction.
struct ReadTransaction<'c>(&'c Connection);

impl<'c> ReadTransaction<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("BEGIN")?.execute([])?;
        Ok(ReadTransaction(conn))
    }

    fn end(self) -> rusqlite::Result<()> {
        self.0.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl Drop for ReadTransaction<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

/// A uniqueness violation (to turn into a 409 instead of a 500).
pub fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// Serializes unix seconds as RFC 3339 (for `#[serde(serialize_with)]`).
pub fn serialize_unix<S: serde::Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::domain::time::rfc3339_unix(*secs))
}

/// Like [`serialize_unix`], for optional times (`null` when absent).
pub fn serialize_unix_opt<S: serde::Serializer>(secs: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match secs {
        Some(secs) => serialize_unix(secs, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{params, Connection, StatementStatus};

    /// How often SQLite prepared `sql` again after running it with four limits.
    fn reprepares_with_new_limits(sql: &str) -> i32 {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, project INTEGER);
             CREATE INDEX runs_by_project ON runs(project, id);
             INSERT INTO runs VALUES (1, 1), (2, 1), (3, 1);",
        )
        .unwrap();
        for limit in [1u32, 2, 3, 1] {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            assert_eq!(stmt.query_map(params![1, limit], |r| r.get::<_, i64>(0)).unwrap().count(), limit as usize);
        }
        let stmt = conn.prepare_cached(sql).unwrap();
        stmt.get_status(StatementStatus::RePrepare)
    }

    #[test]
    fn a_cast_limit_keeps_the_statement_prepared_where_a_bare_one_does_not() {
        let bare = "SELECT id FROM runs WHERE project = ?1 ORDER BY id DESC LIMIT ?2";
        let cast = "SELECT id FROM runs WHERE project = ?1 ORDER BY id DESC LIMIT CAST(?2 AS INTEGER)";
        // If SQLite stops re-preparing for a bare limit, this rule can go.
        assert!(reprepares_with_new_limits(bare) > 0);
        assert_eq!(reprepares_with_new_limits(cast), 0);
    }

    #[test]
    fn a_read_is_one_snapshot_and_a_panicking_one_leaves_no_transaction_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::Db::open(&dir.path().join("t.db"), crate::config::Synchronous::Normal).unwrap();
        db.write_blocking(|tx| Ok(tx.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);")?)).unwrap();
        // A write committed between two statements of one read is not seen by the second.
        let counts = db
            .read_blocking(|c| {
                let first: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
                db.write_blocking(|tx| Ok(tx.execute("INSERT INTO t VALUES (2)", [])?))?;
                let second: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
                Ok((first, second))
            })
            .unwrap();
        assert_eq!(counts, (1, 1));
        // The pool has one idle connection at first; a panic inside a read must not leave it in a transaction.
        for _ in 0..3 {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                db.read_blocking(|_| -> Result<(), crate::error::AppError> { panic!("boom") })
            }));
            assert!(panicked.is_err());
            let n: i64 = db.read_blocking(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)).unwrap();
            assert_eq!(n, 2);
        }
    }

    #[test]
    fn no_statement_binds_a_bare_limit() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            // This file names the bare form to explain and test it.
            if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("mod.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(!text.contains(&["LIMIT", " ?"].concat()), "{} binds a bare LIMIT ?", path.display());
            }
        }
    }
}
