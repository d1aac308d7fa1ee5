//! Storage: one SQLite file in WAL mode. Reads use an r2d2 pool, each read
//! one read transaction (one snapshot for all its statements); writes go
//! through a single writer connection in `BEGIN IMMEDIATE` transactions, so
//! writers queue in-process instead of fighting over SQLite's lock. Blocking
//! work runs on the runtime's blocking pool, never on the async executor.
//!
//! All SQL lives in this module's files, and the compiler keeps it there:
//! callers get a [`Conn`] (a read) or a [`Tx`] (a write transaction), which
//! they can only hand to this module's functions; the methods that run SQL
//! on them are visible inside `db` alone. Failures are a [`DbError`], which
//! names what was missing or collided, never an HTTP status.
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
pub mod backup;
pub mod compare;
mod error;
pub mod failures;
pub mod flaky;
pub mod mail;
pub mod migrate;
pub mod pages;
pub mod projects;
pub mod publishers;
pub mod quarantine;
pub mod results;
pub mod roles;
pub mod rollups;
pub mod runs;
pub mod sessions;
pub mod settings;
pub mod signals;
pub mod tokens;
pub mod watch;
pub mod webhooks;

pub use error::{Conflict, DbError, Missing};

use std::cell::Cell;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{CachedStatement, Connection, OpenFlags, Params, Row, TransactionBehavior};

use crate::config::Synchronous;

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    read: Pool,
    writer: Arc<Mutex<Connection>>,
    /// Rung after a write that queued outgoing messages commits.
    outbox: Arc<tokio::sync::Notify>,
}

const BUSY_TIMEOUT_MS: u64 = 5000;
const WRITER_CACHE_KIB: i64 = 10 * 1024;

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
    pub fn open(path: &Path, sync: Synchronous) -> Result<Db, DbError> {
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
        // Storing a report probes the tests index once per case; 10 MiB keeps
        // most of a 200,000-test project's index in memory (bench/ingest.sh:
        // ~0.37 s instead of ~0.5 s with the 2 MiB default). It is most of
        // what an upload adds to the server's memory (docs/performance.md,
        // "Streaming uploads": 12 MiB was up to a tenth faster but took one
        // 28 MB upload past half its size; 8 MiB lost 12%). The cache only
        // grows as pages are used.
        writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        migrate::migrate(&mut writer).map_err(DbError::internal)?;
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
        Ok(Db { read, writer: Arc::new(Mutex::new(writer)), outbox: Arc::default() })
    }

    /// Runs `f` in one read transaction, off the async executor.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Conn) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        off_executor(move || db.read_blocking(f)).await?
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`), off the async
    /// executor; commits when `f` returns `Ok`, rolls back otherwise.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Tx) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        off_executor(move || db.write_blocking(f)).await?
    }

    /// Runs `f` in one read transaction: its statements see one snapshot,
    /// and take SQLite's WAL read lock once rather than once each.
    pub fn read_blocking<T, E: From<DbError>>(&self, f: impl FnOnce(&Conn) -> Result<T, E>) -> Result<T, E> {
        let conn = self.read.get().map_err(DbError::from)?;
        let snapshot = ReadTransaction::begin(&conn).map_err(DbError::from)?;
        let value = f(&Conn(&conn));
        snapshot.end().map_err(DbError::from)?;
        value
    }

    pub fn write_blocking<T, E: From<DbError>>(&self, f: impl FnOnce(&Tx) -> Result<T, E>) -> Result<T, E> {
        // A panic while holding the lock leaves the connection usable: the
        // transaction was dropped (rolled back) during unwinding.
        let mut conn = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(DbError::from)?;
        let write = Tx { conn: Conn(&tx), queued: Cell::new(false) };
        let value = f(&write)?;
        let queued = write.queued.get();
        tx.commit().map_err(DbError::from)?;
        if queued {
            self.outbox.notify_one();
        }
        Ok(value)
    }

    /// Waits until a write that queued a webhook delivery or a mail has
    /// committed since the last call (at once if one already has): what
    /// wakes the delivery worker.
    pub async fn outbox_filled(&self) {
        self.outbox.notified().await;
    }

    /// Whether the database answers (for `/healthz`).
    pub fn ping(&self) -> Result<(), DbError> {
        self.read_blocking(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }
}

async fn off_executor<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, DbError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| DbError::Internal(format!("blocking task: {e}")))
}

/// A read: one snapshot of the database. Only this module runs SQL on it;
/// everyone else passes it to a `db` function.
pub struct Conn<'c>(&'c Connection);

/// A write transaction. It reads like a [`Conn`] (it derefs to one), and
/// only this module runs SQL on it.
pub struct Tx<'c> {
    conn: Conn<'c>,
    /// Whether it queued something for the delivery worker.
    queued: Cell<bool>,
}

impl<'c> std::ops::Deref for Tx<'c> {
    type Target = Conn<'c>;
    fn deref(&self) -> &Conn<'c> {
        &self.conn
    }
}

impl Tx<'_> {
    /// Marks the transaction as one that queued an outgoing message, so
    /// that its commit wakes the delivery worker ([`Db::outbox_filled`]).
    pub(in crate::db) fn queued_outgoing(&self) {
        self.queued.set(true);
    }
}

impl<'c> Conn<'c> {
    pub(in crate::db) fn prepare_cached(&self, sql: &str) -> rusqlite::Result<CachedStatement<'c>> {
        self.0.prepare_cached(sql)
    }

    pub(in crate::db) fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.0.query_row(sql, params, f)
    }

    pub(in crate::db) fn execute<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.0.execute(sql, params)
    }

    pub(in crate::db) fn execute_batch(&self, sql: &str) -> rusqlite::Result<()> {
        self.0.execute_batch(sql)
    }

    pub(in crate::db) fn last_insert_rowid(&self) -> i64 {
        self.0.last_insert_rowid()
    }
}

impl Tx<'_> {
    /// Runs `f` under a savepoint of this transaction: what it wrote stays
    /// when it returns `Ok` and `keep` agrees, and is undone otherwise (the
    /// transaction itself goes on either way).
    pub fn savepoint<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Tx) -> Result<T, E>,
        keep: impl FnOnce(&T) -> bool,
    ) -> Result<T, E> {
        self.execute_batch("SAVEPOINT nested").map_err(DbError::from)?;
        let result = f(self);
        let end = match &result {
            Ok(value) if keep(value) => "RELEASE nested",
            _ => "ROLLBACK TO nested; RELEASE nested",
        };
        self.execute_batch(end).map_err(DbError::from)?;
        result
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

    use super::DbError;

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
        db.write_blocking(|tx| {
            Ok::<_, DbError>(tx.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);")?)
        })
        .unwrap();
        // A write committed between two statements of one read is not seen by the second.
        let counts = db
            .read_blocking(|c| -> Result<_, DbError> {
                let first: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
                db.write_blocking(|tx| Ok::<_, DbError>(tx.execute("INSERT INTO t VALUES (2)", [])?))?;
                let second: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
                Ok((first, second))
            })
            .unwrap();
        assert_eq!(counts, (1, 1));
        // The pool has one idle connection at first; a panic inside a read must not leave it in a transaction.
        for _ in 0..3 {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                db.read_blocking(|_| -> Result<(), DbError> { panic!("boom") })
            }));
            assert!(panicked.is_err());
            let n: i64 = db
                .read_blocking(|c| Ok::<_, DbError>(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
                .unwrap();
            assert_eq!(n, 2);
        }
    }

    #[tokio::test]
    async fn only_a_committed_write_that_queued_something_rings_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::Db::open(&dir.path().join("t.db"), crate::config::Synchronous::Normal).unwrap();
        let rang = |db: &super::Db| {
            let db = db.clone();
            async move { tokio::time::timeout(std::time::Duration::from_millis(50), db.outbox_filled()).await.is_ok() }
        };
        db.write_blocking(|tx| Ok::<_, DbError>(tx.execute_batch("CREATE TABLE t (n INTEGER)")?)).unwrap();
        assert!(!rang(&db).await, "a write that queued nothing");
        let failed = db.write_blocking(|tx| -> Result<(), DbError> {
            tx.queued_outgoing();
            Err(DbError::Internal("rolled back".into()))
        });
        assert!(failed.is_err());
        assert!(!rang(&db).await, "a rolled-back write");
        db.write_blocking(|tx| {
            tx.queued_outgoing();
            Ok::<_, DbError>(())
        })
        .unwrap();
        assert!(rang(&db).await, "a committed one, even with nobody waiting yet");
        assert!(!rang(&db).await, "once");
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
