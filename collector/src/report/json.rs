//! The JSON view, and how times and durations appear in it: RFC 3339 UTC with milliseconds,
//! and seconds as numbers with millisecond precision.

use std::time::{Duration, SystemTime};

use probesim_agent::clock::rfc3339;
use probesim_agent::event::SourceMode;
use serde::Serializer;

use super::Report;

pub fn render(report: &Report) -> String {
    // A `Report` holds only strings, numbers and maps with string keys: it always serializes.
    let mut out = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    out.push('\n');
    out
}

/// Seconds with millisecond precision (`4.1`, `13.125`).
pub fn seconds(d: Duration) -> f64 {
    (d.as_millis() as f64) / 1000.0
}

pub fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(seconds(*d))
}

pub fn opt_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => secs(d, s),
        None => s.serialize_none(),
    }
}

pub fn time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

pub fn opt_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
}

/// A probe source by its name (`node`, `lb-source`, `syn`, `observed`).
pub fn source<S: Serializer>(m: &SourceMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

pub fn opt_source<S: Serializer>(m: &Option<SourceMode>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => source(m, s),
        None => s.serialize_none(),
    }
}
