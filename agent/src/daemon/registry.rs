//! The backends being probed, by key, and what a new [`Plan`] changes about them. Pure: the
//! daemon turns the actions into engine, view and event calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::discovery::targets::{Desired, Plan};
use crate::event::{Backend, BackendId, BackendKey, Hop};
use crate::model::{LbKind, ProbeSpec, TargetKind};

/// What the daemon must do for a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start probing a new backend.
    Add(Arc<Backend>),
    /// The backend's spec changed (same id): restart its probes and its LB state.
    Respec {
        backend: Arc<Backend>,
        old: Arc<ProbeSpec>,
    },
    /// The LB deregisters the backend (ALB/NLB ip targets): its drain starts; it is probed
    /// until every virtual prober has it `unused`.
    Deregister(BackendId),
    /// A deregistered backend is registered again.
    Register(BackendId),
    /// Only what the backend stands for changed ([`Backend::also_for`]): declare it again,
    /// its probes and LB state go on.
    Relabel(Arc<Backend>),
    /// Stop probing the backend.
    Remove(BackendId),
}

#[derive(Clone, Debug)]
struct Entry {
    backend: Arc<Backend>,
    registered: bool,
}

/// The backends being probed.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: BackendId,
    entries: BTreeMap<BackendKey, Entry>,
    keys: HashMap<BackendId, BackendKey>,
}

/// Whether the LB drains the backend on deregistration rather than dropping it at once: ALB
/// and NLB targets registered by IP (the pods themselves).
fn drains(key: &BackendKey) -> bool {
    key.hop == Hop::Lb
        && key.target_kind == TargetKind::Pod
        && matches!(key.lb, LbKind::Alb | LbKind::Nlb)
}

impl Registry {
    pub fn get(&self, id: BackendId) -> Option<&Arc<Backend>> {
        self.keys
            .get(&id)
            .and_then(|k| self.entries.get(k))
            .map(|e| &e.backend)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn backends(&self) -> impl Iterator<Item = &Arc<Backend>> {
        self.entries.values().map(|e| &e.backend)
    }

    /// Backends deregistered and draining.
    pub fn draining(&self) -> impl Iterator<Item = BackendId> + '_ {
        self.entries
            .values()
            .filter(|e| !e.registered)
            .map(|e| e.backend.id)
    }

    /// What changes from the current backends to `plan`'s; `probers` gives K for a spec.
    pub fn apply(&mut self, plan: &Plan, probers: impl Fn(&ProbeSpec) -> u32) -> Vec<Action> {
        let mut actions = Vec::new();
        for (key, desired) in &plan.backends {
            match self.entries.get_mut(key) {
                None if desired.registered || !drains(key) => {
                    let backend = self.new_backend(desired, probers(&desired.spec));
                    actions.push(Action::Add(backend));
                }
                None => {}
                Some(entry) => {
                    if entry.backend.spec != desired.spec {
                        let old = entry.backend.spec.clone();
                        let backend = Arc::new(Backend {
                            spec: desired.spec.clone(),
                            probers: probers(&desired.spec),
                            also_for: desired.also_for.clone(),
                            ..(*entry.backend).clone()
                        });
                        entry.backend = backend.clone();
                        actions.push(Action::Respec { backend, old });
                    } else if entry.backend.also_for != desired.also_for {
                        let backend = Arc::new(Backend {
                            also_for: desired.also_for.clone(),
                            ..(*entry.backend).clone()
                        });
                        entry.backend = backend.clone();
                        actions.push(Action::Relabel(backend));
                    }
                    let wanted = desired.registered || !drains(key);
                    if entry.registered != wanted {
                        entry.registered = wanted;
                        let id = entry.backend.id;
                        actions.push(if wanted {
                            Action::Register(id)
                        } else {
                            Action::Deregister(id)
                        });
                    }
                }
            }
        }
        let gone: Vec<BackendKey> = self
            .entries
            .keys()
            .filter(|k| !plan.backends.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            let id = entry.backend.id;
            if drains(&key) {
                if entry.registered {
                    entry.registered = false;
                    actions.push(Action::Deregister(id));
                }
            } else {
                self.remove(id);
                actions.push(Action::Remove(id));
            }
        }
        actions
    }

    /// Forgets a backend (its drain ended).
    pub fn remove(&mut self, id: BackendId) {
        if let Some(key) = self.keys.remove(&id) {
            self.entries.remove(&key);
        }
    }

    /// Whether the backend is still wanted by the last plan (a drained backend whose pod came
    /// back stays).
    pub fn is_registered(&self, id: BackendId) -> bool {
        self.keys
            .get(&id)
            .and_then(|k| self.entries.get(k))
            .is_some_and(|e| e.registered)
    }

    fn new_backend(&mut self, desired: &Desired, probers: u32) -> Arc<Backend> {
        self.next_id += 1;
        let backend = Arc::new(Backend {
            id: self.next_id,
            key: desired.key.clone(),
            spec: desired.spec.clone(),
            probers,
            also_for: desired.also_for.clone(),
        });
        self.entries.insert(
            desired.key.clone(),
            Entry {
                backend: backend.clone(),
                registered: true,
            },
        );
        self.keys.insert(backend.id, desired.key.clone());
        backend
    }
}

#[cfg(test)]
mod tests;
