//! The last-used buffer: per-token usage gathered in memory on each request and written to the database in batches.
//!
//! A database write per authenticated request would serialize every API call
//! on SQLite's single writer. Instead each request calls [`LastUsedBuffer::record`]
//! (one short lock, no allocation when the token is already pending with the
//! same user agent), and a background task calls [`LastUsedBuffer::drain`]
//! every few seconds and applies the updates in one transaction. That keeps
//! "last used" within the flush interval, which API.md requires to be ≤ 5 s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;
use uuid::Uuid;

pub use crate::domain::usage::{merge_recent_ips, MAX_RECENT_IPS};
/// Longer user agents are cut to this many characters before storing.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// What one token did since the previous drain, ready for the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsedUpdate {
    pub token_id: Uuid,
    /// The latest request's time, IP and user agent (`None`: that request had none).
    pub at: OffsetDateTime,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// Requests since the previous drain, to add to the stored count.
    pub count_delta: u64,
    /// Distinct IPs seen since the previous drain, most recent first, at most
    /// [`MAX_RECENT_IPS`]; combine with the stored list via [`merge_recent_ips`].
    pub recent_ips: Vec<IpAddr>,
}

/// Thread-safe accumulator shared by all workers; see the module docs.
#[derive(Default)]
pub struct LastUsedBuffer {
    pending: Mutex<HashMap<Uuid, Pending>>,
}

struct Pending {
    at: OffsetDateTime,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
    count: u64,
    recent: RecentIps,
}

/// A fixed array instead of a `Vec` so recording an IP never allocates.
/// Filled from the front, most recent first; unused slots are at the end.
#[derive(Default)]
struct RecentIps([Option<IpAddr>; MAX_RECENT_IPS]);

impl RecentIps {
    /// Makes `ip` the most recent, dropping the oldest if the list is full.
    fn touch(&mut self, ip: IpAddr) {
        // Either where `ip` already is, or the first free slot, or the oldest.
        let pos = self.0.iter().position(|slot| slot.is_none() || *slot == Some(ip)).unwrap_or(MAX_RECENT_IPS - 1);
        self.0[..=pos].rotate_right(1);
        self.0[0] = Some(ip);
    }

    /// Adds `ip` as the oldest entry, if it is new and there is room: for a
    /// request that reached the lock after a later one.
    fn add_older(&mut self, ip: IpAddr) {
        if self.0.contains(&Some(ip)) {
            return;
        }
        if let Some(slot) = self.0.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(ip);
        }
    }

    fn to_vec(&self) -> Vec<IpAddr> {
        self.0.iter().map_while(|slot| *slot).collect()
    }

    fn from_most_recent_first(ips: &[IpAddr]) -> Self {
        let mut recent = RecentIps::default();
        for ip in ips.iter().rev() {
            recent.touch(*ip);
        }
        recent
    }
}

impl LastUsedBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Pending>> {
        // The critical sections cannot panic halfway through an update that
        // matters, so a poisoned lock is still safe to use; losing usage data
        // because some unrelated thread panicked would be worse.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes one authenticated request. IPv4-mapped IPv6 addresses are stored
    /// as plain IPv4 so one client does not appear as two IPs.
    pub fn record(&self, token_id: Uuid, at: OffsetDateTime, ip: Option<IpAddr>, user_agent: Option<&str>) {
        let ip = ip.map(|ip| ip.to_canonical());
        let user_agent = user_agent.map(truncate_user_agent);

        let mut pending = self.lock();
        let Some(entry) = pending.get_mut(&token_id) else {
            let mut recent = RecentIps::default();
            if let Some(ip) = ip {
                recent.touch(ip);
            }
            pending.insert(token_id, Pending { at, ip, user_agent: user_agent.map(str::to_owned), count: 1, recent });
            return;
        };

        entry.count = entry.count.saturating_add(1);
        // Workers stamp `at` before taking the lock, so requests can arrive out
        // of order; only a request at least as late as the latest one seen
        // replaces the "last used" fields.
        if at >= entry.at {
            entry.at = at;
            entry.ip = ip;
            replace_user_agent(&mut entry.user_agent, user_agent);
            if let Some(ip) = ip {
                entry.recent.touch(ip);
            }
        } else if let Some(ip) = ip {
            entry.recent.add_older(ip);
        }
    }

    /// Takes everything recorded so far, leaving the buffer empty. The lock is
    /// held only for the swap; updates come back sorted by token id.
    pub fn drain(&self) -> Vec<LastUsedUpdate> {
        let taken = std::mem::take(&mut *self.lock());
        let mut updates: Vec<LastUsedUpdate> = taken
            .into_iter()
            .map(|(token_id, p)| LastUsedUpdate {
                token_id,
                at: p.at,
                ip: p.ip,
                user_agent: p.user_agent,
                count_delta: p.count,
                recent_ips: p.recent.to_vec(),
            })
            .collect();
        updates.sort_unstable_by_key(|u| u.token_id);
        updates
    }

    /// Puts drained updates back, e.g. when writing them failed, merged with
    /// whatever was recorded since (which is newer).
    pub fn requeue(&self, updates: Vec<LastUsedUpdate>) {
        let mut pending = self.lock();
        for u in updates {
            let recent_ips = u.recent_ips;
            match pending.get_mut(&u.token_id) {
                None => {
                    pending.insert(
                        u.token_id,
                        Pending {
                            at: u.at,
                            ip: u.ip,
                            user_agent: u.user_agent,
                            count: u.count_delta,
                            recent: RecentIps::from_most_recent_first(&recent_ips),
                        },
                    );
                }
                Some(entry) => {
                    entry.count = entry.count.saturating_add(u.count_delta);
                    if u.at > entry.at {
                        entry.at = u.at;
                        entry.ip = u.ip;
                        entry.user_agent = u.user_agent;
                    }
                    let merged = merge_recent_ips(&recent_ips, &entry.recent.to_vec());
                    entry.recent = RecentIps::from_most_recent_first(&merged);
                }
            }
        }
    }

    /// Tokens with pending updates.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Cuts at a character boundary; borrowing keeps the hot path allocation-free.
fn truncate_user_agent(ua: &str) -> &str {
    match ua.char_indices().nth(MAX_USER_AGENT_CHARS) {
        Some((end, _)) => &ua[..end],
        None => ua,
    }
}

/// Overwrites in place, so a client that keeps sending the same (or a
/// shorter) user agent causes no allocation.
fn replace_user_agent(slot: &mut Option<String>, new: Option<&str>) {
    match (slot.as_mut(), new) {
        (Some(current), Some(new)) => {
            if current != new {
                current.clear();
                current.push_str(new);
            }
        }
        (_, new) => *slot = new.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2025-03-10 12:00:00 UTC);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn aggregates_per_token_and_drains_empty() {
        let buf = LastUsedBuffer::new();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        buf.record(a, T0, Some(ip(1)), Some("curl/8"));
        buf.record(a, T0 + Duration::seconds(1), Some(ip(2)), Some("proctor/1"));
        buf.record(b, T0, None, None);
        buf.record(a, T0 + Duration::seconds(2), Some(ip(1)), Some("proctor/1"));
        assert_eq!(buf.len(), 2);

        let updates = buf.drain();
        assert!(buf.is_empty());
        assert!(buf.drain().is_empty());
        let ua = updates.iter().find(|u| u.token_id == a).expect("a recorded");
        assert_eq!(ua.count_delta, 3);
        assert_eq!(ua.at, T0 + Duration::seconds(2));
        assert_eq!((ua.ip, ua.user_agent.as_deref()), (Some(ip(1)), Some("proctor/1")));
        assert_eq!(ua.recent_ips, vec![ip(1), ip(2)]);
        let ub = updates.iter().find(|u| u.token_id == b).expect("b recorded");
        assert_eq!((ub.count_delta, ub.ip, ub.user_agent.clone()), (1, None, None));
        assert!(ub.recent_ips.is_empty());
    }

    #[test]
    fn keeps_five_distinct_ips_most_recent_first() {
        let buf = LastUsedBuffer::new();
        let id = Uuid::now_v7();
        for (i, last) in [1, 2, 3, 4, 5, 6, 3, 7].into_iter().enumerate() {
            buf.record(id, T0 + Duration::seconds(i as i64), Some(ip(last)), None);
        }
        let update = buf.drain().pop().expect("one token");
        assert_eq!(update.recent_ips, vec![ip(7), ip(3), ip(6), ip(5), ip(4)]);
        assert_eq!(update.count_delta, 8);
    }

    #[test]
    fn late_arrivals_do_not_overwrite_the_latest_request() {
        let buf = LastUsedBuffer::new();
        let id = Uuid::now_v7();
        buf.record(id, T0 + Duration::seconds(5), Some(ip(1)), Some("new"));
        buf.record(id, T0, Some(ip(2)), Some("old"));
        let u = buf.drain().pop().expect("one token");
        assert_eq!((u.at, u.ip, u.user_agent.as_deref()), (T0 + Duration::seconds(5), Some(ip(1)), Some("new")));
        assert_eq!(u.recent_ips, vec![ip(1), ip(2)]);
        assert_eq!(u.count_delta, 2);
    }

    #[test]
    fn normalizes_mapped_ipv4_and_truncates_user_agents() {
        let buf = LastUsedBuffer::new();
        let id = Uuid::now_v7();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("literal");
        let long = "é".repeat(300);
        buf.record(id, T0, Some(mapped), Some(&long));
        buf.record(id, T0, Some(ip(1)), Some(&long));
        let u = buf.drain().pop().expect("one token");
        assert_eq!(u.recent_ips, vec![ip(1)]);
        assert_eq!(u.user_agent.map(|ua| ua.chars().count()), Some(MAX_USER_AGENT_CHARS));
        assert_eq!(truncate_user_agent("short"), "short");
    }

    #[test]
    fn user_agent_is_replaced_in_place() {
        let mut slot = Some(String::from("a-rather-long-agent"));
        let before = slot.as_ref().map(|s| s.as_ptr());
        replace_user_agent(&mut slot, Some("short"));
        assert_eq!(slot.as_deref(), Some("short"));
        assert_eq!(slot.as_ref().map(|s| s.as_ptr()), before);
        replace_user_agent(&mut slot, None);
        assert_eq!(slot, None);
        replace_user_agent(&mut slot, Some("x"));
        assert_eq!(slot.as_deref(), Some("x"));
    }

    #[test]
    fn requeue_merges_with_newer_records() {
        let buf = LastUsedBuffer::new();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        buf.record(a, T0, Some(ip(1)), Some("old"));
        buf.record(b, T0, Some(ip(9)), None);
        let failed = buf.drain();
        buf.record(a, T0 + Duration::seconds(3), Some(ip(2)), Some("new"));
        buf.requeue(failed);
        let updates = buf.drain();
        let ua = updates.iter().find(|u| u.token_id == a).expect("a");
        assert_eq!((ua.count_delta, ua.user_agent.as_deref()), (2, Some("new")));
        assert_eq!(ua.recent_ips, vec![ip(2), ip(1)]);
        let ub = updates.iter().find(|u| u.token_id == b).expect("b");
        assert_eq!((ub.count_delta, ub.recent_ips.clone()), (1, vec![ip(9)]));
    }

    #[test]
    fn concurrent_records_and_drains_lose_nothing() {
        let buf = Arc::new(LastUsedBuffer::new());
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let workers: Vec<_> = (0..8u8)
            .map(|w| {
                let (buf, ids) = (Arc::clone(&buf), ids.clone());
                std::thread::spawn(move || {
                    for i in 0..2000u32 {
                        let at = T0 + Duration::milliseconds(i64::from(i));
                        buf.record(ids[i as usize % 4], at, Some(ip(w)), Some("ci"));
                    }
                })
            })
            .collect();
        let mut total = 0;
        let mut drained = Vec::new();
        while workers.iter().any(|w| !w.is_finished()) {
            drained.extend(buf.drain());
        }
        for w in workers {
            w.join().expect("worker thread");
        }
        drained.extend(buf.drain());
        for u in &drained {
            total += u.count_delta;
            assert!(!u.recent_ips.is_empty() && u.recent_ips.len() <= MAX_RECENT_IPS);
            let mut distinct = u.recent_ips.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), u.recent_ips.len());
        }
        assert_eq!(total, 8 * 2000);
    }
}
