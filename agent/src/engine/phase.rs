//! Where each probe of a target falls in time: K virtual probers evenly phased over the LB
//! interval. Together they form one stream of probes every `interval / K`, the n-th belonging to
//! prober `n mod K`; due times are computed from the slot number, so they never drift.

use std::time::Duration;

/// The sampling of one (spec, target): K virtual probers over `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phasing {
    pub interval: Duration,
    pub probers: u32,
    /// Where slot 0 falls after the target's start, in `[0, interval / K)`: spreads targets
    /// that start together.
    pub offset: Duration,
}

impl Phasing {
    /// K = rate × interval, at least 1: the number of virtual probers that sample a target `rate`
    /// times per second.
    pub fn for_rate(interval: Duration, rate_per_s: f64, offset_seed: u64) -> Phasing {
        let k = (rate_per_s * interval.as_secs_f64()).round();
        let probers = if k.is_finite() && k >= 1.0 {
            k.min(f64::from(u32::MAX)) as u32
        } else {
            1
        };
        let slot = interval / probers;
        let offset = if slot.is_zero() {
            Duration::ZERO
        } else {
            // A multiplicative hash spreads sequential seeds over the slot.
            let frac = offset_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
            slot.mul_f64(frac as f64 / (1u64 << 53) as f64)
        };
        Phasing {
            interval,
            probers,
            offset,
        }
    }

    /// The virtual prober that owns slot `n`.
    pub fn prober(&self, slot: u64) -> u32 {
        (slot % u64::from(self.probers)) as u32
    }

    /// When slot `n` is due, after the target's start.
    pub fn due(&self, slot: u64) -> Duration {
        let k = u64::from(self.probers);
        let whole = self
            .interval
            .saturating_mul(u32::try_from(slot / k).unwrap_or(u32::MAX));
        let part = self.interval.as_nanos() * u128::from(slot % k) / u128::from(k);
        self.offset + whole + Duration::from_nanos(u64::try_from(part).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ten_probes_per_second_over_a_five_second_interval_is_fifty_probers() {
        let p = Phasing::for_rate(Duration::from_secs(5), 10.0, 0);
        assert_eq!(p.probers, 50);
        assert_eq!(p.offset, Duration::ZERO);
        assert_eq!(p.due(1), Duration::from_millis(100));
        assert_eq!(p.due(50), Duration::from_secs(5));
        assert_eq!(p.prober(50), 0);
        assert_eq!(p.prober(51), 1);
    }

    #[test]
    fn a_rate_below_one_per_interval_still_probes_once_per_interval() {
        let p = Phasing::for_rate(Duration::from_secs(30), 0.0, 7);
        assert_eq!(p.probers, 1);
        assert!(p.offset < Duration::from_secs(30));
        assert_eq!(p.due(1) - p.due(0), Duration::from_secs(30));
    }

    proptest! {
        #[test]
        fn each_virtual_prober_fires_exactly_once_per_interval_at_its_own_phase(
            interval_ms in 1_000u64..300_000,
            rate in 0.1f64..50.0,
            seed in any::<u64>(),
            round in 0u64..1000,
        ) {
            let interval = Duration::from_millis(interval_ms);
            let p = Phasing::for_rate(interval, rate, seed);
            let k = u64::from(p.probers);
            prop_assert!(p.offset < interval / p.probers || p.offset.is_zero());
            for i in 0..k.min(64) {
                let a = p.due(round * k + i);
                let b = p.due((round + 1) * k + i);
                prop_assert_eq!(b - a, interval, "prober {} period", i);
                prop_assert_eq!(p.prober(round * k + i), i as u32);
                // Evenly phased: prober i sits i/K of the interval after prober 0.
                let phase = a - p.due(round * k);
                let expected = interval.as_nanos() * u128::from(i) / u128::from(k);
                prop_assert_eq!(phase.as_nanos(), expected);
            }
        }
    }
}
