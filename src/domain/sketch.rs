//! A duration sketch: the distribution of many durations in little space,
//! mergeable and subtractable, answering percentiles within 1 % (issue
//! 14's rollups keep running totals of one per test, so that a window is
//! the totals at its end minus those before its start).
//!
//! Buckets are log-linear and integer-only (as HdrHistogram's), so the
//! same duration lands in the same bucket on every machine:
//!
//! - a duration under 128 ms has a bucket of its own, answered exactly;
//! - from 128 ms on, each octave `[2^k, 2^(k+1))` is cut into 64 buckets
//!   of width `w = 2^(k-6)`, each answered by its midpoint.
//!
//! **The bound.** The bucket index grows with the duration, so sorted
//! durations fill the buckets in order, and the nearest-rank percentile
//! (`domain::analysis::percentile`) lies in the first bucket whose running
//! count reaches its rank. The answer, that bucket's midpoint, is off by at
//! most `w/2 = 2^(k-7)` from any duration in it, which is at least `2^k`:
//! at most 1/128 (0.78 %) relatively, and exact under 128 ms. Counts are
//! whole numbers, so merging and subtracting keep the bound. The last
//! octave ends at `2^27` ms (37.3 hours); longer durations are counted in
//! its last bucket, and answered as about 37 hours. 1 ms to 24 hours use
//! buckets 1 to 1,362 of 1,408; only filled buckets are stored.

use crate::domain::varint;

/// Durations under this have a bucket each.
const EXACT: u64 = 128;
/// Buckets per octave above [`EXACT`].
const PER_OCTAVE: u64 = 64;
/// The first octave past the last: `2^27` ms.
const END_OCTAVE: u32 = 27;
/// Buckets in all.
pub const BUCKETS: u16 = (EXACT + (END_OCTAVE as u64 - 7) * PER_OCTAVE) as u16;

/// The bucket of `ms`.
fn index(ms: u64) -> u16 {
    if ms < EXACT {
        return ms as u16;
    }
    let octave = 63 - ms.leading_zeros();
    if octave >= END_OCTAVE {
        return BUCKETS - 1;
    }
    let sub = (ms >> (octave - 6)) - PER_OCTAVE;
    (EXACT + u64::from(octave - 7) * PER_OCTAVE + sub) as u16
}

/// The smallest duration in bucket `i`, and the bucket's width.
fn bounds(i: u16) -> (u64, u64) {
    let i = u64::from(i);
    if i < EXACT {
        return (i, 1);
    }
    let (octave, sub) = (7 + (i - EXACT) / PER_OCTAVE, (i - EXACT) % PER_OCTAVE);
    ((PER_OCTAVE + sub) << (octave - 6), 1 << (octave - 6))
}

/// The answer for bucket `i`: its midpoint (rounded down).
fn answer(i: u16) -> u64 {
    let (lower, width) = bounds(i);
    lower + (width - 1) / 2
}

/// The sketch of some durations (whole milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    /// The filled buckets, by index ascending, with their counts (never
    /// 0): a test's durations fill a few dozen, so a sorted vector beats a
    /// tree (one allocation to decode, merges in one pass).
    buckets: Vec<(u16, u64)>,
}

/// Bytes that are not a sketch [`Sketch::encode`] wrote, or a subtraction
/// of durations the sketch does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotASketch;

impl Sketch {
    fn find(&self, i: u16) -> Result<usize, usize> {
        self.buckets.binary_search_by_key(&i, |(b, _)| *b)
    }

    pub fn add(&mut self, ms: u64) {
        let i = index(ms);
        match self.find(i) {
            Ok(k) => self.buckets[k].1 += 1,
            Err(k) => self.buckets.insert(k, (i, 1)),
        }
    }

    /// Whether it holds a duration in `ms`'s bucket.
    pub fn holds(&self, ms: u64) -> bool {
        self.find(index(ms)).is_ok()
    }

    /// Takes one `ms` away; false (and unchanged) when its bucket is empty.
    pub fn remove(&mut self, ms: u64) -> bool {
        match self.find(index(ms)) {
            Ok(k) if self.buckets[k].1 == 1 => {
                self.buckets.remove(k);
                true
            }
            Ok(k) => {
                self.buckets[k].1 -= 1;
                true
            }
            Err(_) => false,
        }
    }

    /// Adds every duration of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        if other.buckets.is_empty() {
            return;
        }
        let (x, y) = (&self.buckets, &other.buckets);
        let mut out = Vec::with_capacity(x.len() + y.len());
        let (mut a, mut b) = (0, 0);
        while a < x.len() || b < y.len() {
            if b == y.len() || (a < x.len() && x[a].0 < y[b].0) {
                out.push(x[a]);
                a += 1;
            } else if a == x.len() || y[b].0 < x[a].0 {
                out.push(y[b]);
                b += 1;
            } else {
                out.push((x[a].0, x[a].1 + y[b].1));
                (a, b) = (a + 1, b + 1);
            }
        }
        self.buckets = out;
    }

    /// Takes away every duration of `other`, which this sketch must hold
    /// (totals at a window's end minus those before it); unchanged when not.
    pub fn subtract(&mut self, other: &Sketch) -> Result<(), NotASketch> {
        let mut out = Vec::with_capacity(self.buckets.len());
        let mut mine = self.buckets.iter().copied();
        for (i, n) in &other.buckets {
            loop {
                match mine.next() {
                    Some((j, m)) if j < *i => out.push((j, m)),
                    Some((j, m)) if j == *i && m >= *n => {
                        if m > *n {
                            out.push((j, m - n));
                        }
                        break;
                    }
                    _ => return Err(NotASketch),
                }
            }
        }
        out.extend(mine);
        self.buckets = out;
        Ok(())
    }

    /// How many durations it holds.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    /// The `p`-th percentile (0–100), nearest rank, within 1/128; `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0) * n as f64).ceil().clamp(1.0, n as f64) as u64;
        let mut seen = 0;
        self.buckets.iter().find_map(|(i, count)| {
            seen += count;
            (seen >= rank).then(|| answer(*i))
        })
    }

    /// The sketch as bytes: each filled bucket as the step from the
    /// previous one's index (the first from -1) and its count, LEB128
    /// varints; the empty sketch is no bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buckets.len() * 3);
        let mut previous = -1i64;
        for (i, n) in &self.buckets {
            varint::put(&mut out, (i64::from(*i) - previous) as u64);
            varint::put(&mut out, *n);
            previous = i64::from(*i);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Sketch, NotASketch> {
        let mut input = bytes;
        let mut buckets = Vec::with_capacity(bytes.len() / 2);
        let mut previous = -1i64;
        while !input.is_empty() {
            let step = varint::take(&mut input).ok_or(NotASketch)?;
            let n = varint::take(&mut input).ok_or(NotASketch)?;
            let i = i64::try_from(step).ok().and_then(|s| previous.checked_add(s)).ok_or(NotASketch)?;
            if step == 0 || n == 0 || i >= i64::from(BUCKETS) {
                return Err(NotASketch);
            }
            buckets.push((i as u16, n));
            previous = i;
        }
        Ok(Sketch { buckets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analysis::percentile;

    /// Deterministic pseudo-random durations: `n` of them, log-uniform up to `max` ms.
    fn durations(n: usize, max: f64, seed: u64) -> Vec<u64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
                (max.powf(unit) - 1.0).round() as u64
            })
            .collect()
    }

    /// `estimate` is within 1/128 of `exact`.
    fn close(estimate: u64, exact: u64) -> bool {
        estimate.abs_diff(exact) * 128 <= exact
    }

    #[test]
    fn buckets_hold_their_durations_in_order_and_answer_within_1_in_128() {
        let edges = (7..END_OCTAVE).flat_map(|k| [(1u64 << k) - 1, 1 << k, (1 << k) + 1]);
        let values = (0..1u64 << 20).chain(edges).chain(durations(100_000, (1u64 << 27) as f64, 5));
        let mut last = (0u64, 0u16);
        for v in values.filter(|v| *v < 1 << END_OCTAVE) {
            let i = index(v);
            let (lower, width) = bounds(i);
            assert!(lower <= v && v < lower + width, "{v} ms in bucket {i} [{lower}, +{width})");
            assert!(close(answer(i), v), "{v} ms answered {}", answer(i));
            if v >= last.0 {
                assert!(i >= last.1, "the bucket of {v} comes before that of {}", last.0);
            }
            last = (v, i);
        }
        assert_eq!(index(86_400_000), 1_362, "24 hours");
        assert_eq!(index(u64::MAX), BUCKETS - 1, "longer than 37 hours: the last bucket");
        assert_eq!(answer(index(42)), 42, "exact under 128 ms");
    }

    #[test]
    fn percentiles_are_within_1_in_128_of_the_exact_nearest_rank() {
        let sets: Vec<Vec<u64>> = vec![
            durations(5_000, 100.0, 1),
            durations(5_000, 10_000.0, 2),
            durations(5_000, 86_400_000.0, 3),
            vec![0; 20],
            vec![250; 7],
            [vec![5; 19], vec![30_000; 19], vec![86_400_000]].concat(),
            vec![1],
            vec![3, 1_000],
        ];
        for values in sets {
            let mut sketch = Sketch::default();
            values.iter().for_each(|v| sketch.add(*v));
            let mut sorted: Vec<i64> = values.iter().map(|v| *v as i64).collect();
            sorted.sort_unstable();
            for p in [0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 100.0] {
                let exact = percentile(&sorted, p).unwrap() as u64;
                let estimate = sketch.percentile(p).unwrap();
                assert!(close(estimate, exact), "p{p} of {} values: {estimate} for {exact}", values.len());
            }
        }
    }

    #[test]
    fn merging_then_subtracting_gives_back_the_sketch() {
        let (a, b) = (durations(700, 60_000.0, 7), durations(300, 60_000.0, 8));
        let (mut left, mut right, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        a.iter().for_each(|v| left.add(*v));
        b.iter().for_each(|v| right.add(*v));
        a.iter().chain(&b).for_each(|v| all.add(*v));
        let before = left.clone();
        left.merge(&right);
        assert_eq!(left, all);
        assert_eq!(left.count(), 1_000);
        left.subtract(&right).unwrap();
        assert_eq!(left, before);
        let mut small = Sketch::default();
        small.add(5);
        assert_eq!(small.clone().subtract(&right), Err(NotASketch), "more than it holds");
        assert_eq!(small.subtract(&Sketch::default()), Ok(()));
    }

    #[test]
    fn a_refused_subtraction_or_removal_changes_nothing() {
        let mut s = Sketch::default();
        [5, 200, 200, 5000].into_iter().for_each(|ms| s.add(ms));
        let before = s.clone();
        let mut more = Sketch::default();
        [200, 200, 200].into_iter().for_each(|ms| more.add(ms));
        assert_eq!(s.subtract(&more), Err(NotASketch));
        assert_eq!(s, before);
        assert!(!s.remove(7));
        assert_eq!(s, before);
        assert!(s.remove(200) && s.remove(200) && !s.holds(200));
        assert_eq!((s.count(), s.percentile(100.0)), (2, Some(5023)));
    }

    #[test]
    fn the_bytes_round_trip_and_stay_small() {
        let mut sketch = Sketch::default();
        durations(10_000, 500.0, 9).iter().for_each(|v| sketch.add(*v));
        sketch.add(0);
        let bytes = sketch.encode();
        assert_eq!(Sketch::decode(&bytes), Ok(sketch.clone()));
        assert!(bytes.len() <= 4 * sketch.buckets.len(), "{} bytes", bytes.len());
        assert_eq!(Sketch::decode(&[]), Ok(Sketch::default()));
        let mut one = Sketch::default();
        one.add(120);
        assert_eq!(one.encode().len(), 2, "one duration in two bytes");
    }

    #[test]
    fn bytes_that_are_not_a_sketch_are_refused() {
        let past_the_end = [0xb0, 0x0b, 1]; // step 1456: bucket 1455
        for bad in [&[0x80][..], &[2][..], &[0, 1][..], &[1, 0][..], &past_the_end[..], &[0xff; 11][..]] {
            assert_eq!(Sketch::decode(bad), Err(NotASketch), "{bad:?}");
        }
        assert_eq!(Sketch::default().percentile(50.0), None);
    }
}
