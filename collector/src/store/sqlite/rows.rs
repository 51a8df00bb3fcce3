//! Stored rows back into the model. Rows are read raw (text and integers) and decoded outside
//! SQLite's callbacks, so a value that does not decode is an error naming table, field and value.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use probesim_agent::event::{BackendId, Lifecycle, StateChange};
use rusqlite::Row;

use crate::error::{DecodeError, Error, Result};
use crate::model::{AgentId, AgentInfo, DropCounts, Gap};
use crate::store::codec::{self, KeyJson, SpecJson, from_json, from_ms};
use crate::timeline::{AgentRow, BackendRow, BackendRowId, TransitionRow};

pub fn decode_error(path: &Path, table: &'static str) -> impl Fn(DecodeError) -> Error {
    let path = path.to_owned();
    move |e| Error::Decode {
        path: path.clone(),
        table,
        field: e.field,
        value: e.value,
        reason: e.reason,
    }
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub const AGENT_COLUMNS: &str = "id, node, cloud, k8s_version, what_if_versions, build, \
    connected_at_ms, connected, disconnected_at_ms, last_sequence, last_batch_at_ms, \
    dropped_results, dropped_transitions, dropped_lifecycle";

pub type RawAgent = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    bool,
    Option<i64>,
    i64,
    Option<i64>,
    [i64; 3],
);

pub fn raw_agent(row: &Row<'_>) -> rusqlite::Result<RawAgent> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        [row.get(11)?, row.get(12)?, row.get(13)?],
    ))
}

pub fn agent(raw: RawAgent) -> Result<AgentRow, DecodeError> {
    let (id, node, cloud, k8s, what_if, build, connected_at, connected, disc, seq, last, d) = raw;
    let id: AgentId = Arc::from(id);
    let info = match (node, k8s, build, connected_at) {
        (Some(node), Some(k8s_version), Some(build), Some(connected_at)) => {
            Some(Arc::new(AgentInfo {
                id: id.clone(),
                node,
                cloud: cloud.as_deref().map(codec::cloud).transpose()?,
                k8s_version,
                what_if_versions: match what_if {
                    Some(text) => from_json("what_if_versions", &text)?,
                    None => Vec::new(),
                },
                build,
                connected_at: from_ms(connected_at),
            }))
        }
        _ => None,
    };
    Ok(AgentRow {
        id,
        info,
        connected,
        disconnected_at: disc.map(from_ms),
        last_sequence: count(seq),
        last_batch_at: last.map(from_ms),
        dropped: DropCounts {
            results: count(d[0]),
            transitions: count(d[1]),
            lifecycle: count(d[2]),
        },
    })
}

pub const BACKEND_COLUMNS: &str =
    "id, agent, key, spec, probers, first_seen_ms, removed_at_ms, also_for";

pub type RawBackend = (i64, String, String, String, u32, i64, Option<i64>, String);

pub fn raw_backend(row: &Row<'_>) -> rusqlite::Result<RawBackend> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
    ))
}

pub fn backend(raw: RawBackend) -> Result<BackendRow, DecodeError> {
    let (id, agent, key, spec, probers, first_seen, removed_at, also_for) = raw;
    let key: KeyJson = from_json("key", &key)?;
    let spec: SpecJson = from_json("spec", &spec)?;
    Ok(BackendRow {
        id,
        agent: Arc::from(agent),
        key: Arc::new(key.to_key()?),
        spec: Arc::new(spec.to_spec()?),
        probers,
        also_for: also_for
            .split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect(),
        first_seen: from_ms(first_seen),
        removed_at: removed_at.map(from_ms),
    })
}

pub fn binding(raw: (String, i64, i64)) -> (AgentId, BackendId, BackendRowId) {
    (Arc::from(raw.0), count(raw.1), raw.2)
}

pub const TRANSITION_COLUMNS: &str =
    "backend, prober, at_ms, from_state, to_state, reason, reason_status";

pub type RawTransition = (i64, u32, i64, String, String, Option<String>, Option<u32>);

pub fn raw_transition(row: &Row<'_>) -> rusqlite::Result<RawTransition> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

/// A stored transition; `backend_id` is the agent's number the change is reported with.
pub fn transition(raw: RawTransition, backend_id: BackendId) -> Result<TransitionRow, DecodeError> {
    let (backend, prober, at, from, to, reason, status) = raw;
    Ok(TransitionRow {
        backend,
        change: StateChange {
            backend: backend_id,
            prober,
            from: codec::lb_state(&from)?,
            to: codec::lb_state(&to)?,
            reason: reason
                .map(|code| codec::reason(&code, status))
                .transpose()?,
            at: from_ms(at),
        },
    })
}

pub const LIFECYCLE_COLUMNS: &str =
    "kind, object, node, address, object_time_ms, seen_at_ms, detail";

pub type RawLifecycle = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    String,
);

pub fn raw_lifecycle(row: &Row<'_>) -> rusqlite::Result<RawLifecycle> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

pub fn lifecycle(raw: RawLifecycle) -> Result<Lifecycle, DecodeError> {
    let (kind, object, node, address, object_time, seen_at, detail) = raw;
    Ok(Lifecycle {
        kind: codec::lifecycle_kind(&kind)?,
        object: codec::object_ref("object", &object)?,
        node,
        address: address
            .map(|a| {
                a.parse::<IpAddr>()
                    .map_err(|e| DecodeError::new("address", &a, e.to_string()))
            })
            .transpose()?,
        object_time: object_time.map(from_ms),
        seen_at: from_ms(seen_at),
        detail: from_json("detail", &detail)?,
    })
}

pub const GAP_COLUMNS: &str = "agent, from_ms, to_ms, results, transitions, lifecycle";

pub fn raw_gap(row: &Row<'_>) -> rusqlite::Result<Gap> {
    let agent: String = row.get(0)?;
    Ok(Gap {
        agent: Arc::from(agent),
        from: from_ms(row.get(1)?),
        to: from_ms(row.get(2)?),
        dropped: DropCounts {
            results: count(row.get(3)?),
            transitions: count(row.get(4)?),
            lifecycle: count(row.get(5)?),
        },
    })
}
