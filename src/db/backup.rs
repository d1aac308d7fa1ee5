//! A consistent copy of a live database, and the check that a copy is whole.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::db::DbError;

/// Writes a compacted copy of the database at `from` to the new file `to`.
/// `VACUUM INTO` reads one snapshot, so a server may keep writing meanwhile.
pub fn copy(from: &Path, to: &Path) -> Result<(), DbError> {
    let conn = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let dest = to.to_str().ok_or_else(|| DbError::internal("the backup path must be valid UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [dest])?;
    Ok(())
}

/// SQLite's `integrity_check` of the database at `path`: `"ok"` when whole,
/// otherwise its first finding.
pub fn integrity(path: &Path) -> Result<String, DbError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))?)
}
