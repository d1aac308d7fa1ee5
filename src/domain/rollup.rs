//! Rollups: what analytics keeps per test and UTC day so that a window's
//! answer costs the same at any history (issue 14). Pure: the digest
//! format, the per-test tallies and the day arithmetic; `db::rollups`
//! stores them.
//!
//! A report's results become a **digest**, one blob written in the ingest
//! transaction: per result its test, outcome, duration and failure group.
//! A test reported again in the same run is merged (`db::results`): its
//! stored result leaves the digest as a *removal* and the merged one
//! enters, so the digests of a run always add up to its stored results.
//! Digests are folded, a minute or so later, into per-test **running
//! totals** by day; a window is the totals now minus the totals at the end
//! of the day before it, plus the digests not yet folded.

use crate::domain::report::Outcome;
use crate::domain::sketch::{NotASketch, Sketch};
use crate::domain::varint;

const DAY: i64 = 86_400;

/// The UTC day (days since 1970-01-01) holding the instant `unix`.
pub fn day_of(unix: i64) -> i64 {
    unix.div_euclid(DAY)
}

/// The first instant of `day`.
pub fn day_start(day: i64) -> i64 {
    day * DAY
}

/// One result in a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The test's key in `tests`.
    pub test: i64,
    pub outcome: Outcome,
    /// A result leaving the run's totals (replaced by a merged one).
    pub removed: bool,
    pub duration_ms: Option<u64>,
    /// The failure group of a failed or errored result.
    pub fingerprint: Option<i64>,
}

const OUTCOMES: [Outcome; 5] = [Outcome::Passed, Outcome::Failed, Outcome::Error, Outcome::Skipped, Outcome::Flaky];

fn outcome_index(o: Outcome) -> usize {
    OUTCOMES.iter().position(|x| *x == o).unwrap_or(3)
}

/// Bytes that are not a digest [`DigestWriter`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotADigest;

impl From<NotASketch> for NotADigest {
    fn from(_: NotASketch) -> NotADigest {
        NotADigest
    }
}

const REMOVED: u8 = 0x08;
const TIMED: u8 = 0x10;
const GROUPED: u8 = 0x20;

/// Builds a digest: per entry the step from the previous entry's test (a
/// zigzag LEB128 varint), a flags byte (outcome in the low three bits,
/// then removed, timed, grouped), the duration as a varint when timed and
/// the fingerprint's eight bytes (little-endian) when grouped.
#[derive(Debug, Default)]
pub struct DigestWriter {
    bytes: Vec<u8>,
    entries: u32,
    previous: i64,
}

impl DigestWriter {
    pub fn push(&mut self, e: &Entry) {
        let step = e.test.wrapping_sub(self.previous);
        varint::put(&mut self.bytes, ((step << 1) ^ (step >> 63)) as u64);
        self.previous = e.test;
        let mut flags = outcome_index(e.outcome) as u8;
        flags |= if e.removed { REMOVED } else { 0 };
        flags |= if e.duration_ms.is_some() { TIMED } else { 0 };
        flags |= if e.fingerprint.is_some() { GROUPED } else { 0 };
        self.bytes.push(flags);
        if let Some(ms) = e.duration_ms {
            varint::put(&mut self.bytes, ms);
        }
        if let Some(print) = e.fingerprint {
            self.bytes.extend_from_slice(&print.to_le_bytes());
        }
        self.entries += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn len(&self) -> u32 {
        self.entries
    }

    /// The digest and how many entries it holds.
    pub fn finish(self) -> (Vec<u8>, u32) {
        (self.bytes, self.entries)
    }
}

/// Calls `each` with every entry of a digest, in the order they were pushed.
pub fn read_digest(bytes: &[u8], mut each: impl FnMut(Entry)) -> Result<(), NotADigest> {
    let mut input = bytes;
    let mut previous = 0i64;
    while !input.is_empty() {
        let zigzag = varint::take(&mut input).ok_or(NotADigest)?;
        let step = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        previous = previous.wrapping_add(step);
        let (&flags, rest) = input.split_first().ok_or(NotADigest)?;
        input = rest;
        let outcome = *OUTCOMES.get(usize::from(flags & 0x07)).ok_or(NotADigest)?;
        if flags & !(0x07 | REMOVED | TIMED | GROUPED) != 0 {
            return Err(NotADigest);
        }
        let duration_ms = if flags & TIMED != 0 { Some(varint::take(&mut input).ok_or(NotADigest)?) } else { None };
        let fingerprint = if flags & GROUPED != 0 {
            let (print, rest) = input.split_first_chunk::<8>().ok_or(NotADigest)?;
            input = rest;
            Some(i64::from_le_bytes(*print))
        } else {
            None
        };
        each(Entry { test: previous, outcome, removed: flags & REMOVED != 0, duration_ms, fingerprint });
    }
    Ok(())
}

/// A test's results over some days: counts by outcome, and the sketch of
/// the durations of those that ran (not skipped) and were timed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// By outcome: passed, failed, error, skipped, flaky.
    counts: [i64; 5],
    pub durations: Sketch,
}

impl Tally {
    /// Adds an entry, or takes it away when it is a removal; false when a
    /// removal finds nothing to take (never for digests applied in order
    /// onto the totals holding what they remove).
    pub fn apply(&mut self, e: &Entry) -> bool {
        let i = outcome_index(e.outcome);
        let timed = e.duration_ms.filter(|_| e.outcome != Outcome::Skipped);
        if !e.removed {
            self.counts[i] += 1;
            if let Some(ms) = timed {
                self.durations.add(ms);
            }
            return true;
        }
        if self.counts[i] == 0 || timed.is_some_and(|ms| !self.durations.holds(ms)) {
            return false;
        }
        self.counts[i] -= 1;
        timed.is_none_or(|ms| self.durations.remove(ms))
    }

    pub fn merge(&mut self, other: &Tally) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.durations.merge(&other.durations);
    }

    /// Takes away what `other` holds (the totals before a window from
    /// those at its end); unchanged and an error when it does not hold it.
    pub fn subtract(&mut self, other: &Tally) -> Result<(), NotASketch> {
        if self.counts.iter().zip(other.counts).any(|(a, b)| *a < b) {
            return Err(NotASketch);
        }
        self.durations.subtract(&other.durations)?;
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a -= b;
        }
        Ok(())
    }

    pub fn count(&self, o: Outcome) -> i64 {
        self.counts[outcome_index(o)]
    }

    /// Every result, skipped ones included.
    pub fn results(&self) -> i64 {
        self.counts.iter().sum()
    }

    /// Failed, errored or flaky results.
    pub fn failing(&self) -> i64 {
        self.count(Outcome::Failed) + self.count(Outcome::Error) + self.count(Outcome::Flaky)
    }

    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|c| *c == 0)
    }

    /// The counts as stored (passed, failed, error, skipped, flaky).
    pub fn counts(&self) -> [i64; 5] {
        self.counts
    }

    pub fn from_parts(counts: [i64; 5], durations: Sketch) -> Tally {
        Tally { counts, durations }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(test: i64, outcome: Outcome, removed: bool, ms: Option<u64>, print: Option<i64>) -> Entry {
        Entry { test, outcome, removed, duration_ms: ms, fingerprint: print }
    }

    #[test]
    fn digests_read_back_what_was_pushed_in_order() {
        let entries = [
            entry(7, Outcome::Passed, false, Some(12), None),
            entry(3, Outcome::Failed, false, None, Some(-5)),
            entry(3, Outcome::Failed, true, None, Some(-5)),
            entry(3, Outcome::Flaky, false, Some(300_000), None),
            entry(i64::MAX, Outcome::Error, false, Some(u64::MAX), Some(i64::MIN)),
            entry(0, Outcome::Skipped, false, Some(0), None),
        ];
        let mut w = DigestWriter::default();
        entries.iter().for_each(|e| w.push(e));
        let (bytes, n) = w.finish();
        assert_eq!(n, 6);
        let mut back = Vec::new();
        read_digest(&bytes, |e| back.push(e)).unwrap();
        assert_eq!(back, entries);
    }

    #[test]
    fn truncated_or_unknown_digests_are_refused() {
        let mut w = DigestWriter::default();
        w.push(&entry(1, Outcome::Failed, false, Some(1000), Some(42)));
        let (bytes, _) = w.finish();
        for cut in 1..bytes.len() {
            assert_eq!(read_digest(&bytes[..cut], |_| {}), Err(NotADigest), "cut at {cut}");
        }
        assert_eq!(read_digest(&[2, 0x47], |_| {}), Err(NotADigest), "unknown flag");
        assert_eq!(read_digest(&[2, 0x05], |_| {}), Err(NotADigest), "unknown outcome");
    }

    #[test]
    fn a_removal_undoes_its_entry_and_skipped_results_are_not_timed() {
        let mut t = Tally::default();
        assert!(t.apply(&entry(1, Outcome::Failed, false, Some(200), None)));
        assert!(t.apply(&entry(1, Outcome::Skipped, false, Some(5), None)));
        assert_eq!((t.results(), t.failing(), t.durations.count()), (2, 1, 1));
        assert!(t.apply(&entry(1, Outcome::Failed, true, Some(200), None)));
        assert!(t.apply(&entry(1, Outcome::Flaky, false, Some(250), None)));
        assert_eq!((t.results(), t.failing(), t.count(Outcome::Flaky)), (2, 1, 1));
        assert_eq!(t.durations.percentile(50.0), Some(250));
        assert!(!t.apply(&entry(1, Outcome::Passed, true, None, None)), "nothing passed to remove");
    }

    #[test]
    fn a_window_is_totals_minus_the_totals_before_it() {
        let (mut before, mut end) = (Tally::default(), Tally::default());
        for ms in [10, 20, 30] {
            before.apply(&entry(1, Outcome::Passed, false, Some(ms), None));
        }
        end.merge(&before);
        for ms in [100, 110] {
            end.apply(&entry(1, Outcome::Error, false, Some(ms), None));
        }
        let mut window = end.clone();
        window.subtract(&before).unwrap();
        assert_eq!((window.results(), window.failing(), window.durations.percentile(100.0)), (2, 2, Some(110)));
        assert!(before.clone().subtract(&end).is_err(), "more than it holds");
    }

    #[test]
    fn windows_are_whole_utc_days() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(86_399), 0);
        assert_eq!(day_of(-1), -1);
        // 2026-12-04 10:00 UTC, 30 days back: 2026-11-04 10:00, so the
        // window starts at 2026-11-04 00:00.
        let now = 1_796_378_400;
        assert_eq!(crate::domain::time::window_start(now, 30), now - 30 * 86_400 - 10 * 3600);
    }
}
