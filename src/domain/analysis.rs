//! Test analytics as pure rules, no I/O (`db::analysis` feeds them rows):
//! how two runs' results compare (regressions, fixes, the "slower" rule),
//! percentiles and duration trends (flakiness is `domain::flaky`).
//!
//! Choices where API.md is silent:
//! - percentiles use the nearest-rank method on the measured durations;
//! - a trend compares the median of the newer half of a test's measured
//!   results in the window with the median of the older half (at least two
//!   in each half, else `stable` without a ratio): `slower` when the newer
//!   median is ≥ 20% and ≥ 20 ms above the older, `faster` when it is
//!   ≥ 20% and ≥ 20 ms below, else `stable`;

use serde::Serialize;

/// A result's status reduced to what analytics cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// `failed` or `error`.
    Failing,
    /// Failed, then passed within one run.
    Flaky,
    Skipped,
}

impl Outcome {
    pub fn from_status(status: &str) -> Outcome {
        match status {
            "passed" => Outcome::Passed,
            "failed" | "error" => Outcome::Failing,
            "flaky" => Outcome::Flaky,
            _ => Outcome::Skipped,
        }
    }
}

/// `failed` or `error`.
pub fn is_failing(status: &str) -> bool {
    Outcome::from_status(status) == Outcome::Failing
}

/// Where a test lands when a run is compared with its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Failing now; passing, skipped or absent in the base.
    NewFailure,
    /// Failing in the base; passed (or flaky) now.
    Fixed,
    /// Failing in both.
    StillFailing,
}

pub fn classify(status: &str, base_status: Option<&str>) -> Option<Change> {
    let was_failing = base_status.is_some_and(is_failing);
    match (Outcome::from_status(status), was_failing) {
        (Outcome::Failing, false) => Some(Change::NewFailure),
        (Outcome::Failing, true) => Some(Change::StillFailing),
        (Outcome::Passed | Outcome::Flaky, true) => Some(Change::Fixed),
        _ => None,
    }
}

pub const SLOWER_MIN_MS: i64 = 100;

/// API.md's "slower": the duration went up by at least 50% and at least 100 ms.
pub fn is_slower(base_ms: i64, now_ms: i64) -> bool {
    let (base, now) = (i128::from(base_ms), i128::from(now_ms));
    now - base >= i128::from(SLOWER_MIN_MS) && now * 2 >= base * 3
}

/// The `p`-th percentile (0–100) of ascending `sorted` values, nearest rank.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn median(values: &[i64]) -> Option<i64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    percentile(&sorted, 50.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Slower,
    Faster,
    Stable,
}

const TREND_RATIO: f64 = 1.2;
const TREND_MIN_MS: i64 = 20;

/// The trend of durations ordered oldest first, with the ratio of the newer
/// half's median to the older half's (when both halves have two or more).
pub fn trend(oldest_first: &[i64]) -> (Trend, Option<f64>) {
    if oldest_first.len() < 4 {
        return (Trend::Stable, None);
    }
    let (older, newer) = oldest_first.split_at(oldest_first.len() / 2);
    let (Some(old), Some(new)) = (median(older), median(newer)) else {
        return (Trend::Stable, None);
    };
    let ratio = if old > 0 { Some(round(new as f64 / old as f64, 2)) } else { None };
    let delta = new - old;
    let trend = if delta >= TREND_MIN_MS && (old == 0 || new as f64 >= old as f64 * TREND_RATIO) {
        Trend::Slower
    } else if -delta >= TREND_MIN_MS && new as f64 * TREND_RATIO <= old as f64 {
        Trend::Faster
    } else {
        Trend::Stable
    };
    (trend, ratio)
}

/// Durations of one test in the window, summarized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurationStats {
    pub runs: u32,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub trend: Trend,
    pub trend_ratio: Option<f64>,
}

/// `None` when nothing was measured.
pub fn duration_stats(oldest_first: &[i64]) -> Option<DurationStats> {
    let mut sorted = oldest_first.to_vec();
    sorted.sort_unstable();
    let (trend, trend_ratio) = trend(oldest_first);
    Some(DurationStats {
        runs: sorted.len() as u32,
        p50_ms: percentile(&sorted, 50.0)?,
        p95_ms: percentile(&sorted, 95.0)?,
        trend,
        trend_ratio,
    })
}

/// Passed (flaky counts as passed) among the tests that ran, 0–1; a run
/// where nothing ran (all skipped, or empty) counts as all passed.
pub fn pass_rate(passed: i64, flaky: i64, tests: i64, skipped: i64) -> f64 {
    let ran = tests - skipped;
    if ran <= 0 {
        1.0
    } else {
        round((passed + flaky) as f64 / ran as f64, 4)
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// A project's `flaky_flip_threshold` unless set (API.md section 9).
pub const DEFAULT_FLIP_THRESHOLD: u32 = 4;
/// The thresholds a project may choose.
pub const FLIP_THRESHOLDS: std::ops::RangeInclusive<u32> = 2..=50;

/// A flip threshold as typed into a form or sent to the API.
pub fn flip_threshold(raw: &str) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| FLIP_THRESHOLDS.contains(n))
        .ok_or_else(|| "flaky_flip_threshold must be a whole number between 2 and 50.".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 95.0), Some(7));
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[10, 20, 30, 40], 50.0), Some(20));
        assert_eq!(percentile(&[10, 20, 30, 40], 95.0), Some(40));
    }

    #[test]
    fn slower_needs_both_fifty_percent_and_a_hundred_ms() {
        assert!(is_slower(200, 300), "+50% and +100 ms");
        assert!(!is_slower(200, 299));
        assert!(!is_slower(1000, 1400), "+400 ms but only +40%");
        assert!(!is_slower(10, 100), "+900% but only +90 ms");
        assert!(is_slower(10, 110));
        assert!(is_slower(0, 100));
        assert!(!is_slower(300, 200));
        assert!(!is_slower(i64::MAX, i64::MAX));
    }

    #[test]
    fn classification() {
        assert_eq!(classify("failed", Some("passed")), Some(Change::NewFailure));
        assert_eq!(classify("error", None), Some(Change::NewFailure));
        assert_eq!(classify("failed", Some("skipped")), Some(Change::NewFailure));
        assert_eq!(classify("failed", Some("flaky")), Some(Change::NewFailure));
        assert_eq!(classify("passed", Some("error")), Some(Change::Fixed));
        assert_eq!(classify("flaky", Some("failed")), Some(Change::Fixed));
        assert_eq!(classify("error", Some("failed")), Some(Change::StillFailing));
        assert_eq!(classify("skipped", Some("failed")), None);
        assert_eq!(classify("passed", Some("passed")), None);
        assert_eq!(classify("passed", None), None);
    }

    #[test]
    fn trends() {
        assert_eq!(trend(&[100, 100, 100]), (Trend::Stable, None), "too few");
        assert_eq!(trend(&[100, 100, 200, 200]), (Trend::Slower, Some(2.0)));
        assert_eq!(trend(&[200, 200, 100, 100]), (Trend::Faster, Some(0.5)));
        assert_eq!(trend(&[100, 100, 110, 110]), (Trend::Stable, Some(1.1)));
        assert_eq!(trend(&[10, 10, 15, 15]).0, Trend::Stable, "+50% but only +5 ms");
        assert_eq!(trend(&[0, 0, 50, 50]), (Trend::Slower, None));
    }

    #[test]
    fn duration_stats_summarize() {
        assert_eq!(duration_stats(&[]), None);
        let s = duration_stats(&[5, 1, 3, 2, 4]).unwrap();
        assert_eq!((s.runs, s.p50_ms, s.p95_ms), (5, 3, 5));
    }

    #[test]
    fn pass_rates() {
        assert_eq!(pass_rate(0, 0, 0, 0), 1.0);
        assert_eq!(pass_rate(3, 1, 5, 1), 1.0);
        assert_eq!(pass_rate(1, 0, 4, 1), 0.3333);
    }
}
