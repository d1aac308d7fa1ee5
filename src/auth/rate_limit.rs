//! Per-token request limits: an in-memory token bucket per token id, and the IETF `RateLimit` header values.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use uuid::Uuid;

/// The window the limit is expressed in (requests per minute).
pub const WINDOW_SECS: u64 = 60;

/// Bucket levels are integers in units of 1/(60·10⁹) request: refilling
/// `limit` requests per 60 s then adds exactly `limit` units per elapsed
/// nanosecond, so the arithmetic is exact and never drifts the way floats do.
const UNITS_PER_REQUEST: u128 = WINDOW_SECS as u128 * NANOS_PER_SEC;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Independent locks, so workers checking different tokens rarely wait on
/// each other; a power of two keeps the shard pick a mask.
const SHARDS: usize = 16;

/// The outcome of one check, with everything the response headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The token's limit per minute, which is also the bucket's capacity.
    pub limit: u32,
    /// Whole requests left right now, after this one.
    pub remaining: u32,
    /// Seconds until the bucket is full again (0 when it already is).
    pub reset_secs: u64,
    /// When denied: seconds until one request is available, at least 1.
    /// When allowed: 0.
    pub retry_after_secs: u64,
}

impl Decision {
    /// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers-10).
    pub fn policy_header(&self) -> String {
        format!("\"default\";q={};w={WINDOW_SECS}", self.limit)
    }

    /// `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10).
    pub fn ratelimit_header(&self) -> String {
        format!("\"default\";r={};t={}", self.remaining, self.reset_secs)
    }
}

#[derive(Debug)]
struct Bucket {
    /// In `UNITS_PER_REQUEST` units, at most `limit * UNITS_PER_REQUEST`.
    level: u128,
    limit: u32,
    /// The latest instant this bucket has been brought up to date with.
    updated: Instant,
}

impl Bucket {
    fn capacity(&self) -> u128 {
        u128::from(self.limit) * UNITS_PER_REQUEST
    }

    fn refill(&mut self, now: Instant) {
        // Workers take `now` before the lock, so instants can arrive slightly
        // out of order; an earlier one simply adds nothing.
        let elapsed = now.saturating_duration_since(self.updated).as_nanos();
        self.level = self.level.saturating_add(elapsed.saturating_mul(u128::from(self.limit))).min(self.capacity());
        self.updated = self.updated.max(now);
    }

    fn is_full(&self) -> bool {
        self.level >= self.capacity()
    }

    /// Seconds until `units` more have flowed in, rounded up.
    fn secs_to_gain(&self, units: u128) -> u64 {
        let per_sec = u128::from(self.limit) * NANOS_PER_SEC;
        u64::try_from(units.div_ceil(per_sec)).unwrap_or(u64::MAX)
    }
}

/// Token buckets keyed by token id, shared by every worker.
///
/// Each bucket holds `limit` requests and refills `limit / 60` per second,
/// continuously, so a client may burst up to its whole minute and then go on
/// at the steady rate. A new (or swept) key starts full.
pub struct RateLimiter<K = Uuid> {
    shards: Box<[Mutex<HashMap<K, Bucket>>]>,
    hasher: RandomState,
}

impl<K: Hash + Eq + Clone> Default for RateLimiter<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new() -> Self {
        RateLimiter { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), hasher: RandomState::new() }
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, HashMap<K, Bucket>> {
        let index = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        // Nothing panics while a shard is held, and a bucket cannot be left
        // half-updated in a way that matters, so a poisoned lock is still usable.
        self.shards[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one request from `key`'s bucket if it has one.
    ///
    /// When the token's limit has changed since the last call, the bucket keeps
    /// its level, capped to the new capacity, and refills at the new rate from
    /// then on. A limit of 0 denies everything; handlers should refuse to store
    /// one, but it must not divide by zero here.
    pub fn check(&self, key: &K, limit_per_minute: u32, now: Instant) -> Decision {
        if limit_per_minute == 0 {
            return Decision { allowed: false, limit: 0, remaining: 0, reset_secs: 0, retry_after_secs: WINDOW_SECS };
        }

        let mut shard = self.shard(key);
        let bucket = match shard.get_mut(key) {
            Some(bucket) => bucket,
            None => shard.entry(key.clone()).or_insert(Bucket {
                level: u128::from(limit_per_minute) * UNITS_PER_REQUEST,
                limit: limit_per_minute,
                updated: now,
            }),
        };
        // Bring the bucket up to date at the old rate before changing it.
        bucket.refill(now);
        if bucket.limit != limit_per_minute {
            bucket.limit = limit_per_minute;
            bucket.level = bucket.level.min(bucket.capacity());
        }

        let allowed = bucket.level >= UNITS_PER_REQUEST;
        if allowed {
            bucket.level -= UNITS_PER_REQUEST;
        }
        let retry_after_secs = if allowed { 0 } else { bucket.secs_to_gain(UNITS_PER_REQUEST - bucket.level).max(1) };
        Decision {
            allowed,
            limit: limit_per_minute,
            // The level never exceeds `limit` requests, so this fits.
            remaining: u32::try_from(bucket.level / UNITS_PER_REQUEST).unwrap_or(u32::MAX),
            reset_secs: bucket.secs_to_gain(bucket.capacity() - bucket.level),
            retry_after_secs,
        }
    }

    /// Forgets a token at once, e.g. when it is revoked.
    pub fn remove(&self, key: &K) {
        self.shard(key).remove(key);
    }

    /// Drops buckets that have refilled completely by `now`: a full bucket is
    /// exactly what a new key starts with, so forgetting it changes nothing
    /// and bounds memory to the tokens active in the last minute or so.
    pub fn sweep(&self, now: Instant) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            shard.retain(|_, bucket| {
                bucket.refill(now);
                !bucket.is_full()
            });
        }
    }

    /// How many buckets are held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn limiter() -> RateLimiter<u32> {
        RateLimiter::new()
    }

    #[test]
    fn bursts_to_capacity_then_denies() {
        let rl = limiter();
        let t0 = Instant::now();
        for i in 0..60 {
            let d = rl.check(&1, 60, t0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 59 - i);
            assert_eq!(d.reset_secs, u64::from(i) + 1);
            assert_eq!(d.retry_after_secs, 0);
        }
        let d = rl.check(&1, 60, t0);
        assert_eq!((d.allowed, d.remaining, d.reset_secs, d.retry_after_secs), (false, 0, 60, 1));
        // Another key has its own bucket.
        assert!(rl.check(&2, 60, t0).allowed);
    }

    #[test]
    fn retry_after_is_the_time_to_one_request() {
        let rl = limiter();
        let t0 = Instant::now();
        for _ in 0..6 {
            assert!(rl.check(&1, 6, t0).allowed);
        }
        // 6 per minute is one every 10 s.
        let d = rl.check(&1, 6, t0);
        assert_eq!((d.allowed, d.retry_after_secs, d.reset_secs), (false, 10, 60));
        let d = rl.check(&1, 6, t0 + Duration::from_secs(3));
        assert_eq!((d.allowed, d.retry_after_secs), (false, 7));
        let d = rl.check(&1, 6, t0 + Duration::from_millis(9_500));
        assert_eq!((d.allowed, d.retry_after_secs), (false, 1));
        let d = rl.check(&1, 6, t0 + Duration::from_secs(10));
        assert!(d.allowed);
        assert_eq!((d.remaining, d.reset_secs), (0, 60));
    }

    #[test]
    fn refills_continuously_and_caps_at_capacity() {
        let rl = limiter();
        let t0 = Instant::now();
        for _ in 0..1200 {
            rl.check(&1, 1200, t0);
        }
        // 1200 per minute is 20 per second: after 1.5 s there are 30.
        let d = rl.check(&1, 1200, t0 + Duration::from_millis(1500));
        assert_eq!((d.allowed, d.remaining), (true, 29));
        assert_eq!(d.reset_secs, 59); // 1171 missing at 20/s = 58.55 s
        let d = rl.check(&1, 1200, t0 + Duration::from_secs(3600));
        assert_eq!((d.remaining, d.reset_secs), (1199, 1));
        // Instants that arrive out of order neither refill nor panic.
        let d = rl.check(&1, 1200, t0);
        assert_eq!(d.remaining, 1198);
    }

    #[test]
    fn adapts_when_the_limit_changes() {
        let rl = limiter();
        let t0 = Instant::now();
        assert_eq!(rl.check(&1, 100, t0).remaining, 99);
        // Lowered: capped to the new capacity at once.
        let d = rl.check(&1, 10, t0);
        assert_eq!((d.limit, d.remaining), (10, 9));
        assert_eq!(d.policy_header(), "\"default\";q=10;w=60");
        // Raised: the level is kept and refills towards the new capacity.
        let d = rl.check(&1, 600, t0);
        assert_eq!((d.limit, d.remaining), (600, 8));
        let d = rl.check(&1, 600, t0 + Duration::from_secs(1));
        assert_eq!(d.remaining, 17); // +10 per second
    }

    #[test]
    fn zero_limit_denies_without_dividing_by_zero() {
        let d = limiter().check(&1, 0, Instant::now());
        assert!(!d.allowed);
        assert!(d.retry_after_secs >= 1);
    }

    #[test]
    fn header_values_follow_the_draft() {
        let d = limiter().check(&7, 1200, Instant::now());
        assert_eq!(d.policy_header(), "\"default\";q=1200;w=60");
        assert_eq!(d.ratelimit_header(), "\"default\";r=1199;t=1");
    }

    #[test]
    fn sweep_drops_only_full_buckets_and_remove_forgets() {
        let rl = limiter();
        let t0 = Instant::now();
        rl.check(&1, 60, t0);
        rl.check(&2, 60, t0 + Duration::from_secs(30));
        rl.check(&3, 60, t0);
        assert_eq!(rl.len(), 3);
        rl.remove(&3);
        assert_eq!(rl.len(), 2);
        rl.sweep(t0 + Duration::from_millis(999));
        assert_eq!(rl.len(), 2);
        rl.sweep(t0 + Duration::from_secs(1));
        assert_eq!(rl.len(), 1);
        rl.sweep(t0 + Duration::from_secs(31));
        assert!(rl.is_empty());
        // A removed key starts over with a full bucket.
        for _ in 0..5 {
            rl.check(&9, 5, t0);
        }
        assert!(!rl.check(&9, 5, t0).allowed);
        rl.remove(&9);
        assert_eq!(rl.check(&9, 5, t0).remaining, 4);
    }

    #[test]
    fn concurrent_checks_never_exceed_capacity() {
        let rl = Arc::new(RateLimiter::<Uuid>::new());
        let key = Uuid::now_v7();
        let now = Instant::now();
        let allowed = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (rl, allowed) = (Arc::clone(&rl), Arc::clone(&allowed));
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        if rl.check(&key, 1000, now).allowed {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("worker thread");
        }
        assert_eq!(allowed.load(Ordering::Relaxed), 1000);
    }
}
