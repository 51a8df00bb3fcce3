//! Reads: the registry and current view at start, and history for a time range.

use std::path::Path;

use probesim_agent::event::{BackendId, Lifecycle, StateChange};
use rusqlite::{Connection, params};

use super::rows::{self, decode_error};
use super::schema::{rollup_columns, storage};
use crate::error::Result;
use crate::model::{Gap, Rollup};
use crate::store::TimeRange;
use crate::store::codec::ms;
use crate::timeline::rollup::{LATENCY_SLOTS, OUTCOME_SLOTS};
use crate::timeline::{LbNow, Registry, RollupAcc};

/// The stored registry and the latest state of every prober.
pub fn load(conn: &Connection, path: &Path) -> Result<(Registry, LbNow)> {
    let read = |op: &str| storage(path, format!("load {op}"));
    let mut stmt = conn
        .prepare(&format!("SELECT {} FROM agents", rows::AGENT_COLUMNS))
        .map_err(read("agents"))?;
    let raw: Vec<rows::RawAgent> = stmt
        .query_map([], rows::raw_agent)
        .and_then(Iterator::collect)
        .map_err(read("agents"))?;
    let mut agents = Vec::with_capacity(raw.len());
    for r in raw {
        let mut agent = rows::agent(r).map_err(decode_error(path, "agents"))?;
        // Nobody is connected to a collector that just started.
        agent.connected = false;
        agents.push(agent);
    }

    let mut stmt = conn
        .prepare(&format!("SELECT {} FROM backends", rows::BACKEND_COLUMNS))
        .map_err(read("backends"))?;
    let raw: Vec<rows::RawBackend> = stmt
        .query_map([], rows::raw::<rows::RawBackend>)
        .and_then(Iterator::collect)
        .map_err(read("backends"))?;
    let backends = raw
        .into_iter()
        .map(rows::backend)
        .collect::<Result<Vec<_>, _>>()
        .map_err(decode_error(path, "backends"))?;

    let mut stmt = conn
        .prepare("SELECT agent, backend_id, backend FROM agent_backends")
        .map_err(read("agent backends"))?;
    let bindings: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(Iterator::collect)
        .map_err(read("agent backends"))?;
    let registry = Registry::from_rows(
        agents,
        backends,
        bindings.into_iter().map(rows::binding).collect(),
    );

    // SQLite takes the bare columns of an aggregate query with MAX() from the row of the maximum.
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {}, MAX(at_ms) FROM transitions GROUP BY backend, prober",
            rows::TRANSITION_COLUMNS
        ))
        .map_err(read("the latest transitions"))?;
    let raw: Vec<rows::RawTransition> = stmt
        .query_map([], rows::raw::<rows::RawTransition>)
        .and_then(Iterator::collect)
        .map_err(read("the latest transitions"))?;
    let latest = raw
        .into_iter()
        .map(|r| rows::transition(r, 0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(decode_error(path, "transitions"))?;
    let mut now = LbNow::default();
    now.apply(&latest);
    Ok((registry, now))
}

/// One backend's transitions in `range`, reported with the agent's number `agent_id`, preceded
/// by each prober's last transition before the range (so the state at `from` is known).
pub fn changes(
    conn: &Connection,
    path: &Path,
    backend: i64,
    agent_id: BackendId,
    range: TimeRange,
) -> Result<Vec<StateChange>> {
    let op = || storage(path, "query transitions");
    // SQLite takes the bare columns of an aggregate query with MAX() from the row of the maximum.
    let mut before = conn
        .prepare_cached(&format!(
            "SELECT {}, MAX(at_ms) FROM transitions WHERE backend = ?1 AND at_ms < ?2
             GROUP BY prober ORDER BY at_ms, prober",
            rows::TRANSITION_COLUMNS
        ))
        .map_err(op())?;
    let mut raw: Vec<rows::RawTransition> = before
        .query_map(
            params![backend, ms(range.from)],
            rows::raw::<rows::RawTransition>,
        )
        .and_then(Iterator::collect)
        .map_err(op())?;
    let mut within = conn
        .prepare_cached(&format!(
            "SELECT {} FROM transitions WHERE backend = ?1 AND at_ms BETWEEN ?2 AND ?3
             ORDER BY at_ms, rowid",
            rows::TRANSITION_COLUMNS
        ))
        .map_err(op())?;
    let rows = within
        .query_map(
            params![backend, ms(range.from), ms(range.to)],
            rows::raw::<rows::RawTransition>,
        )
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(op())?;
    raw.extend(rows);
    raw.into_iter()
        .map(|r| rows::transition(r, agent_id).map(|t| t.change))
        .collect::<Result<Vec<_>, _>>()
        .map_err(decode_error(path, "transitions"))
}

/// One backend's rollups of the seconds in `range`.
pub fn rollups(
    conn: &Connection,
    path: &Path,
    backend: i64,
    range: TimeRange,
) -> Result<Vec<Rollup>> {
    let columns = rollup_columns().join(", ");
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT second, {columns} FROM rollups WHERE backend = ?1
             AND second BETWEEN ?2 AND ?3 ORDER BY second"
        ))
        .map_err(storage(path, "query rollups"))?;
    let from_s = ms(range.from).div_euclid(1000);
    let to_s = ms(range.to).div_euclid(1000);
    stmt.query_map(params![backend, from_s, to_s], |row| {
        let n = |i: usize| -> rusqlite::Result<u64> {
            row.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0))
        };
        let mut acc = RollupAcc {
            successes: n(1)?,
            failures: n(2)?,
            not_counted: n(3)?,
            ..RollupAcc::default()
        };
        for i in 0..OUTCOME_SLOTS {
            acc.outcomes[i] = n(4 + i)?;
        }
        for i in 0..LATENCY_SLOTS {
            acc.latency[i] = n(4 + OUTCOME_SLOTS + i)?;
        }
        Ok(acc.to_rollup(n(0)?))
    })
    .and_then(Iterator::collect)
    .map_err(storage(path, "query rollups"))
}

/// Lifecycle events of every agent in `range`, in time order.
pub fn lifecycle(conn: &Connection, path: &Path, range: TimeRange) -> Result<Vec<Lifecycle>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {} FROM lifecycle WHERE at_ms BETWEEN ?1 AND ?2 ORDER BY at_ms, id",
            rows::LIFECYCLE_COLUMNS
        ))
        .map_err(storage(path, "query lifecycle events"))?;
    let raw: Vec<rows::RawLifecycle> = stmt
        .query_map(
            params![ms(range.from), ms(range.to)],
            rows::raw::<rows::RawLifecycle>,
        )
        .and_then(Iterator::collect)
        .map_err(storage(path, "query lifecycle events"))?;
    raw.into_iter()
        .map(rows::lifecycle)
        .collect::<Result<Vec<_>, _>>()
        .map_err(decode_error(path, "lifecycle"))
}

/// Gaps that overlap `range`, in time order.
pub fn gaps(conn: &Connection, path: &Path, range: TimeRange) -> Result<Vec<Gap>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {} FROM gaps WHERE to_ms >= ?1 AND from_ms <= ?2 ORDER BY from_ms, id",
            rows::GAP_COLUMNS
        ))
        .map_err(storage(path, "query gaps"))?;
    stmt.query_map(params![ms(range.from), ms(range.to)], rows::raw_gap)
        .and_then(Iterator::collect)
        .map_err(storage(path, "query gaps"))
}
