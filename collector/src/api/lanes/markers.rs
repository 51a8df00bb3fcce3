//! Lifecycle markers of the lanes: which events are about a backend, found through an index
//! (a large cluster's hour has thousands of events and thousands of backends), told once even
//! when several agents saw them, and where on the time axis each stands.

use crate::timeline::concerns;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use probesim_agent::event::{BackendKey, Lifecycle, LifecycleKind};
use probesim_agent::model::ObjectRef;

use super::{MAX_MARKERS_PER_LANE, Marker};
use crate::api::json;
use crate::store::codec::{from_ms, ms};

/// The lifecycle events of a range, indexed by what they can be about.
#[derive(Debug)]
pub struct LifecycleIndex<'a> {
    events: &'a [Lifecycle],
    by_pod: HashMap<String, Vec<usize>>,
    by_address: HashMap<IpAddr, Vec<usize>>,
    by_node: HashMap<&'a str, Vec<usize>>,
    by_object: HashMap<&'a ObjectRef, Vec<usize>>,
}

impl<'a> LifecycleIndex<'a> {
    pub fn new(events: &'a [Lifecycle]) -> Self {
        let mut index = LifecycleIndex {
            events,
            by_pod: HashMap::new(),
            by_address: HashMap::new(),
            by_node: HashMap::new(),
            by_object: HashMap::new(),
        };
        for (i, e) in events.iter().enumerate() {
            let object = &e.object;
            match object.kind.as_str() {
                "Pod" => {
                    let pod = format!("{}/{}", object.namespace, object.name);
                    index.by_pod.entry(pod).or_default().push(i);
                }
                "Node" => {
                    index.by_node.entry(&object.name).or_default().push(i);
                    if let Some(node) = e.node.as_deref() {
                        index.by_node.entry(node).or_default().push(i);
                    }
                    continue;
                }
                _ => index.by_object.entry(object).or_default().push(i),
            }
            if let Some(address) = e.address {
                index.by_address.entry(address).or_default().push(i);
            }
        }
        index
    }

    /// The events about `key` ([`concerns`]), in time order.
    pub fn about(&self, key: &BackendKey) -> impl Iterator<Item = &'a Lifecycle> + use<'a> {
        let mut found: BTreeSet<usize> = BTreeSet::new();
        let lists = [
            key.pod.as_ref().and_then(|p| self.by_pod.get(p)),
            self.by_address.get(&key.target.ip()),
            self.by_node.get(key.node.as_str()),
            self.by_object.get(&key.service),
            self.by_object.get(&key.object),
        ];
        for list in lists.into_iter().flatten() {
            found.extend(list.iter().copied());
        }
        let events = self.events;
        let key = key.clone();
        found
            .into_iter()
            .map(move |i| &events[i])
            .filter(move |e| concerns(e, &key))
    }

    /// The markers of `key` in `from..=to`: one per event (the copies several agents sent
    /// counted once), the latest [`MAX_MARKERS_PER_LANE`].
    pub fn markers(&self, key: &BackendKey, from: i64, to: i64) -> Vec<Marker> {
        let mut seen = BTreeSet::new();
        let mut out: Vec<Marker> = Vec::new();
        for e in self.about(key) {
            let mut detail: BTreeMap<String, String> = e.detail.iter().cloned().collect();
            let at_ms = marker_time(e, &mut detail);
            if !(from..=to).contains(&at_ms) {
                continue;
            }
            let object = e.object.to_string();
            if !seen.insert((e.kind.as_str(), at_ms, object.clone(), detail.clone())) {
                continue;
            }
            out.push(Marker {
                kind: e.kind.as_str(),
                at_ms,
                object,
                detail,
            });
        }
        out.sort_by_key(|m| m.at_ms);
        let excess = out.len().saturating_sub(MAX_MARKERS_PER_LANE);
        out.drain(..excess);
        out
    }
}

/// When a marker stands: the event's time, except for Terminating, which Kubernetes dates at
/// `deletionTimestamp` (the request plus the grace period): the marker stands at the delete
/// request, sharpened to the agent's sighting within that whole second (REPORT.md), and the
/// detail keeps `deletion_timestamp`.
pub fn marker_time(e: &Lifecycle, detail: &mut BTreeMap<String, String>) -> i64 {
    let at = ms(e.object_time.unwrap_or(e.seen_at));
    if e.kind != LifecycleKind::PodTerminating {
        return at;
    }
    let Some(grace) = detail
        .get("grace_period_s")
        .and_then(|g| g.parse::<i64>().ok())
    else {
        return at;
    };
    detail.insert("deletion_timestamp".to_owned(), json::rfc3339(from_ms(at)));
    let request = at - grace * 1000;
    let seen = ms(e.seen_at);
    if (request..request + 1000).contains(&seen) {
        seen
    } else {
        request
    }
}
