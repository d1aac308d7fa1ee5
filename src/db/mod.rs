//! Storage: one SQLite file in WAL mode. Reads use an r2d2 pool; writes go
//! through a single writer connection in `BEGIN IMMEDIATE` transactions, so
//! writers queue in-process instead of fighting over SQLite's lock. Blocking
//! work runs on actix's blocking pool, never on the async executor. All SQL
//! lives in this module's files.

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

    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> Result<T, AppError>) -> Result<T, AppError> {
        let conn = self.read.get()?;
        f(&conn)
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
