//! The watchers: one kube-runtime watcher per kind, each applying what it hears to the shared
//! [`Snapshot`] and telling the planner that something changed.
//!
//! kube-runtime's watcher relists after `410 Gone` and pages its lists; [`default_backoff`]
//! retries errors with exponential backoff, so the agent rides out an API server restart. A
//! relist replaces a kind's objects at once (`InitDone`), and the objects that vanished in it
//! produce their deletion events, so nothing is lost across a relist.
//!
//! [`default_backoff`]: kube::runtime::WatchStreamExt::default_backoff

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::{Key, Snapshot, key_of, lifecycle};
use crate::event::Lifecycle;
use crate::stream::{DropCounter, DropCounts};

/// Objects per page of an initial list: the API server's recommended chunk size (kubectl's
/// `--chunk-size` default), so a list of 100 000 pods never arrives as one response.
pub const LIST_PAGE_SIZE: u32 = 500;

/// A kind the agent watches.
pub trait Watched:
    kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// The resource as RBAC names it (`pods`, `endpointslices.discovery.k8s.io`).
    const RESOURCE: &'static str;
    fn objects(snapshot: &mut Snapshot) -> &mut BTreeMap<Key, Self>;
    /// Lifecycle events between two states of one object.
    fn lifecycle(
        _old: Option<&Self>,
        _new: Option<&Self>,
        _node: &str,
        _seen_at: SystemTime,
    ) -> Vec<Lifecycle> {
        Vec::new()
    }
}

impl Watched for Node {
    const RESOURCE: &'static str = "nodes";
    fn objects(snapshot: &mut Snapshot) -> &mut BTreeMap<Key, Self> {
        &mut snapshot.nodes
    }
    fn lifecycle(
        old: Option<&Self>,
        new: Option<&Self>,
        _node: &str,
        seen_at: SystemTime,
    ) -> Vec<Lifecycle> {
        lifecycle::node(old, new, seen_at)
    }
}

impl Watched for Pod {
    const RESOURCE: &'static str = "pods";
    fn objects(snapshot: &mut Snapshot) -> &mut BTreeMap<Key, Self> {
        &mut snapshot.pods
    }
    fn lifecycle(
        old: Option<&Self>,
        new: Option<&Self>,
        _node: &str,
        seen_at: SystemTime,
    ) -> Vec<Lifecycle> {
        lifecycle::pod(old, new, seen_at)
    }
}

impl Watched for Service {
    const RESOURCE: &'static str = "services";
    fn objects(snapshot: &mut Snapshot) -> &mut BTreeMap<Key, Self> {
        &mut snapshot.services
    }
}

impl Watched for EndpointSlice {
    const RESOURCE: &'static str = "endpointslices.discovery.k8s.io";
    fn objects(snapshot: &mut Snapshot) -> &mut BTreeMap<Key, Self> {
        &mut snapshot.slices
    }
    fn lifecycle(
        old: Option<&Self>,
        new: Option<&Self>,
        node: &str,
        seen_at: SystemTime,
    ) -> Vec<Lifecycle> {
        lifecycle::endpoint_slice(old, new, node, seen_at)
    }
}

impl Watched for Ingress {
    const RESOURCE: &'static str = "ingresses.networking.k8s.io";
    fn objects(snapshot: &mut Snapshot) -> &mut BTreeMap<Key, Self> {
        &mut snapshot.ingresses
    }
}

impl Watched for IngressClass {
    const RESOURCE: &'static str = "ingressclasses.networking.k8s.io";
    fn objects(snapshot: &mut Snapshot) -> &mut BTreeMap<Key, Self> {
        &mut snapshot.ingress_classes
    }
}

/// How one kind's watch is doing, for `/healthz` and the metrics.
#[derive(Clone, Debug, Default)]
pub struct WatchStatus {
    /// Completed initial lists (1 after the first, more after relists).
    pub lists: u64,
    pub errors: u64,
    /// The last error, in words that name the verb and resource.
    pub last_error: Option<String>,
}

/// What the watchers share with the daemon.
#[derive(Debug)]
pub struct Shared {
    snapshot: Mutex<Snapshot>,
    status: Mutex<BTreeMap<&'static str, WatchStatus>>,
    /// Bumped on every change of the snapshot.
    changed: watch::Sender<u64>,
    lifecycle: mpsc::Sender<Lifecycle>,
    dropped: Mutex<Dropped>,
    node: String,
}

/// Lifecycle events dropped because the consumer was behind, and the collector stream's count
/// they also go to once it runs.
#[derive(Debug, Default)]
struct Dropped {
    total: u64,
    stream: Option<Arc<DropCounter>>,
}

impl Shared {
    /// Nothing seen yet; lifecycle events go to the receiver, up to `capacity` waiting.
    fn new(node: &str, capacity: usize) -> (Arc<Shared>, mpsc::Receiver<Lifecycle>) {
        let (lifecycle, events) = mpsc::channel(capacity);
        let shared = Arc::new(Shared {
            snapshot: Mutex::new(Snapshot::default()),
            status: Mutex::new(BTreeMap::new()),
            changed: watch::Sender::new(0),
            lifecycle,
            dropped: Mutex::default(),
            node: node.to_owned(),
        });
        (shared, events)
    }

    /// Runs `f` on the objects as last seen, without copying them; watchers wait meanwhile.
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        f(&lock(&self.snapshot))
    }

    pub fn status(&self) -> BTreeMap<&'static str, WatchStatus> {
        lock(&self.status).clone()
    }

    /// Whether every watcher completed its initial list.
    pub fn synced(&self) -> bool {
        let status = lock(&self.status);
        status.len() == KINDS && status.values().all(|s| s.lists > 0)
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Lifecycle events dropped because the consumer was behind (a full channel), since start.
    pub fn dropped_lifecycle(&self) -> u64 {
        lock(&self.dropped).total
    }

    /// Counts the dropped lifecycle events in the collector stream's drop counts too (those
    /// dropped so far at once, later ones as they drop), so that the collector shows the loss as
    /// a gap. The first stream wins.
    pub fn forward_drops(&self, stream: Arc<DropCounter>) {
        let mut dropped = lock(&self.dropped);
        if dropped.stream.is_none() {
            stream.add(lifecycle_drops(dropped.total));
            dropped.stream = Some(stream);
        }
    }

    fn emit(&self, events: Vec<Lifecycle>) {
        let mut lost = 0;
        for event in events {
            if self.lifecycle.try_send(event).is_err() {
                lost += 1;
            }
        }
        if lost > 0 {
            let mut dropped = lock(&self.dropped);
            dropped.total += lost;
            if let Some(stream) = &dropped.stream {
                stream.add(lifecycle_drops(lost));
            }
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    fn record_list<K: Watched>(&self) {
        lock(&self.status).entry(K::RESOURCE).or_default().lists += 1;
    }

    fn record_error<K: Watched>(&self, error: &watcher::Error) {
        let message = describe_error(K::RESOURCE, error);
        tracing::warn!(resource = K::RESOURCE, error = %message, "watch failed; retrying with backoff");
        let mut status = lock(&self.status);
        let entry = status.entry(K::RESOURCE).or_default();
        entry.errors += 1;
        entry.last_error = Some(message);
    }
}

fn lifecycle_drops(n: u64) -> DropCounts {
    DropCounts {
        lifecycle: n,
        ..DropCounts::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kinds watched: Node, Pod, Service, EndpointSlice, Ingress, IngressClass.
const KINDS: usize = 6;

/// Lifecycle events buffered for the daemon before new ones are dropped (and counted).
pub const LIFECYCLE_CAPACITY: usize = 16_384;

/// Starts the six watchers; lifecycle events go to the returned receiver.
pub fn start(
    client: Client,
    node: &str,
    tasks: &mut JoinSet<()>,
) -> (Arc<Shared>, mpsc::Receiver<Lifecycle>) {
    let (shared, events) = Shared::new(node, LIFECYCLE_CAPACITY);
    let config = || watcher::Config::default().page_size(LIST_PAGE_SIZE);
    tasks.spawn(run::<Node>(
        Api::all(client.clone()),
        config().fields(&format!("metadata.name={node}")),
        shared.clone(),
    ));
    tasks.spawn(run::<Pod>(
        Api::all(client.clone()),
        config().fields(&format!("spec.nodeName={node}")),
        shared.clone(),
    ));
    tasks.spawn(run::<Service>(
        Api::all(client.clone()),
        config(),
        shared.clone(),
    ));
    tasks.spawn(run::<EndpointSlice>(
        Api::all(client.clone()),
        config(),
        shared.clone(),
    ));
    tasks.spawn(run::<Ingress>(
        Api::all(client.clone()),
        config(),
        shared.clone(),
    ));
    tasks.spawn(run::<IngressClass>(
        Api::all(client),
        config(),
        shared.clone(),
    ));
    (shared, events)
}

/// Runs one kind's watcher until the task is aborted.
async fn run<K: Watched>(api: Api<K>, config: watcher::Config, shared: Arc<Shared>) {
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut relisting: Option<BTreeMap<Key, K>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                shared.record_error::<K>(&error);
                continue;
            }
        };
        let seen_at = SystemTime::now();
        match event {
            watcher::Event::Init => relisting = Some(BTreeMap::new()),
            watcher::Event::InitApply(object) => {
                relisting
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key_of(object.meta()), object);
            }
            watcher::Event::InitDone => {
                let fresh = relisting.take().unwrap_or_default();
                replace_all(&shared, fresh, seen_at);
                shared.record_list::<K>();
            }
            watcher::Event::Apply(object) => apply(&shared, object, true, seen_at),
            watcher::Event::Delete(object) => apply(&shared, object, false, seen_at),
        }
    }
}

/// One object applied (`present`) or deleted.
fn apply<K: Watched>(shared: &Shared, object: K, present: bool, seen_at: SystemTime) {
    let key = key_of(object.meta());
    let events = {
        let mut snapshot = lock(&shared.snapshot);
        let objects = K::objects(&mut snapshot);
        if present {
            let old = objects.insert(key.clone(), object);
            K::lifecycle(old.as_ref(), objects.get(&key), &shared.node, seen_at)
        } else {
            let old = objects.remove(&key);
            K::lifecycle(old.as_ref(), None, &shared.node, seen_at)
        }
    };
    shared.emit(events);
    shared.bump();
}

/// A (re)list: the kind's objects become exactly `fresh`; what changed in between produces its
/// lifecycle events, what vanished its deletions.
fn replace_all<K: Watched>(shared: &Shared, fresh: BTreeMap<Key, K>, seen_at: SystemTime) {
    let events = {
        let mut snapshot = lock(&shared.snapshot);
        let objects = K::objects(&mut snapshot);
        let old = std::mem::replace(objects, fresh);
        let mut events = Vec::new();
        for (key, new) in objects.iter() {
            events.extend(K::lifecycle(old.get(key), Some(new), &shared.node, seen_at));
        }
        for (key, gone) in &old {
            if !objects.contains_key(key) {
                events.extend(K::lifecycle(Some(gone), None, &shared.node, seen_at));
            }
        }
        events
    };
    shared.emit(events);
    shared.bump();
}

/// A watch error in words an operator can act on: a missing RBAC permission names the verb and
/// resource.
pub fn describe_error(resource: &str, error: &watcher::Error) -> String {
    let (verb, inner) = match error {
        watcher::Error::InitialListFailed(e) => ("list", Some(e)),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", Some(e)),
        watcher::Error::WatchError(status) => {
            return format!(
                "watch {resource}: the API server said {} {}",
                status.code, status.message
            );
        }
        watcher::Error::NoResourceVersion => ("watch", None),
    };
    match inner {
        Some(kube::Error::Api(status)) if status.code == 403 => format!(
            "missing permission: cannot {verb} {resource} (RBAC: the agent's ClusterRole needs get, list, watch on {resource}): {}",
            status.message
        ),
        Some(kube::Error::Api(status)) if status.code == 401 => format!(
            "{verb} {resource}: unauthorized (the agent's ServiceAccount token was refused): {}",
            status.message
        ),
        Some(e) => format!("{verb} {resource}: {e}"),
        None => format!("{verb} {resource}: {error}"),
    }
}

#[cfg(test)]
mod tests;
