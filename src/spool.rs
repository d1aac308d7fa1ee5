//! Upload bodies on their way in: a report or an attachment is received
//! chunk by chunk into a temporary file of the data directory, through a
//! bounded channel to a blocking thread that writes (and, for attachments,
//! hashes) each chunk as it arrives. An upload therefore holds a few chunks
//! in memory whatever its size, and the single database writer is only
//! taken once the whole body is on disk: a client on a slow link never
//! keeps every other write waiting (docs/performance.md, "Streaming uploads").
//!
//! [`Budget`] bounds the memory of all the bodies being received at once
//! (`--ingest-memory-mib`): an upload reserves [`RESERVATION_MIB`] before
//! its first byte is read, until its body is whole, and one that finds the
//! budget spent is answered 503 with `Retry-After` instead of queueing
//! without bound. A whole body waiting for the writer holds no memory (it
//! is a file) and no share: were the writer's queue counted too, its length
//! would become 503s, and a client whose retries run out before the queue
//! drains would give up (docs/performance.md, "Streaming uploads").
//!
//! A temporary file is removed when its [`Spooled`] is dropped, whatever
//! happened (a body cut off, too large, a report refused); a crash leaves
//! files that [`clear`] removes at the next start.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// Chunks on their way to the file at most. The HTTP layer hands out
/// chunks of at most its 128 KiB read buffer, so this is ≤ 512 KiB.
const CHUNKS_IN_FLIGHT: usize = 4;

/// What one body being received may hold in memory: the chunks in flight,
/// the HTTP layer's buffers for the connection (≤ 160 KiB) and the
/// writing thread's.
pub const RESERVATION_MIB: u32 = 1;

/// How long a client told "busy" should wait: a body of the default cap
/// arrives in a second or two on a CI runner's link.
pub const RETRY_AFTER_SECS: u64 = 2;

/// The memory bodies being received may hold together, in MiB.
pub struct Budget {
    permits: Arc<Semaphore>,
}

/// One upload's share of the [`Budget`], given back when dropped.
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl Budget {
    pub fn new(mib: u32) -> Budget {
        Budget { permits: Arc::new(Semaphore::new(mib as usize)) }
    }

    /// A reservation for one more body, or `None` when the budget is spent.
    pub fn try_reserve(&self) -> Option<Reservation> {
        let permit = self.permits.clone().try_acquire_many_owned(RESERVATION_MIB).ok()?;
        Some(Reservation { _permit: permit })
    }
}

/// A body received whole into a temporary file (removed when dropped,
/// unless [`Spooled::persist`] renamed it into place).
pub struct Spooled {
    file: tempfile::NamedTempFile,
    /// Its size as received.
    pub bytes: u64,
    /// SHA-256 of the bytes, when the spool was asked to hash.
    pub sha256: Option<Vec<u8>>,
}

impl Spooled {
    /// Removes the file off the async executor: unlinking a large file
    /// takes the file system a while.
    pub async fn discard(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }

    /// The body, read from its start.
    pub fn reader(&self) -> io::Result<File> {
        let mut file = self.file.as_file().try_clone()?;
        file.rewind()?;
        Ok(file)
    }

    /// Makes the body the file `path` durably: fsync, rename (over the same
    /// file system: the spool must be a directory next to `path`'s), fsync
    /// of `path`'s directory.
    pub fn persist(self, path: &Path) -> io::Result<()> {
        self.file.as_file().sync_all()?;
        self.file.persist(path).map_err(|e| e.error)?;
        match path.parent() {
            Some(dir) => File::open(dir)?.sync_all(),
            None => Ok(()),
        }
    }
}

/// A body being received: chunks go to [`Spool::write`], and
/// [`Spool::finish`] hands the file over once the last one is written.
pub struct Spool {
    /// `None` once the last chunk was sent.
    chunks: Option<mpsc::Sender<Bytes>>,
    /// `None` once the writing thread's end was awaited.
    done: Option<JoinHandle<io::Result<Spooled>>>,
}

impl Spool {
    /// Starts writing a body into a new temporary file in `dir` (created if
    /// need be), hashing it when `hash`.
    pub fn start(dir: PathBuf, hash: bool) -> Spool {
        let (chunks, mut incoming) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
        let done = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let mut file = tempfile::Builder::new().prefix(".upload-").tempfile_in(&dir)?;
            let mut hasher = hash.then(Sha256::new);
            let mut bytes = 0u64;
            while let Some(chunk) = incoming.blocking_recv() {
                file.write_all(&chunk)?;
                if let Some(h) = &mut hasher {
                    h.update(&chunk);
                }
                bytes += chunk.len() as u64;
            }
            Ok(Spooled { file, bytes, sha256: hasher.map(|h| h.finalize().to_vec()) })
        });
        Spool { chunks: Some(chunks), done: Some(done) }
    }

    /// Hands `chunk` to the writing thread, waiting while
    /// [`CHUNKS_IN_FLIGHT`] chunks are ahead of it (so the client waits
    /// too). Fails with the thread's error when it stopped (a full disk).
    pub async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        let sent = match &self.chunks {
            Some(chunks) => chunks.send(chunk).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        self.chunks = None;
        match self.join().await {
            Err(e) => Err(e),
            Ok(spooled) => {
                spooled.discard().await;
                Err(io::Error::other("the spool stopped early"))
            }
        }
    }

    /// The whole body, once every chunk is written.
    pub async fn finish(mut self) -> io::Result<Spooled> {
        self.chunks = None;
        self.join().await
    }

    /// Stops receiving; the temporary file is removed before this returns.
    pub async fn abandon(self) {
        if let Ok(spooled) = self.finish().await {
            spooled.discard().await;
        }
    }

    /// The writing thread's end (once: a failed [`Spool::write`] may have
    /// awaited it already, and then says why).
    async fn join(&mut self) -> io::Result<Spooled> {
        let done = self.done.take().ok_or_else(|| io::Error::other("the spool stopped"))?;
        done.await.map_err(io::Error::other)?
    }
}

/// Removes what earlier processes left in `dir` (bodies being received
/// when they stopped). Called at start, before any upload can begin.
pub fn clear(dir: &Path) -> io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(".upload-") {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_admits_what_it_holds_and_takes_back_what_is_dropped() {
        let budget = Budget::new(2 * RESERVATION_MIB);
        let (a, b) = (budget.try_reserve(), budget.try_reserve());
        assert!(a.is_some() && b.is_some());
        assert!(budget.try_reserve().is_none(), "a third body over a budget of two");
        drop(a);
        assert!(budget.try_reserve().is_some(), "a reservation given back is free again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_body_is_written_hashed_and_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::start(dir.path().join("spool"), true);
        for chunk in ["hello ", "spooled ", "world"] {
            spool.write(Bytes::from(chunk)).await.unwrap();
        }
        let spooled = spool.finish().await.unwrap();
        assert_eq!(spooled.bytes, 19);
        assert_eq!(spooled.sha256.as_deref(), Some(&Sha256::digest(b"hello spooled world")[..]));
        assert_eq!(io::read_to_string(spooled.reader().unwrap()).unwrap(), "hello spooled world");
        assert_eq!(std::fs::read_dir(dir.path().join("spool")).unwrap().count(), 1);
        drop(spooled);
        assert_eq!(std::fs::read_dir(dir.path().join("spool")).unwrap().count(), 0, "dropped: removed");

        let mut spool = Spool::start(dir.path().join("spool"), false);
        spool.write(Bytes::from("cut off")).await.unwrap();
        spool.abandon().await;
        assert_eq!(std::fs::read_dir(dir.path().join("spool")).unwrap().count(), 0, "abandoned: removed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn persisting_renames_into_place_and_clear_removes_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        let mut spool = Spool::start(spool_dir.clone(), false);
        spool.write(Bytes::from("kept")).await.unwrap();
        let kept = dir.path().join("kept.txt");
        spool.finish().await.unwrap().persist(&kept).unwrap();
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "kept");

        let mut left = Spool::start(spool_dir.clone(), false);
        left.write(Bytes::from("left by a crash")).await.unwrap();
        let left = left.finish().await.unwrap();
        std::mem::forget(left); // as if the process had died
        std::fs::write(spool_dir.join("not-ours"), "x").unwrap();
        assert_eq!(clear(&spool_dir).unwrap(), 1);
        assert_eq!(std::fs::read_dir(&spool_dir).unwrap().count(), 1, "only the spool's own files go");
    }
}
