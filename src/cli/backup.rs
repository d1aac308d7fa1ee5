//! `proctor backup --to FILE`: a consistent copy of the live database
//! (`VACUUM INTO` reads one snapshot while the server keeps writing) and the
//! instance secret beside it as `FILE.key`. Without the secret, a restored
//! database cannot verify any token.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::CliError;
use crate::config::Config;

pub fn run(config: &Config, to: &Path) -> Result<(), CliError> {
    let db_path = config.db_path();
    if !db_path.exists() {
        return Err(CliError::Message(format!("no database at {}", db_path.display())));
    }
    if to.exists() {
        return Err(CliError::Message(format!("{} already exists; choose a new file", to.display())));
    }
    let key_to = key_path(to);
    if key_to.exists() {
        return Err(CliError::Message(format!("{} already exists; choose a new file", key_to.display())));
    }
    let conn = Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| CliError::Message(format!("opening {}: {e}", db_path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| CliError::Message(e.to_string()))?;
    let dest = to.to_str().ok_or_else(|| CliError::Message("the backup path must be valid UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [dest]).map_err(|e| CliError::Message(format!("backup failed: {e}")))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o600))?;
    fs::copy(config.secret_key_path(), &key_to)?;
    fs::set_permissions(&key_to, fs::Permissions::from_mode(0o600))?;
    let check = Connection::open_with_flags(to, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)))
        .map_err(|e| CliError::Message(format!("verifying the copy: {e}")))?;
    if check != "ok" {
        return Err(CliError::Message(format!("the copy failed its integrity check: {check}")));
    }
    eprintln!("backed up {} to {} and the instance secret to {}", db_path.display(), to.display(), key_to.display());
    Ok(())
}

/// `backup.db` → `backup.db.key`
pub fn key_path(to: &Path) -> PathBuf {
    let mut name = to.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}
