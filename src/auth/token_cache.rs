//! The in-process cache of token checks, keyed by the token's HMAC. It is
//! invalidated without timers: before every use it asks whether anyone —
//! this server's writer or the offline CLI — committed since the last look;
//! if so it reads the `auth_epoch` counter that triggers bump on every
//! auth-relevant change, and clears itself when that moved. A revoke that
//! committed before its response was sent is therefore seen by every request
//! that starts after.
//!
//! "Did anyone commit?" is `db::watch::AuthEpoch`'s question, answered
//! from SQLite's WAL index without a lock on the hot path.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::db::accounts::Account;
use crate::db::projects::Project;
use crate::db::tokens::Token;
use crate::db::watch::AuthEpoch;
use crate::db::DbError;
use crate::domain::permission::PermissionSet;
use crate::domain::token::TokenHash;

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
    epoch: AuthEpoch,
    state: RwLock<State>,
}

impl TokenCache {
    pub fn open(db_path: &Path) -> Result<TokenCache, DbError> {
        let epoch = AuthEpoch::open(db_path)?;
        let now = epoch.current()?;
        Ok(TokenCache { epoch, state: RwLock::new(State { epoch: now, entries: HashMap::new() }) })
    }

    /// Brings the cache up to date with the database; returns the epoch the
    /// caller's subsequent read belongs to.
    pub fn sync(&self) -> Result<i64, DbError> {
        let epoch = self.epoch.current()?;
        if self.state.read().unwrap_or_else(|p| p.into_inner()).epoch != epoch {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            // Epochs only grow; a slower caller holding an older one leaves the cache be.
            if state.epoch < epoch {
                state.entries.clear();
                state.epoch = epoch;
            }
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
