//! The lab's object store: what etcd and the API server's storage layer are to a real cluster.
//!
//! Objects are JSON values keyed by resource, namespace and name. Every write takes the next
//! resourceVersion of one cluster-wide counter (as etcd's revision), stamps it on the object and
//! appends an event to a bounded history, from which watches resume; a watch from a revision older
//! than the history is `Gone` (HTTP 410), exactly when a real API server compacted it. In-process
//! controllers follow the same events through [`Store::subscribe`] or resync on
//! [`Store::revisions`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::resource::Resource;

/// Events kept for watches to resume from, unless configured.
pub const DEFAULT_HISTORY: usize = 10_000;
/// A Pod's grace period when neither the request nor the Pod names one (Kubernetes' default).
pub const DEFAULT_GRACE_SECONDS: i64 = 30;
/// Events buffered per in-process subscriber before it lags (and must resync).
const SUBSCRIBER_BUFFER: usize = 16_384;
/// The characters Kubernetes uses for `generateName` suffixes.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as a watch sends it.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventType,
    pub resource: Resource,
    pub revision: u64,
    pub object: Arc<Value>,
    /// The object before this change (`None` for ADDED): what a watch with a selector needs to
    /// tell an object that stopped matching (DELETED) from one that never matched, and what lets a
    /// past revision be rebuilt for a consistent paged list.
    pub previous: Option<Arc<Value>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("apiVersion {api_version:?} kind {kind:?} is not served by the lab")]
    UnknownKind { api_version: String, kind: String },
    #[error("{kind}: metadata.name (or metadata.generateName) is required")]
    MissingName { kind: String },
    #[error("{resource} {key} already exists")]
    AlreadyExists { resource: Resource, key: String },
    #[error("{resource} {key} not found")]
    NotFound { resource: Resource, key: String },
    #[error(
        "{resource} {key}: resourceVersion {given} is not the current {current}; the object was changed meanwhile"
    )]
    Conflict {
        resource: Resource,
        key: String,
        given: String,
        current: u64,
    },
    #[error("resourceVersion {asked} is too old: the oldest kept is {oldest}")]
    Gone { asked: u64, oldest: u64 },
    #[error("{what}")]
    Invalid { what: String },
}

type Key = (Resource, String, String);

#[derive(Debug)]
struct Inner {
    revision: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Event>,
    /// Watches may resume from this revision or any later one.
    oldest_resumable: u64,
    next_uid: u64,
}

/// The store; share it as `Arc<Store>`.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    history_limit: usize,
    events: broadcast::Sender<Event>,
    revisions: watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_history(DEFAULT_HISTORY)
    }
}

impl Store {
    pub fn new() -> Arc<Store> {
        Arc::new(Store::default())
    }

    /// A store keeping `limit` events for watches (small limits make `410 Gone` easy to test).
    pub fn with_history(limit: usize) -> Store {
        Store {
            inner: Mutex::new(Inner {
                revision: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                oldest_resumable: 1,
                next_uid: 1,
            }),
            history_limit: limit.max(1),
            events: broadcast::channel(SUBSCRIBER_BUFFER).0,
            revisions: watch::channel(1).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current resourceVersion of the whole store.
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// Creates the object, or replaces it if it exists (as `kubectl apply` would, without
    /// merging). Returns the stored object.
    pub fn apply(&self, object: Value) -> Result<Value, StoreError> {
        self.write(object, Mode::Apply)
    }

    /// Creates the object; it must not exist. `metadata.generateName` is honoured.
    pub fn create(&self, object: Value) -> Result<Value, StoreError> {
        self.write(object, Mode::Create)
    }

    /// Replaces an existing object; a `metadata.resourceVersion` in it must be the current one.
    pub fn update(&self, object: Value) -> Result<Value, StoreError> {
        self.write(object, Mode::Update)
    }

    /// Changes an existing object in place with `f` (no conflict possible: the store is locked).
    pub fn modify(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, StoreError> {
        let mut inner = self.lock();
        let key = key(resource, namespace, name);
        let Some(current) = inner.objects.get(&key) else {
            return Err(not_found(&key));
        };
        let mut object = (**current).clone();
        f(&mut object);
        self.store(&mut inner, key, object, Mode::Update)
    }

    /// Deletes an object now (the DELETED event carries a new resourceVersion).
    pub fn delete(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Value, StoreError> {
        let mut inner = self.lock();
        let key = key(resource, namespace, name);
        let Some(old) = inner.objects.remove(&key) else {
            return Err(not_found(&key));
        };
        let mut object = (*old).clone();
        inner.revision += 1;
        let revision = inner.revision;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        let object = Arc::new(object);
        self.record(
            &mut inner,
            EventType::Deleted,
            resource,
            object.clone(),
            Some(old),
        );
        Ok((*object).clone())
    }

    /// Deletes as the API server does for a client's DELETE: a Pod bound to a node is only
    /// marked (`deletionTimestamp`, `deletionGracePeriodSeconds` from `grace_seconds`, else its
    /// `terminationGracePeriodSeconds`, else 30) and the node's kubelet removes it once its
    /// containers stopped; a grace of 0, an unbound Pod and every other kind go at once.
    pub fn delete_gracefully(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        grace_seconds: Option<i64>,
    ) -> Result<Value, StoreError> {
        let current = self
            .get(resource, namespace, name)
            .ok_or_else(|| not_found(&key(resource, namespace, name)))?;
        let grace = grace_seconds
            .or_else(|| current["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        let bound = current["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty());
        if resource != Resource::Pod || grace <= 0 || !bound {
            return self.delete(resource, namespace, name);
        }
        if !current["metadata"]["deletionTimestamp"].is_null() {
            return Ok(current);
        }
        // As the real API server: the moment by which the pod will be gone, the request's time
        // plus the grace period.
        let by = SystemTime::now() + std::time::Duration::from_secs(grace.unsigned_abs());
        self.modify(resource, namespace, name, |pod| {
            pod["metadata"]["deletionTimestamp"] = json!(timestamp(by));
            pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        })
    }

    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&key(resource, namespace, name))
            .map(|o| (**o).clone())
    }

    /// Every object of `resource` (in `namespace` if given), ordered by namespace and name, and
    /// the revision the list is consistent with.
    pub fn list(&self, resource: Resource, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .range((resource, String::new(), String::new())..)
            .take_while(|((r, _, _), _)| *r == resource)
            .filter(|((_, ns, _), _)| namespace.is_none_or(|want| want == ns))
            .map(|(_, o)| o.clone())
            .collect();
        (items, inner.revision)
    }

    /// The events after `revision` and a subscription to every later one, taken atomically, so a
    /// watch misses nothing. `Gone` when the history no longer reaches back to `revision`.
    pub fn watch_from(
        &self,
        revision: u64,
    ) -> Result<(Vec<Event>, broadcast::Receiver<Event>), StoreError> {
        let inner = self.lock();
        if revision < inner.oldest_resumable {
            return Err(StoreError::Gone {
                asked: revision,
                oldest: inner.oldest_resumable,
            });
        }
        let past = inner
            .history
            .iter()
            .filter(|e| e.revision > revision)
            .cloned()
            .collect();
        Ok((past, self.events.subscribe()))
    }

    /// Compacts the history as etcd does: a watch can no longer resume from any revision before
    /// the current one and gets `410 Gone`, so its client must list again.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.oldest_resumable = inner.revision;
    }

    /// Every event from now on (for in-process controllers).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The store's revision, changing with every write: for controllers that resync everything.
    pub fn revisions(&self) -> watch::Receiver<u64> {
        self.revisions.subscribe()
    }

    /// Typed form of [`Store::apply`] for k8s-openapi objects.
    pub fn apply_typed<K>(&self, object: &K) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let value = serde_json::to_value(object).map_err(|e| invalid(K::KIND, &e))?;
        typed(self.apply(value)?)
    }

    /// Typed form of [`Store::get`]; `None` also when the stored object does not fit `K`.
    pub fn get_typed<K>(&self, namespace: &str, name: &str) -> Option<K>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let resource = Resource::of(K::API_VERSION, K::KIND)?;
        typed(self.get(resource, namespace, name)?).ok()
    }

    /// Typed form of [`Store::list`]; objects that do not fit `K` are left out.
    pub fn list_typed<K>(&self, namespace: Option<&str>) -> Vec<K>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let Some(resource) = Resource::of(K::API_VERSION, K::KIND) else {
            return Vec::new();
        };
        self.list(resource, namespace)
            .0
            .iter()
            .filter_map(|o| K::deserialize(&**o).ok())
            .collect()
    }

    fn write(&self, object: Value, mode: Mode) -> Result<Value, StoreError> {
        let (resource, namespace, name, generate) = identify(&object)?;
        let mut inner = self.lock();
        let name = match (name, generate) {
            (Some(name), _) => name,
            (None, Some(prefix)) if mode != Mode::Update => {
                let seed = inner.next_uid;
                generated_name(&prefix, seed)
            }
            (None, _) => {
                return Err(StoreError::MissingName {
                    kind: resource.kind().to_owned(),
                });
            }
        };
        let key = key(resource, &namespace, &name);
        let mut object = object;
        object["metadata"]["name"] = json!(name);
        if let Some(map) = object["metadata"].as_object_mut() {
            map.remove("generateName");
        }
        self.store(&mut inner, key, object, mode)
    }

    /// Writes `object` under `key`: metadata stamped, event recorded, subscribers told.
    fn store(
        &self,
        inner: &mut Inner,
        key: Key,
        mut object: Value,
        mode: Mode,
    ) -> Result<Value, StoreError> {
        let existing = inner.objects.get(&key).cloned();
        match (&existing, mode) {
            (Some(_), Mode::Create) => {
                return Err(StoreError::AlreadyExists {
                    resource: key.0,
                    key: display_key(&key),
                });
            }
            (None, Mode::Update) => return Err(not_found(&key)),
            (Some(current), Mode::Update) => {
                let given = object["metadata"]["resourceVersion"].as_str().unwrap_or("");
                let current_rv = current["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("");
                if !given.is_empty() && given != current_rv {
                    return Err(StoreError::Conflict {
                        resource: key.0,
                        key: display_key(&key),
                        given: given.to_owned(),
                        current: current_rv.parse().unwrap_or(0),
                    });
                }
            }
            _ => {}
        }
        let (resource, namespace, _) = &key;
        object["apiVersion"] = json!(resource.api_version());
        object["kind"] = json!(resource.kind());
        if resource.namespaced() {
            object["metadata"]["namespace"] = json!(namespace);
        } else if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("namespace");
        }
        let meta = &mut object["metadata"];
        match &existing {
            Some(old) => {
                let old_meta = &old["metadata"];
                meta["uid"] = old_meta["uid"].clone();
                meta["creationTimestamp"] = old_meta["creationTimestamp"].clone();
                let old_generation = old_meta["generation"].as_u64().unwrap_or(1);
                let spec_changed = old.get("spec") != object.get("spec");
                object["metadata"]["generation"] = json!(old_generation + u64::from(spec_changed));
            }
            None => {
                let uid = inner.next_uid;
                inner.next_uid += 1;
                meta["uid"] = json!(format!("00000000-0000-4000-8000-{uid:012x}"));
                if meta["creationTimestamp"].is_null() {
                    meta["creationTimestamp"] = json!(timestamp(SystemTime::now()));
                }
                meta["generation"] = json!(1);
            }
        }
        inner.revision += 1;
        let revision = inner.revision;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        let object = Arc::new(object);
        inner.objects.insert(key.clone(), object.clone());
        let kind = if existing.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(inner, kind, key.0, object.clone(), existing);
        Ok((*object).clone())
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: EventType,
        resource: Resource,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let event = Event {
            kind,
            resource,
            revision: inner.revision,
            object,
            previous,
        };
        inner.history.push_back(event.clone());
        while inner.history.len() > self.history_limit {
            if let Some(dropped) = inner.history.pop_front() {
                inner.oldest_resumable = dropped.revision;
            }
        }
        let _ = self.events.send(event);
        self.revisions.send_replace(inner.revision);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Apply,
    Create,
    Update,
}

/// Resource, namespace, name and generateName of an object about to be written.
fn identify(
    object: &Value,
) -> Result<(Resource, String, Option<String>, Option<String>), StoreError> {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    let resource = Resource::of(api_version, kind).ok_or_else(|| StoreError::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })?;
    if !object["metadata"].is_object() && !object["metadata"].is_null() {
        return Err(StoreError::Invalid {
            what: format!("{kind}: metadata must be an object"),
        });
    }
    let text = |field: &str| {
        object["metadata"][field]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let namespace = if resource.namespaced() {
        text("namespace").unwrap_or_else(|| "default".to_owned())
    } else {
        String::new()
    };
    Ok((resource, namespace, text("name"), text("generateName")))
}

fn key(resource: Resource, namespace: &str, name: &str) -> Key {
    let namespace = if resource.namespaced() { namespace } else { "" };
    (resource, namespace.to_owned(), name.to_owned())
}

fn display_key((_, namespace, name): &Key) -> String {
    if namespace.is_empty() {
        name.clone()
    } else {
        format!("{namespace}/{name}")
    }
}

fn not_found(key: &Key) -> StoreError {
    StoreError::NotFound {
        resource: key.0,
        key: display_key(key),
    }
}

fn invalid(kind: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Invalid {
        what: format!("{kind}: {e}"),
    }
}

fn typed<K: k8s_openapi::Resource + DeserializeOwned>(value: Value) -> Result<K, StoreError> {
    K::deserialize(value).map_err(|e| invalid(K::KIND, &e))
}

/// `prefix` and five characters of Kubernetes' alphabet, derived from `seed`.
fn generated_name(prefix: &str, seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5851_F42D_4C95_7F2D;
    let suffix: String = (0..5)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let n = NAME_ALPHABET.len() as u64;
            char::from(NAME_ALPHABET[usize::try_from(x % n).unwrap_or(0)])
        })
        .collect();
    format!("{prefix}{suffix}")
}

/// A Kubernetes timestamp (RFC 3339, seconds, UTC).
pub fn timestamp(t: SystemTime) -> String {
    let full = probesim_agent::clock::rfc3339(t);
    // `2026-11-22T10:00:00.123456789Z` -> `2026-11-22T10:00:00Z`
    match full.find('.') {
        Some(dot) => format!("{}Z", &full[..dot]),
        None => full,
    }
}

#[cfg(test)]
mod tests;
