//! "Did anyone commit since I last looked?", answered without a lock, and
//! the `auth_epoch` counter that triggers bump on every auth-relevant change
//! (see `auth::token_cache`, which asks this before every token check).
//!
//! The fast answer reads the WAL-index header in the `-shm` file (documented
//! in SQLite's "WAL-mode file format": `iChange` is incremented by every
//! write transaction, and `mxFrame`/salts move with every commit and
//! checkpoint) through a read-only memory map: no lock, no system call. Only
//! when that header changed, or cannot be read consistently, is `auth_epoch`
//! read from SQLite itself (on a connection of its own), which takes file
//! locks and costs more than the rest of a token check together. Commits by
//! this server's writer and by the offline CLI are seen alike.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use crate::db::{tokens, Conn, DbError};

/// The current `auth_epoch`, kept in step with the database.
pub struct AuthEpoch {
    watcher: Mutex<Connection>,
    shm: ShmHeader,
    /// The WAL-index signature seen at the last read of the epoch (0: none yet).
    seen: AtomicU64,
    epoch: AtomicI64,
}

impl AuthEpoch {
    pub fn open(db_path: &Path) -> Result<AuthEpoch, DbError> {
        let watcher =
            Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        watcher.busy_timeout(std::time::Duration::from_secs(5))?;
        let epoch = tokens::auth_epoch(&Conn(&watcher))?;
        Ok(AuthEpoch {
            watcher: Mutex::new(watcher),
            shm: ShmHeader::new(db_path),
            seen: AtomicU64::new(0),
            epoch: AtomicI64::new(epoch),
        })
    }

    /// The epoch as of now: from memory when nothing committed since the
    /// last read, otherwise read again. It never goes backwards.
    pub fn current(&self) -> Result<i64, DbError> {
        // Read before the epoch, so a commit racing with it is seen next time.
        let signature = self.shm.signature();
        if signature.is_some_and(|sig| self.seen.load(Ordering::Acquire) == sig) {
            return Ok(self.epoch.load(Ordering::Acquire));
        }
        // Reads and stores in lock order: a later read never stores an older epoch.
        let watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        let epoch = tokens::auth_epoch(&Conn(&watcher))?;
        self.epoch.store(epoch, Ordering::Release);
        self.seen.store(signature.unwrap_or(0), Ordering::Release);
        Ok(epoch)
    }
}

/// A read-only view of the WAL-index header at the start of `<db>-shm`.
///
/// The file is opened once and never closed while this lives: SQLite keeps
/// its "this process uses the WAL index" lock (a POSIX `fcntl` lock) on that
/// file, and closing *any* descriptor of a file drops all of a process's
/// `fcntl` locks on it. Another process (the offline CLI) would then find
/// the WAL index unowned and reset it under this server's feet.
struct ShmHeader {
    path: std::path::PathBuf,
    file: Mutex<Option<std::fs::File>>,
    map: std::sync::OnceLock<memmap2::Mmap>,
}

/// Both copies of the 48-byte header, as SQLite writes them.
const SHM_HEADER: usize = 96;

impl ShmHeader {
    fn new(db_path: &Path) -> ShmHeader {
        let mut name = db_path.as_os_str().to_owned();
        name.push("-shm");
        ShmHeader { path: name.into(), file: Mutex::new(None), map: std::sync::OnceLock::new() }
    }

    fn mapping(&self) -> Option<&memmap2::Mmap> {
        if let Some(map) = self.map.get() {
            return Some(map);
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            *file = Some(std::fs::File::open(&self.path).ok()?);
        }
        let file = file.as_ref()?;
        if file.metadata().ok()?.len() < SHM_HEADER as u64 {
            return None;
        }
        // SAFETY: the map is read-only and only read with volatile loads of
        // plain bytes; SQLite changing them underneath can only make the two
        // header copies disagree, which `signature` detects. The file is never
        // truncated below the header while SQLite's lock (kept, see above)
        // says this process uses it.
        let map = unsafe { memmap2::MmapOptions::new().len(SHM_HEADER).map(file) }.ok()?;
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
