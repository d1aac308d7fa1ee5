//! The in-process cache of token checks, keyed by the token's HMAC. It is
//! invalidated without timers: before every use it asks whether anyone —
//! this server's writer or the offline CLI — committed since the last look;
//! if so it reads the `auth_epoch` counter that triggers bump on every
//! auth-relevant change, and clears itself when that moved. A revoke that
//! committed before its response was sent is therefore seen by every request
//! that starts after.
//!
//! "Did anyone commit?" is answered in two steps. The fast one reads the
//! WAL-index header in the `-shm` file (documented in SQLite's "WAL-mode
//! file format": `iChange` is incremented by every write transaction, and
//! `mxFrame`/salts move with every commit and checkpoint) through a
//! read-only memory map: no lock, no system call. Only when that header
//! changed, or cannot be read consistently, does the cache ask SQLite
//! itself (it reads `auth_epoch` on a connection of its own), which takes
//! file locks and costs more than the rest of the token check together.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OpenFlags};

use crate::db::accounts::Account;
use crate::db::projects::Project;
use crate::db::tokens::Token;
use crate::domain::permission::PermissionSet;
use crate::domain::token::TokenHash;
use crate::error::AppError;

/// Enough for every CI job of a small team many times over; on overflow the
/// cache simply starts again.
const MAX_ENTRIES: usize = 10_000;

/// A token and what its owner may do, as read from the database.
#[derive(Debug)]
pub struct TokenAuth {
    pub token: Token,
    /// For a PAT: whether the owner is active, and their role's permissions now.
    pub owner_active: bool,
    pub owner_permissions: PermissionSet,
    /// The owner (PAT) or the project (key), for `whoami` without another read.
    pub owner: Option<Account>,
    pub project: Option<Project>,
}

struct State {
    epoch: i64,
    entries: HashMap<TokenHash, Arc<TokenAuth>>,
}

pub struct TokenCache {
    watcher: Mutex<Connection>,
    shm: ShmHeader,
    /// The WAL-index signature seen at the last full check (0: none yet).
    seen: AtomicU64,
    state: RwLock<State>,
}

/// A read-only view of the WAL-index header at the start of `<db>-shm`.
struct ShmHeader {
    path: std::path::PathBuf,
    map: std::sync::OnceLock<memmap2::Mmap>,
}

/// Both copies of the 48-byte header, as SQLite writes them.
const SHM_HEADER: usize = 96;

impl ShmHeader {
    fn new(db_path: &Path) -> ShmHeader {
        let mut name = db_path.as_os_str().to_owned();
        name.push("-shm");
        ShmHeader { path: name.into(), map: std::sync::OnceLock::new() }
    }

    fn mapping(&self) -> Option<&memmap2::Mmap> {
        if let Some(map) = self.map.get() {
            return Some(map);
        }
        let file = std::fs::File::open(&self.path).ok()?;
        if file.metadata().ok()?.len() < SHM_HEADER as u64 {
            return None;
        }
        // SAFETY: the map is read-only and only read with volatile loads of
        // plain bytes; SQLite changing them underneath can only make the two
        // header copies disagree, which `signature` detects.
        let map = unsafe { memmap2::MmapOptions::new().len(SHM_HEADER).map(&file) }.ok()?;
        Some(self.map.get_or_init(|| map))
    }

    /// A value that changes with every commit, or `None` when the header is
    /// missing or was being written while we read it.
    fn signature(&self) -> Option<u64> {
        let map = self.mapping()?;
        let read = |offset: usize| -> u32 {
            // SAFETY: offset + 4 <= SHM_HEADER == map.len(), and [u8; 4] has alignment 1.
            u32::from_ne_bytes(unsafe { std::ptr::read_volatile(map.as_ptr().add(offset).cast::<[u8; 4]>()) })
        };
        // Copy 0 and copy 1 of the header: iChange (8), mxFrame (16), salts (32, 36).
        let fields = [8, 16, 32, 36];
        let first = fields.map(read);
        let second = fields.map(|o| read(48 + o));
        if first != second {
            return None;
        }
        let mut sig: u64 = 0xcbf2_9ce4_8422_2325;
        for v in first {
            sig = (sig ^ u64::from(v)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Some(sig | 1)
    }
}

impl TokenCache {
    pub fn open(db_path: &Path) -> Result<TokenCache, AppError> {
        let watcher =
            Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        watcher.busy_timeout(std::time::Duration::from_secs(5))?;
        let epoch = crate::db::tokens::auth_epoch(&watcher)?;
        Ok(TokenCache {
            watcher: Mutex::new(watcher),
            shm: ShmHeader::new(db_path),
            seen: AtomicU64::new(0),
            state: RwLock::new(State { epoch, entries: HashMap::new() }),
        })
    }

    /// Brings the cache up to date with the database; returns the epoch the
    /// caller's subsequent read belongs to.
    pub fn sync(&self) -> Result<i64, AppError> {
        // Read before the full check, so a commit racing with it is seen next time.
        let signature = self.shm.signature();
        if let Some(sig) = signature {
            if self.seen.load(Ordering::Acquire) == sig {
                return Ok(self.state.read().unwrap_or_else(|p| p.into_inner()).epoch);
            }
        }
        let epoch = self.sync_with_sqlite()?;
        self.seen.store(signature.unwrap_or(0), Ordering::Release);
        Ok(epoch)
    }

    /// The authoritative check: read `auth_epoch` and clear the cache when it moved.
    fn sync_with_sqlite(&self) -> Result<i64, AppError> {
        let epoch = {
            let watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
            crate::db::tokens::auth_epoch(&watcher)?
        };
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.epoch != epoch {
            state.entries.clear();
            state.epoch = epoch;
        }
        Ok(epoch)
    }

    pub fn get(&self, hash: &TokenHash) -> Option<Arc<TokenAuth>> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).entries.get(hash).cloned()
    }

    /// Stores what was read under `epoch`, unless the cache has moved on
    /// since (the read may predate a change that cleared the cache).
    pub fn insert(&self, hash: TokenHash, epoch: i64, auth: Arc<TokenAuth>) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.epoch != epoch {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        state.entries.insert(hash, auth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_index_signature_moves_with_every_commit_of_any_connection() {
        let dir =
            std::env::temp_dir().join(format!("proctor-shm-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        let shm = ShmHeader::new(&path);
        let before = shm.signature().expect("header readable");
        assert_eq!(shm.signature(), Some(before), "stable while nothing commits");
        let other = Connection::open(&path).unwrap();
        other.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let after = shm.signature().unwrap();
        assert_ne!(before, after);
        writer.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); INSERT INTO t VALUES (3);").unwrap();
        assert_ne!(shm.signature().unwrap(), after, "a commit after a checkpoint still moves it");
        drop((writer, other));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
