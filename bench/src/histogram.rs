//! A log-linear latency histogram: exact below 128 µs, then 64 buckets per power of two (about
//! 1.6 % wide). Fixed size and allocation-free when recording, so that measuring every probe's
//! lateness costs the prober next to nothing.

use std::time::Duration;

/// Values below this many microseconds get a bucket each.
const LINEAR: u64 = 128;
/// Sub-buckets per power of two above [`LINEAR`].
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// 128 exact buckets, then 64 per power of two from 2^7 to 2^63.
const BUCKETS: usize = (LINEAR + (64 - 7) * SUB) as usize;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max_us: 0,
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros();
    let sub = (us >> (exp - SUB_BITS)) & (SUB - 1);
    (LINEAR + u64::from(exp - 7) * SUB + sub) as usize
}

/// The largest value that falls in bucket `idx`.
fn upper_bound(idx: usize) -> u64 {
    let idx = idx as u64;
    if idx < LINEAR {
        return idx;
    }
    let exp = (idx - LINEAR) / SUB + 7;
    let sub = (idx - LINEAR) % SUB;
    let width = 1u64 << (exp - u64::from(SUB_BITS));
    ((SUB + sub) << (exp - u64::from(SUB_BITS))).saturating_add(width - 1)
}

impl Histogram {
    pub fn record(&mut self, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value below or at which a fraction `q` of the recorded values fall (the bucket's upper
    /// bound, capped at the maximum seen); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (idx, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_micros(upper_bound(idx).min(self.max_us)));
            }
        }
        Some(Duration::from_micros(self.max_us))
    }

    pub fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_micros(self.max_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_a_bucket_whose_upper_bound_is_within_two_percent_above_it() {
        let mut v = 0u64;
        while v < 1u64 << 40 {
            let idx = bucket(v);
            let ub = upper_bound(idx);
            assert!(ub >= v, "{v} -> {idx} -> {ub}");
            assert!(ub - v <= v / 50 + 1, "{v} -> {ub}");
            if idx > 0 {
                assert!(upper_bound(idx - 1) < v, "{v} also fits bucket {}", idx - 1);
            }
            v = v + 1 + v / 7;
        }
        assert!(bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_of_a_uniform_millisecond_spread_land_near_the_exact_values() {
        let mut h = Histogram::default();
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).expect("p50").as_micros() as f64;
        let p99 = h.quantile(0.99).expect("p99").as_micros() as f64;
        assert!((p50 - 5_000.0).abs() / 5_000.0 < 0.02, "{p50}");
        assert!((p99 - 9_900.0).abs() / 9_900.0 < 0.02, "{p99}");
        assert_eq!(h.max(), Some(Duration::from_micros(10_000)));
        assert_eq!(h.count(), 10_000);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
