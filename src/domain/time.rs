//! Time as the API shows it: RFC 3339 UTC to the second. Storage keeps
//! unix seconds; conversions live here.

use std::sync::atomic::{AtomicI64, Ordering};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How far this process's clock runs ahead of the system's (0 but in tests).
static OFFSET_SECS: AtomicI64 = AtomicI64::new(0);

/// Runs this process's clock `secs` ahead of the system's from now on: how
/// tests see what the server does later (expiry, retention, idle sessions)
/// without waiting. Set by the hidden `--clock-offset-seconds` flag.
pub fn move_clock(secs: i64) {
    OFFSET_SECS.store(secs, Ordering::Relaxed);
}

/// The wall clock every rule reads: the system's, moved by [`move_clock`].
fn wall_clock() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::seconds(OFFSET_SECS.load(Ordering::Relaxed))
}

pub fn now() -> OffsetDateTime {
    wall_clock().replace_nanosecond(0).expect("0 is a valid nanosecond")
}

pub fn unix_now() -> i64 {
    wall_clock().unix_timestamp()
}

/// The instant `days` days before `now` (unix seconds): where a window of
/// days starts.
pub fn days_before(now: i64, days: u32) -> i64 {
    now - i64::from(days) * 86_400
}

/// Where a window of `days` ending at `now` starts: 00:00 UTC of the day
/// that held the instant `days` days before (windows are whole days, so
/// that the rollups by day answer them exactly).
pub fn window_start(now: i64, days: u32) -> i64 {
    days_before(now, days).div_euclid(86_400) * 86_400
}

pub fn from_unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-22T19:42:33Z`
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
}

pub fn rfc3339_unix(secs: i64) -> String {
    rfc3339(from_unix(secs))
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// "3 minutes ago", "in 5 days": for tables, with the exact time in a tooltip.
pub fn relative(secs: i64, now: i64) -> String {
    let delta = secs - now;
    let (abs, future) = (delta.unsigned_abs(), delta > 0);
    // Rounded to the nearest unit: a token made a second ago for 30 days
    // "expires in 30 days", not 29.
    let nearest = |unit: u64| ((abs + unit / 2) / unit).max(1);
    let (n, unit) = match abs {
        0..=44 => return if future { "in a few seconds".into() } else { "just now".into() },
        45..=3569 => (nearest(60), "minute"),
        3570..=84_599 => (nearest(3600), "hour"),
        84_600..=2_635_199 => (nearest(86_400), "day"),
        2_635_200..=31_535_999 => (nearest(2_592_000), "month"),
        _ => (nearest(31_536_000), "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-11-22T19:42:33Z").unwrap().unix_timestamp(), 1_795_376_553);
        assert_eq!(relative(100, 100), "just now");
        assert_eq!(relative(0, 120), "2 minutes ago");
        assert_eq!(relative(5 * 86_400 + 10, 0), "in 5 days");
        assert_eq!(relative(0, 3600), "1 hour ago");
        assert_eq!(relative(30 * 86_400 - 1, 0), "in 30 days");
        assert_eq!(relative(0, 100), "2 minutes ago");
        assert_eq!(relative(0, 89), "1 minute ago");
        assert_eq!(relative(45 * 86_400, 0), "in 2 months");
    }
}
