//! One flush: everything pending, in one transaction.

use std::path::Path;

use rusqlite::{Connection, params, params_from_iter};

use super::schema::{rollup_columns, storage};
use crate::error::Result;
use crate::store::codec::{KeyJson, SpecJson, ms, to_json};
use crate::timeline::rollup::{LATENCY_SLOTS, OUTCOME_SLOTS};
use crate::timeline::{BackendRowId, Pending, RollupAcc};

/// A count as SQLite's signed integer (counts never come near `i64::MAX`).
pub fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The rollup upsert: a second already stored gets the new counts added.
pub fn rollup_upsert_sql() -> String {
    let columns = rollup_columns();
    let names = columns.join(", ");
    let values: Vec<String> = (1..=columns.len() + 2).map(|i| format!("?{i}")).collect();
    let sums: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO rollups (backend, second, {names}) VALUES ({}) \
         ON CONFLICT (backend, second) DO UPDATE SET {}",
        values.join(", "),
        sums.join(", ")
    )
}

fn rollup_values(backend: BackendRowId, second: u64, acc: &RollupAcc) -> Vec<i64> {
    let mut values = Vec::with_capacity(5 + OUTCOME_SLOTS + LATENCY_SLOTS);
    values.extend([backend, int(second)]);
    values.extend([acc.successes, acc.failures, acc.not_counted].map(int));
    values.extend(acc.outcomes.iter().map(|n| int(*n)));
    values.extend(acc.latency.iter().map(|n| int(*n)));
    values
}

/// Writes `pending` in one transaction; on error nothing of it is stored.
pub fn commit(conn: &mut Connection, path: &Path, pending: &Pending, upsert: &str) -> Result<()> {
    let tx = conn.transaction().map_err(storage(path, "begin a flush"))?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO agents (id, node, cloud, k8s_version, what_if_versions, build,
                     connected_at_ms, connected, disconnected_at_ms, last_sequence,
                     last_batch_at_ms, dropped_results, dropped_transitions, dropped_lifecycle)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (id) DO UPDATE SET node = excluded.node, cloud = excluded.cloud,
                     k8s_version = excluded.k8s_version,
                     what_if_versions = excluded.what_if_versions, build = excluded.build,
                     connected_at_ms = excluded.connected_at_ms, connected = excluded.connected,
                     disconnected_at_ms = excluded.disconnected_at_ms,
                     last_sequence = excluded.last_sequence,
                     last_batch_at_ms = excluded.last_batch_at_ms,
                     dropped_results = excluded.dropped_results,
                     dropped_transitions = excluded.dropped_transitions,
                     dropped_lifecycle = excluded.dropped_lifecycle",
            )
            .map_err(storage(path, "prepare the agents upsert"))?;
        for agent in pending.agents.values() {
            let info = agent.info.as_deref();
            stmt.execute(params![
                &*agent.id,
                info.map(|i| i.node.as_str()),
                info.and_then(|i| i.cloud).map(|c| c.as_str()),
                info.map(|i| i.k8s_version.as_str()),
                info.map(|i| to_json(&i.what_if_versions)),
                info.map(|i| i.build.as_str()),
                info.map(|i| ms(i.connected_at)),
                agent.connected,
                agent.disconnected_at.map(ms),
                int(agent.last_sequence),
                agent.last_batch_at.map(ms),
                int(agent.dropped.results),
                int(agent.dropped.transitions),
                int(agent.dropped.lifecycle),
            ])
            .map_err(storage(path, format!("store agent {}", agent.id)))?;
        }
    }
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO backends (id, key, agent, lb, service, node, version, spec, probers,
                     first_seen_ms, removed_at_ms, also_for)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (id) DO UPDATE SET key = excluded.key, agent = excluded.agent,
                     lb = excluded.lb, service = excluded.service, node = excluded.node,
                     version = excluded.version, spec = excluded.spec,
                     probers = excluded.probers, first_seen_ms = excluded.first_seen_ms,
                     removed_at_ms = excluded.removed_at_ms, also_for = excluded.also_for",
            )
            .map_err(storage(path, "prepare the backends upsert"))?;
        for b in pending.backends.values() {
            let service = format!("{}/{}", b.key.service.namespace, b.key.service.name);
            stmt.execute(params![
                b.id,
                to_json(&KeyJson::from_key(&b.key)),
                &*b.agent,
                b.key.lb.as_str(),
                service,
                b.key.node,
                b.key.version.version,
                to_json(&SpecJson::from_spec(&b.spec)),
                b.probers,
                ms(b.first_seen),
                b.removed_at.map(ms),
                b.also_for.join(","),
            ])
            .map_err(storage(path, format!("store backend {}", b.id)))?;
        }
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO agent_backends (agent, backend_id, backend)
                 VALUES (?1, ?2, ?3)",
            )
            .map_err(storage(path, "prepare the agent backends upsert"))?;
        for (agent, id, row) in &pending.bindings {
            stmt.execute(params![&**agent, int(*id), row])
                .map_err(storage(path, format!("bind backend {id} of agent {agent}")))?;
        }
    }
    {
        let mut stmt = tx
            .prepare_cached(upsert)
            .map_err(storage(path, "prepare the rollups upsert"))?;
        let mut keys: Vec<&(BackendRowId, u64)> = pending.rollups.keys().collect();
        keys.sort_unstable();
        for key in keys {
            let acc = &pending.rollups[key];
            stmt.execute(params_from_iter(rollup_values(key.0, key.1, acc)))
                .map_err(storage(path, "insert rollups"))?;
        }
    }
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO transitions (backend, prober, at_ms, from_state, to_state, reason,
                     reason_status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(storage(path, "prepare the transitions insert"))?;
        for t in &pending.transitions {
            let c = &t.change;
            stmt.execute(params![
                t.backend,
                c.prober,
                ms(c.at),
                c.from.as_str(),
                c.to.as_str(),
                c.reason.map(|r| r.code()),
                c.reason.and_then(|r| r.status()),
            ])
            .map_err(storage(path, "insert transitions"))?;
        }
    }
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO lifecycle (agent, kind, object, node, address, object_time_ms,
                     seen_at_ms, at_ms, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(storage(path, "prepare the lifecycle insert"))?;
        for (agent, l) in &pending.lifecycle {
            stmt.execute(params![
                &**agent,
                l.kind.as_str(),
                l.object.to_string(),
                l.node,
                l.address.map(|a| a.to_string()),
                l.object_time.map(ms),
                ms(l.seen_at),
                ms(l.object_time.unwrap_or(l.seen_at)),
                to_json(&l.detail),
            ])
            .map_err(storage(path, "insert lifecycle events"))?;
        }
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO gaps (agent, from_ms, to_ms, results, transitions, lifecycle)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(storage(path, "prepare the gaps insert"))?;
        for g in &pending.gaps {
            stmt.execute(params![
                &*g.agent,
                ms(g.from),
                ms(g.to),
                int(g.dropped.results),
                int(g.dropped.transitions),
                int(g.dropped.lifecycle),
            ])
            .map_err(storage(path, "insert gaps"))?;
        }
    }
    tx.commit().map_err(storage(path, "commit a flush"))
}
