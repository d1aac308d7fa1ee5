//! `proctor backup --to FILE`: a consistent copy of the live database
//! (`VACUUM INTO` reads one snapshot while the server keeps writing) and the
//! instance secret beside it as `FILE.key`. Without the secret, a restored
//! database cannot verify any token.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::config::Config;
use crate::db::backup;

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
    if to.to_str().is_none() {
        return Err(CliError::Message("the backup path must be valid UTF-8".into()));
    }
    backup::copy(&db_path, to)
        .map_err(|e| CliError::Message(format!("backup of {} failed: {e}", db_path.display())))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o600))?;
    fs::copy(config.secret_key_path(), &key_to)?;
    fs::set_permissions(&key_to, fs::Permissions::from_mode(0o600))?;
    let check = backup::integrity(to).map_err(|e| CliError::Message(format!("verifying the copy: {e}")))?;
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
