//! Counting a backend's flips into and out of rotation, to report flapping without acting on it.

use std::time::Duration;

use super::settings::{FlapSettings, MAX_TRACKED_FLIPS};

/// The times of the last [`MAX_TRACKED_FLIPS`] flips, in a fixed ring: no allocation per machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlapCounter {
    times: [Duration; MAX_TRACKED_FLIPS],
    /// How many slots hold a flip.
    len: usize,
    /// The slot the next flip goes to.
    next: usize,
}

impl FlapCounter {
    pub fn record(&mut self, at: Duration) {
        self.times[self.next] = at;
        self.next = (self.next + 1) % MAX_TRACKED_FLIPS;
        self.len = (self.len + 1).min(MAX_TRACKED_FLIPS);
    }

    /// Flips within `window` up to `at` (flips at exactly `at - window` count), at most
    /// [`MAX_TRACKED_FLIPS`].
    pub fn count(&self, at: Duration, window: Duration) -> u32 {
        let since = at.saturating_sub(window);
        let n = self.times[..self.len]
            .iter()
            .filter(|t| **t >= since && **t <= at)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub fn is_flapping(&self, at: Duration, settings: &FlapSettings) -> bool {
        self.count(at, settings.window) >= settings.min_flips.max(1)
    }
}
