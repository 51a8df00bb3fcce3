//! What the agents reported, folded into the state a test asserts on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use probesim_agent::event::{Backend, Event, Hop, Lifecycle};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::verdict::Reason;
use probesim_lab::agents::{Agents, Reported};

pub type Id = (String, u64);

#[derive(Debug, Default)]
pub struct Seen {
    pub backends: HashMap<Id, Arc<Backend>>,
    pub removed: HashSet<Id>,
    /// Latest state of each virtual prober since the backend's last spec.
    pub states: HashMap<(String, u64, u32), (LbState, Option<Reason>)>,
    pub lifecycle: Vec<(String, Lifecycle)>,
    pub results: usize,
}

impl Seen {
    pub fn of(events: &[Reported]) -> Seen {
        let mut seen = Seen::default();
        for r in events {
            let node = r.node.clone();
            match &r.event {
                Event::Backend(b) => {
                    if seen
                        .backends
                        .insert((node.clone(), b.id), b.clone())
                        .is_some()
                    {
                        seen.states
                            .retain(|(n, id, _), _| !(n == &node && *id == b.id));
                    }
                    seen.removed.remove(&(node, b.id));
                }
                Event::BackendRemoved { id, .. } => {
                    seen.removed.insert((node, *id));
                }
                Event::Transition(t) => {
                    seen.states
                        .insert((node, t.backend, t.prober), (t.to, t.reason));
                }
                Event::Lifecycle(l) => seen.lifecycle.push((node, l.clone())),
                Event::Result(_) => seen.results += 1,
            }
        }
        seen
    }

    /// Backends still probed that match `f`.
    pub fn live(&self, f: impl Fn(&Backend) -> bool) -> Vec<(&Id, &Arc<Backend>)> {
        let mut live: Vec<_> = self
            .backends
            .iter()
            .filter(|(id, b)| !self.removed.contains(*id) && f(b))
            .collect();
        live.sort_by_key(|(id, _)| (*id).clone());
        live
    }

    /// The states of every virtual prober of a backend; `None` until each has one.
    pub fn probers(&self, id: &Id) -> Option<Vec<(LbState, Option<Reason>)>> {
        let backend = self.backends.get(id)?;
        (0..backend.probers)
            .map(|p| self.states.get(&(id.0.clone(), id.1, p)).copied())
            .collect()
    }

    /// Whether every prober of the backend is in `state`.
    pub fn all_in(&self, id: &Id, state: LbState) -> bool {
        self.probers(id)
            .is_some_and(|p| p.iter().all(|(s, _)| *s == state))
    }
}

/// LB backends (not hops) of one port and version on every node, as (id, backend).
pub fn lb_backends<'a>(
    seen: &'a Seen,
    port: i32,
    version: &str,
) -> Vec<(&'a Id, &'a Arc<Backend>)> {
    seen.live(|b| b.key.hop == Hop::Lb && b.key.port == port && b.key.version.version == version)
}

/// Polls `agents` until `check` holds on what they reported, or fails the test with `what` and
/// the last state.
pub async fn eventually(
    agents: &Agents,
    within: Duration,
    what: &str,
    check: impl Fn(&Seen) -> bool,
) -> Seen {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = Seen::of(&agents.events());
        if check(&seen) {
            return seen;
        }
        if tokio::time::Instant::now() > deadline {
            let live: Vec<String> = seen
                .live(|_| true)
                .iter()
                .map(|(id, b)| {
                    format!(
                        "{} #{}: {} -> {:?}",
                        id.0,
                        id.1,
                        probesim_agent::daemon::describe(b),
                        seen.probers(id).map(|p| p
                            .iter()
                            .map(|(s, r)| format!(
                                "{}{}",
                                s.as_str(),
                                r.map(|r| format!("({})", r.code())).unwrap_or_default()
                            ))
                            .collect::<Vec<_>>())
                    )
                })
                .collect();
            panic!(
                "not within {within:?}: {what}\nbackends:\n{}",
                live.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
