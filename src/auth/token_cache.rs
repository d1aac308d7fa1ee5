//! The in-process cache of token checks, keyed by the token's HMAC. It is
//! invalidated without timers: before every use it asks SQLite's
//! `PRAGMA data_version` (on a connection of its own) whether anyone —
//! this server's writer or the offline CLI — committed since; if so it reads
//! the `auth_epoch` counter that triggers bump on every auth-relevant change,
//! and clears itself when that moved. A revoke that committed before its
//! response was sent is therefore seen by every request that starts after.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OpenFlags};

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
}

struct State {
    data_version: i64,
    epoch: i64,
    entries: HashMap<TokenHash, Arc<TokenAuth>>,
}

pub struct TokenCache {
    watcher: Mutex<Connection>,
    state: RwLock<State>,
}

impl TokenCache {
    pub fn open(db_path: &Path) -> Result<TokenCache, AppError> {
        let watcher =
            Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        watcher.busy_timeout(std::time::Duration::from_secs(5))?;
        let data_version = watcher.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let epoch = crate::db::tokens::auth_epoch(&watcher)?;
        Ok(TokenCache {
            watcher: Mutex::new(watcher),
            state: RwLock::new(State { data_version, epoch, entries: HashMap::new() }),
        })
    }

    /// Brings the cache up to date with the database; returns the epoch the
    /// caller's subsequent read belongs to.
    pub fn sync(&self) -> Result<i64, AppError> {
        let watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        let version: i64 = watcher.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if state.data_version == version {
                return Ok(state.epoch);
            }
        }
        let epoch = crate::db::tokens::auth_epoch(&watcher)?;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.epoch != epoch {
            state.entries.clear();
            state.epoch = epoch;
        }
        state.data_version = version;
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

    /// Drops everything (after this process changed a token).
    pub fn clear(&self) {
        self.state.write().unwrap_or_else(|p| p.into_inner()).entries.clear();
    }
}
