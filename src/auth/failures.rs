//! How often a failed token authentication is audited (`auth.failed`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `auth.failed` is audited at most once a minute per token preview (or per
/// IP for malformed tokens), and at most [`PER_IP_PER_MINUTE`] times a minute
/// per IP across previews, so a flood of forged tokens cannot flood the log
/// while distinct failing tokens from one CI host are still each recorded.
#[derive(Default)]
pub struct AuthFailureLog {
    last: Mutex<HashMap<String, Instant>>,
    per_ip: Mutex<HashMap<String, (Instant, u32)>>,
}

pub const PER_IP_PER_MINUTE: u32 = 10;

impl AuthFailureLog {
    pub fn should_record(&self, preview: Option<&str>, ip: Option<&str>, now: Instant) -> bool {
        let minute = Duration::from_secs(60);
        let key = match (preview, ip) {
            (Some(p), _) => format!("preview:{p}"),
            (None, Some(ip)) => format!("ip:{ip}"),
            (None, None) => String::new(),
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.len() > 10_000 {
            last.retain(|_, t| now.duration_since(*t) < minute);
        }
        if last.get(&key).is_some_and(|t| now.duration_since(*t) < minute) {
            return false;
        }
        if let Some(ip) = ip {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            if per_ip.len() > 10_000 {
                per_ip.retain(|_, (start, _)| now.duration_since(*start) < minute);
            }
            let entry = per_ip.entry(ip.to_string()).or_insert((now, 0));
            if now.duration_since(entry.0) >= minute {
                *entry = (now, 0);
            }
            if entry.1 >= PER_IP_PER_MINUTE {
                return false;
            }
            entry.1 += 1;
        }
        last.insert(key, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failures_are_limited_per_preview_and_per_ip() {
        let log = AuthFailureLog::default();
        let now = Instant::now();
        assert!(log.should_record(Some("prc_pat_aaaa…1111"), Some("10.0.0.1"), now));
        assert!(!log.should_record(Some("prc_pat_aaaa…1111"), Some("10.0.0.2"), now), "same preview");
        assert!(log.should_record(Some("prc_pat_bbbb…2222"), Some("10.0.0.1"), now), "another token, same host");
        for i in 0..20 {
            log.should_record(Some(&format!("prc_pat_{i:04}…0000")), Some("10.0.0.9"), now);
        }
        assert!(!log.should_record(Some("prc_pat_zzzz…9999"), Some("10.0.0.9"), now), "flood capped per IP");
        assert!(log.should_record(Some("prc_pat_zzzz…9999"), Some("10.0.0.9"), now + Duration::from_secs(61)));
        assert!(log.should_record(None, Some("10.0.0.3"), now));
        assert!(!log.should_record(None, Some("10.0.0.3"), now), "malformed tokens: per IP");
    }
}
