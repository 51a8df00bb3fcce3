//! The API's JSON: snake_case fields; every time twice, as an RFC 3339 string with milliseconds
//! (`at`) and as unix milliseconds (`at_ms`) for charts.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use probesim_agent::event::{Lifecycle, StateChange};
use serde::Serialize;

use crate::model::{AgentInfo, BackendHistory, Gap, LATENCY_BUCKETS_MS, Rollup};
use crate::store::codec::{KeyJson, SpecJson, from_ms, ms};
use crate::store::{BackendNow, Timeline};
use crate::timeline::{AgentRow, BackendRow, BackendRowId, NowSummary};

/// An agent without a batch for this long while connected is `stale`: agents send at least
/// every few seconds, so half a minute of silence means a stuck stream.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// `2024-05-01T12:00:00.123Z`.
pub fn rfc3339(at: SystemTime) -> String {
    match jiff::Timestamp::from_millisecond(ms(at)) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => String::new(),
    }
}

/// A moment as both fields.
#[derive(Clone, Debug, Serialize)]
pub struct Stamp {
    pub at: String,
    pub at_ms: i64,
}

pub fn stamp(at: SystemTime) -> Stamp {
    Stamp {
        at: rfc3339(at),
        at_ms: ms(at),
    }
}

#[derive(Debug, Serialize)]
pub struct StateJson {
    pub state: &'static str,
    pub probers: u32,
    /// The earliest a prober entered this state.
    pub since: Stamp,
    /// The latest a prober entered this state.
    pub latest: Stamp,
}

#[derive(Debug, Serialize)]
pub struct ViewJson {
    /// Probers with a known state.
    pub probers: u32,
    /// The state all probers agree on, if they do.
    pub unanimous: Option<&'static str>,
    pub states: Vec<StateJson>,
    pub reasons: Vec<ReasonCount>,
    pub last_change: Option<Stamp>,
}

#[derive(Debug, Serialize)]
pub struct ReasonCount {
    pub code: &'static str,
    pub probers: u32,
}

pub fn view(now: &NowSummary) -> ViewJson {
    ViewJson {
        probers: now.probers,
        unanimous: now.unanimous().map(|s| s.as_str()),
        states: now
            .states
            .iter()
            .map(|(state, n)| {
                let (_, since, latest) = now
                    .since
                    .iter()
                    .find(|(s, _, _)| s == state)
                    .copied()
                    .unwrap_or((*state, SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH));
                StateJson {
                    state: state.as_str(),
                    probers: *n,
                    since: stamp(since),
                    latest: stamp(latest),
                }
            })
            .collect(),
        reasons: now
            .reasons
            .iter()
            .map(|(code, probers)| ReasonCount {
                code,
                probers: *probers,
            })
            .collect(),
        last_change: now.last_change.map(stamp),
    }
}

#[derive(Debug, Serialize)]
pub struct BackendJson {
    /// The store's number of the backend (`/api/v1/backends/{id}`); `null` if it is gone.
    pub id: Option<BackendRowId>,
    pub agent: String,
    #[serde(flatten)]
    pub key: KeyJson,
    pub spec: SpecJson,
    pub probers: u32,
    pub first_seen: Stamp,
    pub removed_at: Option<Stamp>,
    /// The current LB view (backend lists and single backends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<ViewJson>,
}

pub fn backend(row: &BackendRow, now: Option<&NowSummary>) -> BackendJson {
    BackendJson {
        id: Some(row.id),
        agent: row.agent.to_string(),
        key: KeyJson::from_key(&row.key),
        spec: SpecJson::from_spec(&row.spec),
        probers: row.probers,
        first_seen: stamp(row.first_seen),
        removed_at: row.removed_at.map(stamp),
        view: now.map(view),
    }
}

pub fn backend_now(b: &BackendNow) -> BackendJson {
    backend(&b.backend, Some(&b.now))
}

#[derive(Debug, Serialize)]
pub struct ChangeJson {
    pub prober: u32,
    pub from: &'static str,
    pub to: &'static str,
    /// The cloud's reason code (`Target.Timeout`).
    pub reason: Option<&'static str>,
    /// The status a reason carries (HTTP or gRPC).
    pub reason_status: Option<u32>,
    /// The cloud's description of the reason.
    pub reason_text: Option<String>,
    #[serde(flatten)]
    pub at: Stamp,
}

pub fn change(c: &StateChange) -> ChangeJson {
    ChangeJson {
        prober: c.prober,
        from: c.from.as_str(),
        to: c.to.as_str(),
        reason: c.reason.map(|r| r.code()),
        reason_status: c.reason.and_then(|r| r.status()),
        reason_text: c.reason.map(|r| r.to_string()),
        at: stamp(c.at),
    }
}

#[derive(Debug, Serialize)]
pub struct OutcomeCount {
    pub kind: String,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct RollupJson {
    pub second: u64,
    #[serde(flatten)]
    pub at: Stamp,
    pub successes: u64,
    pub failures: u64,
    pub not_counted: u64,
    pub outcomes: Vec<OutcomeCount>,
    /// Counts per bucket of `latency_buckets_ms`, then the overflow bucket.
    pub latency: Vec<u64>,
}

pub fn rollup(r: &Rollup) -> RollupJson {
    let second_ms = i64::try_from(r.second.saturating_mul(1000)).unwrap_or(i64::MAX);
    RollupJson {
        second: r.second,
        at: stamp(from_ms(second_ms)),
        successes: r.successes,
        failures: r.failures,
        not_counted: r.not_counted,
        outcomes: r
            .outcomes
            .iter()
            .map(|(kind, count)| OutcomeCount {
                kind: kind.clone(),
                count: *count,
            })
            .collect(),
        latency: r.latency.clone(),
    }
}

#[derive(Debug, Serialize)]
pub struct LifecycleJson {
    pub kind: &'static str,
    pub object: String,
    pub node: Option<String>,
    pub address: Option<String>,
    /// The object's own timestamp, else when the agent saw the change.
    #[serde(flatten)]
    pub at: Stamp,
    pub object_time: Option<Stamp>,
    pub seen_at: Stamp,
    pub detail: BTreeMap<String, String>,
}

pub fn lifecycle(l: &Lifecycle) -> LifecycleJson {
    LifecycleJson {
        kind: l.kind.as_str(),
        object: l.object.to_string(),
        node: l.node.clone(),
        address: l.address.map(|a| a.to_string()),
        at: stamp(l.object_time.unwrap_or(l.seen_at)),
        object_time: l.object_time.map(stamp),
        seen_at: stamp(l.seen_at),
        detail: l.detail.iter().cloned().collect(),
    }
}

#[derive(Debug, Serialize)]
pub struct DroppedJson {
    pub results: u64,
    pub transitions: u64,
    pub lifecycle: u64,
}

#[derive(Debug, Serialize)]
pub struct GapJson {
    pub agent: String,
    pub from: Stamp,
    pub to: Stamp,
    pub dropped: DroppedJson,
}

pub fn gap(g: &Gap) -> GapJson {
    GapJson {
        agent: g.agent.to_string(),
        from: stamp(g.from),
        to: stamp(g.to),
        dropped: DroppedJson {
            results: g.dropped.results,
            transitions: g.dropped.transitions,
            lifecycle: g.dropped.lifecycle,
        },
    }
}

#[derive(Debug, Serialize)]
pub struct AgentInfoJson {
    pub id: String,
    pub node: String,
    pub cloud: Option<&'static str>,
    pub k8s_version: String,
    pub what_if_versions: Vec<String>,
    pub build: String,
    pub connected_at: Stamp,
}

pub fn agent_info(info: &AgentInfo) -> AgentInfoJson {
    AgentInfoJson {
        id: info.id.to_string(),
        node: info.node.clone(),
        cloud: info.cloud.map(|c| c.as_str()),
        k8s_version: info.k8s_version.clone(),
        what_if_versions: info.what_if_versions.clone(),
        build: info.build.clone(),
        connected_at: stamp(info.connected_at),
    }
}

#[derive(Debug, Serialize)]
pub struct AgentJson {
    pub id: String,
    /// `ok`, `stale` (connected, no batch for [`STALE_AFTER`]) or `disconnected`.
    pub health: &'static str,
    pub connected: bool,
    pub info: Option<AgentInfoJson>,
    pub disconnected_at: Option<Stamp>,
    pub last_sequence: u64,
    pub last_batch_at: Option<Stamp>,
    /// Milliseconds since the last batch.
    pub last_batch_age_ms: Option<u64>,
    /// The agent's drop counters since it started.
    pub dropped: DroppedJson,
}

pub fn agent(row: &AgentRow, now: SystemTime) -> AgentJson {
    let age = row
        .last_batch_at
        .map(|t| now.duration_since(t).unwrap_or(Duration::ZERO));
    let health = match (row.connected, age) {
        (false, _) => "disconnected",
        (true, Some(age)) if age <= STALE_AFTER => "ok",
        (true, None) => "ok",
        (true, Some(_)) => "stale",
    };
    AgentJson {
        id: row.id.to_string(),
        health,
        connected: row.connected,
        info: row.info.as_deref().map(agent_info),
        disconnected_at: row.disconnected_at.map(stamp),
        last_sequence: row.last_sequence,
        last_batch_at: row.last_batch_at.map(stamp),
        last_batch_age_ms: age.map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
        dropped: DroppedJson {
            results: row.dropped.results,
            transitions: row.dropped.transitions,
            lifecycle: row.dropped.lifecycle,
        },
    }
}

#[derive(Debug, Serialize)]
pub struct TimelineJson {
    pub backend: BackendJson,
    pub from: Stamp,
    pub to: Stamp,
    pub latency_buckets_ms: &'static [u32],
    pub changes: Vec<ChangeJson>,
    pub rollups: Vec<RollupJson>,
    pub lifecycle: Vec<LifecycleJson>,
    pub gaps: Vec<GapJson>,
}

pub fn timeline(t: &Timeline, now: Option<&NowSummary>) -> TimelineJson {
    TimelineJson {
        backend: backend(&t.backend, now),
        from: stamp(t.range.from),
        to: stamp(t.range.to),
        latency_buckets_ms: &LATENCY_BUCKETS_MS,
        changes: t.changes.iter().map(change).collect(),
        rollups: t.rollups.iter().map(rollup).collect(),
        lifecycle: t.lifecycle.iter().map(lifecycle).collect(),
        gaps: t.gaps.iter().map(gap).collect(),
    }
}

#[derive(Debug, Serialize)]
pub struct HistoryBackendJson {
    #[serde(flatten)]
    pub backend: BackendJson,
    pub changes: Vec<ChangeJson>,
    pub rollups: Vec<RollupJson>,
}

pub fn history_backend(b: &BackendHistory, id: Option<BackendRowId>) -> HistoryBackendJson {
    HistoryBackendJson {
        backend: BackendJson {
            id,
            agent: b.agent.to_string(),
            key: KeyJson::from_key(&b.key),
            spec: SpecJson::from_spec(&b.spec),
            probers: b.probers,
            first_seen: stamp(b.first_seen),
            removed_at: b.removed_at.map(stamp),
            view: None,
        },
        changes: b.changes.iter().map(change).collect(),
        rollups: b.rollups.iter().map(rollup).collect(),
    }
}
