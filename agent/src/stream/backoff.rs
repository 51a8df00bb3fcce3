//! Jittered exponential backoff between connection attempts.

use std::time::Duration;

/// First delay after a failure.
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest delay: a collector back from a restart is found within this.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(15);

/// Delays double from `min` up to `max`; each is drawn from [½d, d] so that agents that lost
/// the collector at once do not come back at once.
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// A connection succeeded: start again from `min`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_maximum() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let expected_ceilings = [100, 200, 400, 800, 1000, 1000];
        for ceiling in expected_ceilings {
            let d = b.next_delay().as_millis() as u64;
            assert!(
                (ceiling / 2..=ceiling).contains(&d),
                "{d} ms outside [{}, {ceiling}]",
                ceiling / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
