//! History and timelines: the stored rows of a time range, put together per backend.

use std::collections::HashSet;
use std::path::Path;

use probesim_agent::event::BackendId;
use rusqlite::Connection;

use super::query::{changes, gaps, lifecycle, rollups};
use crate::error::Result;
use crate::model::{AgentId, BackendHistory, History};
use crate::store::{TimeRange, Timeline};
use crate::timeline::concerns;
use crate::timeline::{AgentRow, BackendRow};

/// Everything about `backends` over `range`. With `everything` (no filter), every lifecycle
/// event, gap and agent is in; otherwise only those about the chosen backends.
pub fn history(
    conn: &Connection,
    path: &Path,
    range: TimeRange,
    everything: bool,
    mut backends: Vec<(BackendRow, BackendId)>,
    agents: Vec<AgentRow>,
) -> Result<History> {
    backends.sort_by_key(|(b, _)| b.id);
    let mut out = History {
        from: Some(range.from),
        to: Some(range.to),
        ..History::default()
    };
    for (backend, number) in &backends {
        out.backends.push(BackendHistory {
            agent: backend.agent.clone(),
            key: (*backend.key).clone(),
            spec: backend.spec.clone(),
            probers: backend.probers,
            also_for: backend.also_for.clone(),
            first_seen: backend.first_seen,
            removed_at: backend.removed_at,
            changes: changes(conn, path, backend.id, *number, range)?,
            rollups: rollups(conn, path, backend.id, range)?,
        });
    }
    let involved: HashSet<AgentId> = backends.iter().map(|(b, _)| b.agent.clone()).collect();
    out.lifecycle = lifecycle(conn, path, range)?;
    out.gaps = gaps(conn, path, range)?;
    if !everything {
        out.lifecycle
            .retain(|l| backends.iter().any(|(b, _)| concerns(l, &b.key)));
        out.gaps.retain(|g| involved.contains(&g.agent));
    }
    out.agents = agents
        .into_iter()
        .filter(|a| everything || involved.contains(&a.id))
        .filter_map(|a| a.info.map(|info| (*info).clone()))
        .collect();
    out.agents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// One backend over `range`.
pub fn timeline(
    conn: &Connection,
    path: &Path,
    range: TimeRange,
    backend: BackendRow,
    number: BackendId,
) -> Result<Timeline> {
    let mut events = lifecycle(conn, path, range)?;
    events.retain(|l| concerns(l, &backend.key));
    let mut agent_gaps = gaps(conn, path, range)?;
    agent_gaps.retain(|g| g.agent == backend.agent);
    Ok(Timeline {
        changes: changes(conn, path, backend.id, number, range)?,
        rollups: rollups(conn, path, backend.id, range)?,
        lifecycle: events,
        gaps: agent_gaps,
        range,
        backend,
    })
}
