//! Attachments: storing one (file, then row; neither without the other),
//! and their files on disk: `attachments/<run id>/<attachment id>` under
//! the data directory. A file is received into `attachments/.incoming/`
//! (`crate::spool`), synced and renamed into place before its row is
//! inserted; a row is deleted before its file. A run's directory goes once
//! the transaction deleting the run committed (project deletion,
//! retention), and the housekeeping sweep removes any directory whose run
//! no longer exists (say, after a crash in between).

use std::fs;
use std::path::{Path, PathBuf};

use crate::db;
use crate::db::{DbError, Missing};
use crate::domain::attachment::safe_content_type;
use crate::domain::time::unix_now;
use crate::ops::OpsError;
use crate::spool::Spooled;
use crate::state::AppState;

/// Run and attachment ids are ours (UUIDs); anything else never reaches a path.
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub fn run_dir(root: &Path, run_id: &str) -> Option<PathBuf> {
    is_id(run_id).then(|| root.join(run_id))
}

pub fn file_path(root: &Path, run_id: &str, id: &str) -> Option<PathBuf> {
    run_dir(root, run_id).filter(|_| is_id(id)).map(|dir| dir.join(id))
}

/// An attachment as it arrived: its run (of `project_id`), the name and
/// content type the client gave, and the body, received into the
/// attachments' spool and hashed (`crate::spool`).
pub struct NewAttachment {
    pub project_id: i64,
    pub run_id: String,
    pub filename: String,
    pub declared_type: Option<String>,
    pub body: Spooled,
}

/// Stores an attachment: its file first, renamed durably into place from
/// the spool, then its row, if the run is still there; when the row cannot
/// be written the file goes too, so neither is left without the other.
pub fn store(db: &db::Db, root: &Path, new: NewAttachment) -> Result<db::attachments::Attachment, OpsError> {
    let sha256 = new.body.sha256.clone().ok_or_else(|| OpsError::internal("an attachment was spooled unhashed"))?;
    let attachment = db::attachments::Attachment {
        id: uuid::Uuid::now_v7().to_string(),
        run_id: new.run_id,
        content_type: safe_content_type(new.declared_type.as_deref(), &new.filename).to_string(),
        filename: new.filename,
        bytes: new.body.bytes as i64,
        sha256,
        created_at: unix_now(),
    };
    let (Some(dir), Some(path)) =
        (run_dir(root, &attachment.run_id), file_path(root, &attachment.run_id, &attachment.id))
    else {
        return Err(OpsError::internal("not an id"));
    };
    fs::create_dir_all(dir)?;
    new.body.persist(&path)?;
    let inserted = db.write_blocking(|tx| -> Result<_, DbError> {
        db::runs::get(tx, new.project_id, &attachment.run_id)?;
        db::attachments::insert(tx, &attachment)
    });
    if let Err(e) = inserted {
        remove_file(root, &attachment.run_id, &attachment.id);
        return Err(e.into());
    }
    Ok(attachment)
}

/// The bytes of a stored attachment. A row whose file is gone (removed by
/// hand, say) is "not found", and logged.
pub fn read_file(root: &Path, found: &db::attachments::Attachment) -> Result<Vec<u8>, OpsError> {
    let path = file_path(root, &found.run_id, &found.id)
        .ok_or_else(|| OpsError::internal("attachment id is not a file name"))?;
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::warn!("attachment {} has a row but no file", found.id);
            Err(DbError::NotFound(Missing::AttachmentFile).into())
        }
        Err(e) => Err(e.into()),
    }
}

pub fn remove_file(root: &Path, run_id: &str, id: &str) {
    if let Some(path) = file_path(root, run_id, id) {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("could not remove attachment {}: {e}", path.display()),
        }
    }
}

/// Removes the attachment directories of deleted runs.
pub fn remove_run_dirs(root: &Path, run_ids: &[String]) {
    for run_id in run_ids {
        if let Some(dir) = run_dir(root, run_id) {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::warn!("could not remove attachments {}: {e}", dir.display()),
            }
        }
    }
}

/// [`remove_run_dirs`] off the async executor.
pub async fn remove_run_dirs_async(state: &AppState, run_ids: Vec<String>) {
    if run_ids.is_empty() {
        return;
    }
    let root = state.config.attachments_dir();
    if let Err(e) = tokio::task::spawn_blocking(move || remove_run_dirs(&root, &run_ids)).await {
        log::warn!("could not remove attachment directories: {e}");
    }
}

/// Removes directories of runs that no longer exist; returns how many.
pub fn sweep_orphans(state: &AppState) -> Result<usize, OpsError> {
    let root = state.config.attachments_dir();
    let entries = match fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut gone = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_id(&name) && !state.db.read_blocking(|c| db::attachments::run_exists(c, &name))? {
            gone.push(name);
        }
    }
    remove_run_dirs(&root, &gone);
    Ok(gone.len())
}
