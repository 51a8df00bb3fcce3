//! The passive observer inside the daemon (`run --observe`): the real LB's probes arriving at the
//! node become results of **observed** backends, declared beside the emulated ones.
//!
//! Every LB backend of the cluster's own version gets a twin with the same key but
//! [`SourceMode::Observed`], a number of its own and one prober (the real LB). No probes are
//! scheduled for a twin: the [`Observer`] maps the probes it sees to the twin by the address the
//! LB probed ([`BackendMap`]), and the daemon feeds their results to the twin's LB view, so what
//! the real LB decided from what it got is reported like the emulated view.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::metrics::{Sample, Scraped};
use crate::engine::ProbeRecord;
use crate::error::{Error, Result};
use crate::event::{Backend, BackendId, BackendKey, Event, Hop, ProbeResult, SourceMode};
use crate::model::Cloud;
use crate::observe::{BackendMap, Observer, ObserverConfig, ObserverStats, Sources};
use crate::source::caps;

/// Twins are numbered from here up (twin of backend `n`: `n + OBSERVED_ID_OFFSET`), apart from
/// the registry's numbers, which count up from 1; still a positive `i64` for stores that keep it
/// so.
pub const OBSERVED_ID_OFFSET: BackendId = 1 << 62;
/// Observed results buffered between the observer and the daemon: the real LB sends a few per
/// second per backend, so this is minutes of a busy node's.
pub const OBSERVED_CHANNEL: usize = 16_384;
/// The `--observe` value that watches the interfaces carrying a default route.
pub const AUTO: &str = "auto";
/// Longest interface name Linux takes (`IFNAMSIZ` − 1).
const MAX_INTERFACE_NAME: usize = 15;

/// What `--observe` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interfaces {
    /// The node's uplinks ([`crate::observe::uplinks`]), found when the daemon starts.
    Auto,
    Named(Vec<String>),
}

/// Parses `--observe` (`auto`, or comma-separated interface names); `None` when empty (off).
pub fn parse_interfaces(flag: &'static str, text: &str) -> Result<Option<Interfaces>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text == AUTO {
        return Ok(Some(Interfaces::Auto));
    }
    let bad = |message: String| Error::Flag {
        flag,
        value: text.to_owned(),
        message,
    };
    let mut names: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(bad("an interface name is empty".into()));
        }
        if name == AUTO {
            return Err(bad(format!("`{AUTO}` stands alone, not in a list")));
        }
        if name.len() > MAX_INTERFACE_NAME {
            return Err(bad(format!(
                "interface name {name:?} is longer than {MAX_INTERFACE_NAME} bytes"
            )));
        }
        if name == "."
            || name == ".."
            || name
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
        {
            return Err(bad(format!("{name:?} is not an interface name")));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(Some(Interfaces::Named(names)))
}

/// An IPv4 network: address and prefix length.
pub type Network = (Ipv4Addr, u8);

/// Parses an IPv4 network (`10.224.255.0/24`, or an address for /32).
pub fn parse_network(flag: &'static str, text: &str) -> Result<Network> {
    let bad = |message: &str| Error::Flag {
        flag,
        value: text.to_owned(),
        message: message.to_owned(),
    };
    let (addr, len) = match text.trim().split_once('/') {
        Some((addr, len)) => (
            addr,
            len.parse::<u8>()
                .map_err(|_| bad("the prefix length is not a number"))?,
        ),
        None => (text.trim(), 32),
    };
    if len > 32 {
        return Err(bad("the prefix length is above 32"));
    }
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| bad("not an IPv4 address or network (the observer follows IPv4)"))?;
    Ok((addr, len))
}

/// The observer's settings for `cloud`: Azure's probes come from 168.63.129.16 (plus any
/// `networks`); an AWS LB's from its subnets, which must be given (`networks`), and among
/// their connections the probes are told by the ELB user agent or by carrying no data.
///
/// When `networks` hold the nodes too (an LB in the nodes' subnets), the probes are still
/// followed to their outcome, but other nodes' connections to this node's targets look like
/// the LB's: a TCP connection without data (another agent's hop probe through a ClusterIP to a
/// pod here) counts as a TCP health check of that address.
pub fn config(
    cloud: Cloud,
    interfaces: Vec<String>,
    networks: &[Network],
    networks_flag: &'static str,
) -> Result<ObserverConfig> {
    let mut config = match cloud {
        Cloud::Azure => ObserverConfig::azure(interfaces),
        Cloud::Aws if networks.is_empty() => {
            return Err(Error::Flag {
                flag: networks_flag,
                value: String::new(),
                message: "observing an AWS load balancer needs its subnets' networks (e.g. 10.0.128.0/20)".into(),
            });
        }
        Cloud::Aws => ObserverConfig::new(
            interfaces,
            Sources {
                nets: Vec::new(),
                probe_only: Vec::new(),
            },
        ),
    };
    for net in networks {
        if !config.sources.nets.contains(net) {
            config.sources.nets.push(*net);
        }
    }
    Ok(config)
}

/// Starts the observer in the calling thread's namespace, after checking CAP_NET_RAW (the
/// error names the capability and the manifest setting that grants it).
pub fn start(
    config: ObserverConfig,
    map: Arc<BackendMap>,
    events: mpsc::Sender<Event>,
) -> Result<Observer> {
    caps::require("observe", &caps::OBSERVE)?;
    Observer::start(config, map, events)
}

/// The observed twin of `backend`, if the real LB's probes of it can be seen: an LB backend of
/// the cluster's own version (a what-if version has no real LB).
pub fn twin_of(backend: &Backend) -> Option<Backend> {
    let key = &backend.key;
    if key.hop != Hop::Lb || key.version.what_if || key.source == SourceMode::Observed {
        return None;
    }
    Some(Backend {
        id: backend.id.checked_add(OBSERVED_ID_OFFSET)?,
        key: BackendKey {
            source: SourceMode::Observed,
            ..key.clone()
        },
        spec: backend.spec.clone(),
        probers: 1,
        also_for: backend.also_for.clone(),
    })
}

/// The twins of the emulated backends, and the address map the observer reads.
#[derive(Debug, Default)]
pub struct Twins {
    map: Arc<BackendMap>,
    /// Emulated backend → its twin.
    twins: HashMap<BackendId, Arc<Backend>>,
    /// Twins by the address probed, oldest first: two rules may probe one address; the map
    /// names the newest, and the next when it goes.
    by_target: HashMap<SocketAddr, Vec<BackendId>>,
    /// Twins by key, with how many emulated backends share each: a target probed from several
    /// sources (`node+lb-source`) has one twin, as the real LB probes it once.
    by_key: HashMap<BackendKey, (Arc<Backend>, usize)>,
}

impl Twins {
    pub fn new(map: Arc<BackendMap>) -> Twins {
        Twins {
            map,
            ..Twins::default()
        }
    }

    pub fn map(&self) -> &Arc<BackendMap> {
        &self.map
    }

    pub fn twin(&self, emulated: BackendId) -> Option<&Arc<Backend>> {
        self.twins.get(&emulated)
    }

    /// Declares the twin of a new backend (`None`: it has none, or shares one already declared).
    pub fn add(&mut self, backend: &Backend) -> Option<Arc<Backend>> {
        let twin = twin_of(backend)?;
        if let Some((shared, users)) = self.by_key.get_mut(&twin.key) {
            *users += 1;
            self.twins.insert(backend.id, shared.clone());
            return None;
        }
        let twin = Arc::new(twin);
        self.by_key.insert(twin.key.clone(), (twin.clone(), 1));
        let target = twin.key.target;
        let ids = self.by_target.entry(target).or_default();
        ids.retain(|id| *id != twin.id);
        ids.push(twin.id);
        self.map.insert(target, twin.id, twin.spec.clone());
        self.twins.insert(backend.id, twin.clone());
        Some(twin)
    }

    /// The backend's spec or what it stands for changed: its twin follows (`None`: it has none).
    pub fn update(&mut self, backend: &Backend) -> Option<Arc<Backend>> {
        let twin = self.twins.get_mut(&backend.id)?;
        *twin = Arc::new(Backend {
            spec: backend.spec.clone(),
            also_for: backend.also_for.clone(),
            ..(**twin).clone()
        });
        let twin = twin.clone();
        for (id, shared) in self.twins.iter_mut() {
            if shared.id == twin.id && *id != backend.id {
                *shared = twin.clone();
            }
        }
        if let Some((shared, _)) = self.by_key.get_mut(&twin.key) {
            *shared = twin.clone();
        }
        if self
            .by_target
            .get(&twin.key.target)
            .and_then(|ids| ids.last())
            == Some(&twin.id)
        {
            self.map.insert(twin.key.target, twin.id, twin.spec.clone());
        }
        Some(twin)
    }

    /// Forgets a removed backend; returns its twin's number when no other backend shares it.
    pub fn remove(&mut self, emulated: BackendId) -> Option<BackendId> {
        let twin = self.twins.remove(&emulated)?;
        if let Some((_, users)) = self.by_key.get_mut(&twin.key) {
            *users -= 1;
            if *users > 0 {
                return None;
            }
        }
        self.by_key.remove(&twin.key);
        let target = twin.key.target;
        let ids = self.by_target.entry(target).or_default();
        ids.retain(|id| *id != twin.id);
        let next = ids
            .last()
            .and_then(|id| self.twins.values().find(|t| t.id == *id))
            .cloned();
        match next {
            Some(next) => self.map.insert(target, next.id, next.spec.clone()),
            None => {
                self.by_target.remove(&target);
                self.map.remove(&target);
            }
        }
        Some(twin.id)
    }
}

/// An observed result as the engine's record of a probe of the twin's one prober, so that it
/// takes the emulated results' path (LB view, metrics, event). `None` when it started in the
/// future (a clock step).
pub fn record(result: &ProbeResult, now: Instant, wall: SystemTime) -> Option<ProbeRecord> {
    let ago = wall
        .duration_since(result.started_at)
        .unwrap_or(Duration::ZERO);
    Some(ProbeRecord {
        target: result.backend,
        generation: 0,
        prober: 0,
        slot: 0,
        probers: 1,
        due: now.checked_sub(ago)?,
        lateness: Duration::ZERO,
        started_at: result.started_at,
        measurement: result.measurement,
    })
}

/// The observer's counters in `/metrics` (`probesim_observer_*`).
impl Scraped for ObserverStats {
    fn counters(&self) -> Vec<Sample> {
        observer_counters(self).to_vec()
    }
}

fn observer_counters(s: &ObserverStats) -> [(&'static str, &'static str, u64); 7] {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    [
        (
            "observer_packets",
            "Packets of the LB's source networks the observer captured",
            get(&s.packets),
        ),
        (
            "observer_packets_skipped",
            "Captured packets not looked at because of the observer's packet rate cap",
            get(&s.skipped_rate),
        ),
        (
            "observer_connections_skipped",
            "Connections not followed because the observer's connection table was full",
            get(&s.skipped_table_full),
        ),
        (
            "observer_connections_not_probes",
            "Connections from the LB's source networks that were not probes (client traffic)",
            get(&s.not_probes),
        ),
        (
            "observer_probes",
            "The real LB's probes the observer followed to their outcome",
            get(&s.probes),
        ),
        (
            "observer_probes_unmapped",
            "Observed probes of an address and port that is none of this node's LB backends",
            get(&s.unmapped),
        ),
        (
            "observer_results_dropped",
            "Observed results the daemon had no room for",
            get(&s.dropped),
        ),
    ]
}

impl super::Daemon {
    /// The backend and, while observing, its twin.
    pub(super) fn with_twin(&self, id: BackendId) -> Vec<BackendId> {
        let twin = self.twins.as_ref().and_then(|t| t.twin(id)).map(|t| t.id);
        std::iter::once(id).chain(twin).collect()
    }

    /// An event of the observer: its results take the emulated results' path.
    pub(super) fn observed(&mut self, event: &Event) {
        if let Event::Result(result) = event
            && let Some(record) = record(result, Instant::now(), SystemTime::now())
        {
            self.result(&record);
        }
    }
}

#[cfg(test)]
mod tests;
