//! `intervalAndThreshold()`: the probe interval and threshold of one probe, and their limits.

use super::{
    DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD, MAX_TOTAL_S, MIN_INTERVAL_S, MIN_THRESHOLD, NEAR_TOTAL_S,
};
use crate::lb::azure::annotations::{self as keys, ProbeParam, port_probe_key};
use crate::lb::azure::{Derivation, warnings};

/// One setting of `intervalAndThreshold()` and the annotation it came from.
struct Setting {
    value: i32,
    key: Option<String>,
}

impl Setting {
    fn describe(&self, name: &str) -> String {
        match &self.key {
            Some(key) => format!("{name} {} ({key})", self.value),
            None => format!("{name} {} (default)", self.value),
        }
    }
}

impl Derivation<'_> {
    /// `intervalAndThreshold(key)`: per-port annotation keyed by `key_port`, else the global one,
    /// else the default; threshold >= 2, interval >= 5, interval x threshold < 120.
    pub(in crate::lb::azure) fn interval_and_threshold(
        &mut self,
        key_port: Option<i32>,
        label: &str,
    ) -> Result<(u32, u32), String> {
        let threshold = self.setting(
            key_port,
            ProbeParam::NumOfProbe,
            keys::PROBE_NUM_OF_PROBE,
            MIN_THRESHOLD,
            DEFAULT_THRESHOLD,
        )?;
        let interval = self.setting(
            key_port,
            ProbeParam::Interval,
            keys::PROBE_INTERVAL,
            MIN_INTERVAL_S,
            DEFAULT_INTERVAL_S,
        )?;
        // cloud-provider-azure multiplies two int32s: Go wraps on overflow.
        let checked = interval.value.wrapping_mul(threshold.value);
        let total = i64::from(interval.value) * i64::from(threshold.value);
        if i64::from(checked) >= MAX_TOTAL_S {
            return Err(format!(
                "total probe should be less than 120, please adjust interval and number of probe \
                 accordingly: {} x {} = {total} s",
                interval.describe("interval"),
                threshold.describe("num-of-probe"),
            ));
        }
        if total >= MAX_TOTAL_S {
            self.warn(warnings::overflow_accepted(
                label,
                interval.value,
                threshold.value,
            ));
        } else if total >= NEAR_TOTAL_S {
            self.warn(warnings::near_total_limit(
                label,
                interval.value,
                threshold.value,
            ));
        }
        // Both are at least their minimum, so positive.
        Ok((
            interval.value.unsigned_abs(),
            threshold.value.unsigned_abs(),
        ))
    }

    fn setting(
        &self,
        key_port: Option<i32>,
        param: ProbeParam,
        global_key: &str,
        min: i32,
        default: u32,
    ) -> Result<Setting, String> {
        let keys = key_port
            .map(|port| port_probe_key(port, param))
            .into_iter()
            .chain(std::iter::once(global_key.to_owned()));
        for key in keys {
            if let Some(raw) = self.ann.get(&key) {
                let value = keys::parse_int32(&key, raw)?;
                if value < min {
                    return Err(format!(
                        "failed to parse annotation {key}: error parsing value: the minimum value \
                         of {} is {min} (got {raw:?})",
                        param.as_str()
                    ));
                }
                return Ok(Setting {
                    value,
                    key: Some(key),
                });
            }
        }
        Ok(Setting {
            value: i32::try_from(default).unwrap_or(i32::MAX),
            key: None,
        })
    }

    /// Interval and threshold annotations that this version does not read for a probe.
    pub(in crate::lb::azure) fn warn_unread_timing(&mut self, key_port: Option<i32>, since: &str) {
        let mut set: Vec<String> = Vec::new();
        for param in [ProbeParam::Interval, ProbeParam::NumOfProbe] {
            if let Some(port) = key_port {
                set.push(port_probe_key(port, param));
            }
        }
        set.push(keys::PROBE_INTERVAL.to_owned());
        set.push(keys::PROBE_NUM_OF_PROBE.to_owned());
        let version = self.settings.version.to_string();
        for key in set {
            if self.ann.get(&key).is_some() {
                self.warn(warnings::not_read_by_version(&key, &version, since));
            }
        }
    }
}
