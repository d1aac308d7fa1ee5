//! Login throttling: after 10 failures within 15 minutes for one account
//! (the submitted email, whether or not it exists) or one IP, further
//! attempts get 429 until the oldest failure leaves the window. Kept in
//! memory: a restart forgets, which an attacker cannot trigger.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 10;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bounds memory under a flood of distinct emails or addresses.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    fn keys(email: &str, ip: Option<&str>) -> Vec<String> {
        let mut keys = vec![format!("account:{}", email.trim().to_lowercase())];
        if let Some(ip) = ip {
            keys.push(format!("ip:{ip}"));
        }
        keys
    }

    /// `Err(seconds)` while the account or the IP is locked out.
    pub fn check(&self, email: &str, ip: Option<&str>, now: Instant) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for key in Self::keys(email, ip) {
            if let Some(times) = map.get_mut(&key) {
                prune(times, now);
                if times.len() >= MAX_FAILURES {
                    let oldest = times[times.len() - MAX_FAILURES];
                    wait = wait.max(WINDOW.saturating_sub(now.duration_since(oldest)));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.as_secs().max(1))
        }
    }

    pub fn record_failure(&self, email: &str, ip: Option<&str>, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, times| {
                prune(times, now);
                !times.is_empty()
            });
        }
        for key in Self::keys(email, ip) {
            let times = map.entry(key).or_default();
            prune(times, now);
            times.push_back(now);
            // Only the newest MAX_FAILURES matter for the decision.
            while times.len() > MAX_FAILURES {
                times.pop_front();
            }
        }
    }

    /// A successful login clears the account's count (not the IP's).
    pub fn record_success(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("account:{}", email.trim().to_lowercase()));
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant) {
    while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_ten_failures_and_unlocks_after_the_window() {
        let t = LoginThrottle::default();
        let start = Instant::now();
        for i in 0..10 {
            assert!(t.check("a@x.org", Some("1.1.1.1"), start).is_ok(), "attempt {i}");
            t.record_failure("a@x.org", Some("1.1.1.1"), start);
        }
        assert_eq!(t.check("a@x.org", Some("2.2.2.2"), start), Err(900), "account locked from any IP");
        assert!(t.check("b@x.org", Some("1.1.1.1"), start).is_err(), "IP locked for any account");
        assert!(t.check("b@x.org", Some("2.2.2.2"), start).is_ok());
        assert!(t.check("A@X.org", None, start + WINDOW).is_ok());
    }

    #[test]
    fn success_clears_the_account() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..10 {
            t.record_failure("a@x.org", None, now);
        }
        t.record_success("a@x.org");
        assert!(t.check("a@x.org", None, now).is_ok());
    }
}
