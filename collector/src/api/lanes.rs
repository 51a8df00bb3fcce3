//! `GET /api/v1/lanes`: every matching backend's timeline over a range, condensed for drawing
//! swimlanes (the web UI's timeline view): LB state bands with the probers' spread, probe outcome
//! density in at most [`LANE_BUCKETS`] buckets, and lifecycle markers. One request draws a whole
//! Service or node, however long the range: the answer grows with changes, not with probes.

use std::collections::{BTreeMap, HashMap};

use probesim_agent::event::{BackendKey, SourceMode};
use probesim_agent::lb::health::LbState;
use serde::Serialize;

use super::json::{self, GapJson, Stamp, stamp};
use crate::model::{BackendHistory, History, LATENCY_BUCKETS_MS, Rollup};
use crate::store::TimeRange;
use crate::store::codec::{self, KeyJson, ms};
use crate::timeline::BackendRowId;
pub use crate::timeline::concerns;
pub use markers::{LifecycleIndex, marker_time};

/// Density buckets per lane: about one per two pixels of a wide lane.
pub const LANE_BUCKETS: i64 = 600;
/// Lifecycle markers kept per lane (the latest ones); more would not be told apart anyway.
pub const MAX_MARKERS_PER_LANE: usize = 400;
/// Outcome kinds named per density bucket (the most common ones).
pub const OUTCOMES_PER_BUCKET: usize = 3;

/// Probers per state (`unknown` for probers with no change yet), most common first.
pub type StateCounts = Vec<(&'static str, u32)>;

/// A stretch of time in which every prober kept its state.
#[derive(Debug, PartialEq, Serialize)]
pub struct Band {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The most common known state (`unknown` when none is known).
    pub state: &'static str,
    /// Whether every prober is in `state`.
    pub unanimous: bool,
    pub states: StateCounts,
    /// The cloud's reasons of the probers' states (`HttpStatus: HTTP 404` ...: code and words),
    /// with how many probers.
    pub reasons: Vec<(String, u32)>,
}

/// Probe results of one bucket.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Density {
    /// The bucket's index: it starts at `from_ms + i * bucket_ms`.
    pub i: i64,
    pub successes: u64,
    pub failures: u64,
    pub not_counted: u64,
    /// The most common outcome kinds with their counts.
    pub outcomes: Vec<(String, u64)>,
    /// The latency bucket bound (ms) under which half of the probes answered; `null` beyond the
    /// last bound.
    pub p50_ms: Option<u32>,
    /// The bound of the slowest probe's latency bucket.
    pub max_ms: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct Marker {
    pub kind: &'static str,
    pub at_ms: i64,
    pub object: String,
    pub detail: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Lane {
    pub id: Option<BackendRowId>,
    pub agent: String,
    #[serde(flatten)]
    pub key: KeyJson,
    pub probe: String,
    pub probers: u32,
    pub first_seen_ms: i64,
    pub removed_at_ms: Option<i64>,
    pub bands: Vec<Band>,
    pub density: Vec<Density>,
    pub markers: Vec<Marker>,
}

#[derive(Debug, Serialize)]
pub struct Lanes {
    pub from: Stamp,
    pub to: Stamp,
    pub bucket_ms: i64,
    pub lanes: Vec<Lane>,
    pub gaps: Vec<GapJson>,
}

/// The lanes of every backend of `history` over `range`.
pub fn lanes(
    history: &History,
    range: TimeRange,
    id_of: impl Fn(&BackendKey) -> Option<BackendRowId>,
) -> Lanes {
    let (from, to) = (ms(range.from), ms(range.to));
    let bucket_ms = bucket_ms(from, to);
    let index = LifecycleIndex::new(&history.lifecycle);
    let mut lanes: Vec<Lane> = history
        .backends
        .iter()
        .map(|b| Lane {
            id: id_of(&b.key),
            agent: b.agent.to_string(),
            key: KeyJson::from_key(&b.key),
            probe: probe_words(b),
            probers: b.probers,
            first_seen_ms: ms(b.first_seen),
            removed_at_ms: b.removed_at.map(ms),
            bands: bands(b, from, to),
            density: density(&b.rollups, from, bucket_ms),
            markers: index.markers(&b.key, from, to),
        })
        .collect();
    // One rule's sources follow each other (node, lb-source, syn, observed), each under its
    // own header: lanes of two sources of one pod are two readings, not two pods.
    lanes.sort_by(|a, b| {
        (
            &a.key.service,
            &a.key.object,
            a.key.port,
            &a.key.version,
            &a.key.hop,
            source_rank(&a.key.source),
        )
            .cmp(&(
                &b.key.service,
                &b.key.object,
                b.key.port,
                &b.key.version,
                &b.key.hop,
                source_rank(&b.key.source),
            ))
            .then_with(|| {
                (&a.key.pod, &a.key.node, &a.key.target).cmp(&(
                    &b.key.pod,
                    &b.key.node,
                    &b.key.target,
                ))
            })
    });
    Lanes {
        from: stamp(range.from),
        to: stamp(range.to),
        bucket_ms,
        lanes,
        gaps: history.gaps.iter().map(json::gap).collect(),
    }
}

/// A source's place in [`SourceMode`]'s order (emulated ones first, `observed` last).
fn source_rank(source: &str) -> Option<SourceMode> {
    codec::source(source).ok()
}

/// Whole seconds, at least one, so that a range fits in [`LANE_BUCKETS`].
pub fn bucket_ms(from: i64, to: i64) -> i64 {
    let span = (to - from).max(1);
    let per = (span + LANE_BUCKETS - 1) / LANE_BUCKETS;
    ((per + 999) / 1000).max(1) * 1000
}

fn probe_words(b: &BackendHistory) -> String {
    let s = &b.spec;
    let path = s.path.as_deref().unwrap_or("");
    format!(
        "{} :{} {} every {}s, timeout {}s, thresholds {}/{}",
        s.protocol.as_str(),
        s.port,
        path,
        s.interval_s,
        s.timeout_s,
        s.healthy_threshold,
        s.unhealthy_threshold
    )
}

/// The state bands of one backend from its changes (each prober's last change before the range
/// first), from its first sighting (or `from`) to its removal (or `to`).
pub fn bands(b: &BackendHistory, from: i64, to: i64) -> Vec<Band> {
    let start = from.max(ms(b.first_seen));
    let end = b.removed_at.map_or(to, |r| ms(r).min(to));
    let mut states: HashMap<u32, (LbState, Option<String>)> = HashMap::new();
    let mut out: Vec<Band> = Vec::new();
    let mut t = start;
    for c in &b.changes {
        let at = ms(c.at).max(start);
        if at > end {
            break;
        }
        if at > t {
            push_band(&mut out, t, at, &states, b.probers);
            t = at;
        }
        let reason = c.reason.map(|r| format!("{}: {r}", r.code()));
        states.insert(c.prober, (c.to, reason));
    }
    if end > t {
        push_band(&mut out, t, end, &states, b.probers);
    }
    out
}

fn push_band(
    out: &mut Vec<Band>,
    from_ms: i64,
    to_ms: i64,
    states: &HashMap<u32, (LbState, Option<String>)>,
    probers: u32,
) {
    let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut reasons: BTreeMap<String, u32> = BTreeMap::new();
    for (state, reason) in states.values() {
        *counts.entry(state.as_str()).or_default() += 1;
        if let Some(reason) = reason {
            *reasons.entry(reason.clone()).or_default() += 1;
        }
    }
    let known: u32 = counts.values().sum();
    let mut states: StateCounts = counts.into_iter().collect();
    states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let state = states.first().map_or("unknown", |s| s.0);
    if known < probers {
        states.push(("unknown", probers - known));
    }
    let unanimous = states.len() == 1;
    let mut reasons: Vec<(String, u32)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(last) = out.last_mut()
        && last.to_ms == from_ms
        && last.states == states
        && last.reasons == reasons
    {
        last.to_ms = to_ms;
        return;
    }
    out.push(Band {
        from_ms,
        to_ms,
        state,
        unanimous,
        states,
        reasons,
    });
}

/// A bucket being summed: its counts, outcome kinds and latency histogram.
type BucketAcc = (Density, HashMap<String, u64>, Vec<u64>);

/// Rollups summed per bucket; empty buckets left out.
pub fn density(rollups: &[Rollup], from: i64, bucket_ms: i64) -> Vec<Density> {
    let mut buckets: BTreeMap<i64, BucketAcc> = BTreeMap::new();
    for r in rollups {
        let at = i64::try_from(r.second).unwrap_or(i64::MAX / 1000) * 1000;
        let i = (at - from).max(0) / bucket_ms;
        let (d, outcomes, latency) = buckets.entry(i).or_default();
        d.i = i;
        d.successes += r.successes;
        d.failures += r.failures;
        d.not_counted += r.not_counted;
        for (kind, n) in &r.outcomes {
            *outcomes.entry(kind.clone()).or_default() += n;
        }
        if latency.len() < r.latency.len() {
            latency.resize(r.latency.len(), 0);
        }
        for (sum, n) in latency.iter_mut().zip(&r.latency) {
            *sum += n;
        }
    }
    buckets
        .into_values()
        .map(|(mut d, outcomes, latency)| {
            let mut outcomes: Vec<(String, u64)> = outcomes.into_iter().collect();
            outcomes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            outcomes.truncate(OUTCOMES_PER_BUCKET);
            d.outcomes = outcomes;
            let total: u64 = latency.iter().sum();
            let bound = |i: usize| LATENCY_BUCKETS_MS.get(i).copied();
            let mut seen = 0;
            d.p50_ms = latency.iter().enumerate().find_map(|(i, n)| {
                seen += n;
                (total > 0 && seen * 2 >= total).then(|| bound(i)).flatten()
            });
            d.max_ms = latency.iter().rposition(|n| *n > 0).and_then(bound);
            d
        })
        .collect()
}

pub mod markers;

#[cfg(test)]
mod tests;
