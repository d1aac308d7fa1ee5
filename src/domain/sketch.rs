//! A duration sketch: the distribution of many durations in little space,
//! mergeable, answering percentiles within 1 % relative error (issue 14's
//! rollups keep one per test and day).
//!
//! Log buckets (as DDSketch): bucket `i` holds the durations in
//! `(γ^(i-1), γ^i]` milliseconds, `γ = (1 + α) / (1 - α)`, and answers with
//! `2γ^i / (γ + 1)`, which is within `α` of every duration in the bucket,
//! relatively. Zero is a bucket of its own, answered exactly. With
//! `α = 0.5 %`, rounding the answer to whole milliseconds keeps it within
//! 1 %: below 100 ms the answer is off by less than half a millisecond, so it
//! rounds to the exact value; from 100 ms on, `0.005 x + 0.5 <= 0.01 x`.
//! A percentile is the nearest-rank one (`domain::analysis::percentile`),
//! read from the bucket that holds that rank, so the bound holds for it.
//! Durations from 1 ms to 24 h use at most 1,833 buckets; a test's day
//! usually fills a handful, and only filled buckets are stored.

use std::collections::BTreeMap;

/// The relative accuracy of a bucket's answer, before rounding.
pub const ALPHA: f64 = 0.005;

/// `γ` of the bucket bounds.
fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

/// The bucket of `ms` (at least 1).
fn bucket(ms: u64) -> i32 {
    // ms <= 2^63, so the logarithm and the index are small.
    ((ms as f64).ln() / gamma().ln()).ceil() as i32
}

/// The answer for bucket `i`, in whole milliseconds.
fn answer(i: i32) -> u64 {
    let g = gamma();
    (2.0 * g.powi(i) / (g + 1.0)).round() as u64
}

/// The sketch of some durations (whole milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    zeros: u64,
    buckets: BTreeMap<i32, u64>,
}

/// Bytes that are not a sketch [`Sketch::encode`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotASketch;

impl Sketch {
    pub fn add(&mut self, ms: u64) {
        if ms == 0 {
            self.zeros += 1;
        } else {
            *self.buckets.entry(bucket(ms)).or_default() += 1;
        }
    }

    /// Adds every duration of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        self.zeros += other.zeros;
        for (i, n) in &other.buckets {
            *self.buckets.entry(*i).or_default() += n;
        }
    }

    /// How many durations it holds.
    pub fn count(&self) -> u64 {
        self.zeros + self.buckets.values().sum::<u64>()
    }

    /// The `p`-th percentile (0–100), nearest rank, within 1 %; `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0) * n as f64).ceil().clamp(1.0, n as f64) as u64;
        if rank <= self.zeros {
            return Some(0);
        }
        let mut seen = self.zeros;
        for (i, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(answer(*i));
            }
        }
        None
    }

    /// The sketch as bytes: the zeros, then each filled bucket as the step
    /// from the previous index and its count, all LEB128 varints (indexes
    /// zigzag-encoded, for durations below 1 ms never, but for safety).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.buckets.len() * 3);
        put(&mut out, self.zeros);
        let mut previous = 0i64;
        for (i, n) in &self.buckets {
            let step = i64::from(*i) - previous;
            put(&mut out, ((step << 1) ^ (step >> 63)) as u64);
            put(&mut out, *n);
            previous = i64::from(*i);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Sketch, NotASketch> {
        let mut input = bytes;
        let zeros = take(&mut input)?;
        let mut buckets = BTreeMap::new();
        let mut previous = 0i64;
        while !input.is_empty() {
            let raw = take(&mut input)?;
            let step = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
            let index = previous.checked_add(step).ok_or(NotASketch)?;
            let n = take(&mut input)?;
            let i = i32::try_from(index).map_err(|_| NotASketch)?;
            if n == 0 || (!buckets.is_empty() && step <= 0) {
                return Err(NotASketch);
            }
            buckets.insert(i, n);
            previous = index;
        }
        Ok(Sketch { zeros, buckets })
    }
}

fn put(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn take(input: &mut &[u8]) -> Result<u64, NotASketch> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first().ok_or(NotASketch)?;
        *input = rest;
        value |= u64::from(byte & 0x7f).checked_shl(shift).ok_or(NotASketch)?;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(NotASketch)
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

    fn within_one_percent(estimate: u64, exact: u64) -> bool {
        estimate.abs_diff(exact) as f64 <= 0.01 * exact as f64
    }

    #[test]
    fn every_percentile_is_within_one_percent_of_the_exact_nearest_rank() {
        for (seed, max) in [(1, 100.0), (2, 10_000.0), (3, 86_400_000.0), (4, 2.0)] {
            let values = durations(5_000, max, seed);
            let mut sketch = Sketch::default();
            values.iter().for_each(|v| sketch.add(*v));
            let mut sorted = values.clone();
            sorted.sort_unstable();
            for p in [0.0, 1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0] {
                let exact = percentile(&sorted.iter().map(|v| *v as i64).collect::<Vec<_>>(), p).unwrap() as u64;
                let estimate = sketch.percentile(p).unwrap();
                assert!(within_one_percent(estimate, exact), "p{p} of seed {seed}: {estimate} for {exact}");
            }
        }
    }

    #[test]
    fn every_duration_from_0_to_24_hours_is_answered_within_one_percent() {
        let mut ms = 0u64;
        while ms <= 86_400_000 {
            let mut one = Sketch::default();
            one.add(ms);
            assert!(within_one_percent(one.percentile(50.0).unwrap(), ms), "{ms} ms");
            ms = if ms < 2_000 { ms + 1 } else { ms + ms / 997 };
        }
        let buckets = bucket(86_400_000) - bucket(1) + 1;
        assert!(buckets <= 1_833, "{buckets} buckets");
    }

    #[test]
    fn merged_sketches_equal_one_of_all_the_durations() {
        let (a, b) = (durations(700, 60_000.0, 7), durations(300, 60_000.0, 8));
        let (mut left, mut right, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        a.iter().for_each(|v| left.add(*v));
        b.iter().for_each(|v| right.add(*v));
        a.iter().chain(&b).for_each(|v| all.add(*v));
        left.merge(&right);
        assert_eq!(left, all);
        assert_eq!(left.count(), 1_000);
    }

    #[test]
    fn the_bytes_round_trip_and_stay_small() {
        let mut sketch = Sketch::default();
        durations(10_000, 500.0, 9).iter().for_each(|v| sketch.add(*v));
        sketch.add(0);
        let bytes = sketch.encode();
        assert_eq!(Sketch::decode(&bytes), Ok(sketch.clone()));
        assert!(bytes.len() < 4 * sketch.buckets.len() + 8, "{} bytes", bytes.len());
        assert_eq!(Sketch::decode(&Sketch::default().encode()), Ok(Sketch::default()));
        let mut one = Sketch::default();
        one.add(120);
        assert!(one.encode().len() <= 4, "one duration in a few bytes");
    }

    #[test]
    fn bytes_that_are_not_a_sketch_are_refused() {
        for bad in [&[][..], &[0x80][..], &[0, 2][..], &[0, 2, 0][..], &[0, 4, 1, 0, 1][..], &[0xff; 11][..]] {
            assert_eq!(Sketch::decode(bad), Err(NotASketch), "{bad:?}");
        }
        assert_eq!(Sketch::default().percentile(50.0), None);
    }
}
