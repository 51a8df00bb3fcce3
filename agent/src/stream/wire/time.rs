//! Wall-clock times and durations on the wire.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (negative before it; saturating beyond ±292 years).
pub fn to_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

pub fn from_ns(ns: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// Whole microseconds (durations are truncated on the wire).
pub fn to_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub fn from_us(us: u64) -> Duration {
    Duration::from_micros(us)
}

/// A phase's duration: 0 when the probe did not reach it, else whole microseconds + 1.
pub fn phase_to_us(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| to_us(d).saturating_add(1))
}

pub fn phase_from_us(v: u64) -> Option<Duration> {
    v.checked_sub(1).map(from_us)
}
