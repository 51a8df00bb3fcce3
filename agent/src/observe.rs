//! The passive observer: the real LB's probes, seen arriving at the node, reported as
//! [`SourceMode::Observed`](crate::event::SourceMode::Observed) results beside the emulated ones,
//! so that what probesim predicts can be compared with what the cloud actually got.
//!
//! An `AF_PACKET` socket captures on the node's interfaces; a BPF filter attached to it
//! ([`bpf::lb_traffic`]) lets through only TCP from or to the LB's source networks on those
//! interfaces, so the kernel drops everything else before it is copied. Above
//! [`ObserverConfig::max_packets_per_s`] packets are skipped and counted; at most
//! [`ObserverConfig::max_connections`] connections are followed at once ([`track::Tracker`]).

pub mod bpf;
pub mod track;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::event::{BackendId, Event, ProbeResult};
use crate::lb::verdict::judge;
use crate::model::ProbeSpec;
use crate::netns;
use crate::probe::Measurement;
use crate::probe::syn::packet;
use track::{Step, Tracker};

pub use track::Observed;

pub use track::Sources;

/// Packets handled per second before the rest are skipped: the LB's probes come at most a few
/// per second per backend, so 20 000 leaves room for thousands of backends while bounding the
/// CPU a flood from a source address can take.
pub const DEFAULT_MAX_PACKETS_PER_S: u32 = 20_000;
/// Connections followed at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// A connection with no end after this long is reported as a timeout: the longest probe timeout
/// the clouds allow (ALB: 120 s) would hold entries too long; 60 s covers every default.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of each packet copied: headers, an HTTP request line with its headers, a status line.
pub const DEFAULT_SNAPLEN: u32 = 2048;
/// How often connections are checked for expiry.
const EXPIRE_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct ObserverConfig {
    /// Interfaces to watch (the node's uplink: where the LB's probes arrive and the answers
    /// leave); empty watches all.
    pub interfaces: Vec<String>,
    pub sources: Sources,
    pub max_packets_per_s: u32,
    pub max_connections: usize,
    pub probe_timeout: Duration,
    pub snaplen: u32,
}

impl ObserverConfig {
    /// Azure: every connection from 168.63.129.16 is a probe.
    pub fn azure(interfaces: Vec<String>) -> ObserverConfig {
        let source = crate::source::AZURE_PROBE_SOURCE;
        ObserverConfig::new(
            interfaces,
            Sources {
                nets: vec![(source, 32)],
                probe_only: vec![source],
            },
        )
    }

    pub fn new(interfaces: Vec<String>, sources: Sources) -> ObserverConfig {
        ObserverConfig {
            interfaces,
            sources,
            max_packets_per_s: DEFAULT_MAX_PACKETS_PER_S,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            snaplen: DEFAULT_SNAPLEN,
        }
    }
}

/// Which backend an observed probe belongs to, by the address and port the LB probed. The daemon
/// fills it as it declares its [`SourceMode::Observed`](crate::event::SourceMode) backends.
#[derive(Debug, Default)]
pub struct BackendMap {
    map: RwLock<HashMap<SocketAddr, (BackendId, Arc<ProbeSpec>)>>,
}

impl BackendMap {
    pub fn insert(&self, addr: SocketAddr, id: BackendId, spec: Arc<ProbeSpec>) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(addr, (id, spec));
    }

    pub fn remove(&self, addr: &SocketAddr) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(addr);
    }

    pub fn get(&self, addr: &SocketAddr) -> Option<(BackendId, Arc<ProbeSpec>)> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(addr)
            .cloned()
    }
}

/// What the observer did, for metrics.
#[derive(Debug, Default)]
pub struct ObserverStats {
    pub packets: AtomicU64,
    /// Skipped over the packet rate cap.
    pub skipped_rate: AtomicU64,
    /// New connections not followed: the table was full.
    pub skipped_table_full: AtomicU64,
    pub probes: AtomicU64,
    /// Probes to an address no backend is mapped to.
    pub unmapped: AtomicU64,
    /// Connections from a source network that were not probes.
    pub not_probes: AtomicU64,
    /// Results the consumer had no room for.
    pub dropped: AtomicU64,
}

/// A running observer; dropping it stops the capture.
#[derive(Debug)]
pub struct Observer {
    stats: Arc<ObserverStats>,
    task: JoinHandle<()>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Observer {
    /// Starts capturing in the calling thread's namespace (needs CAP_NET_RAW and a tokio
    /// runtime). Results go to `events` as [`Event::Result`]; a full channel drops and counts.
    pub fn start(
        config: ObserverConfig,
        backends: Arc<BackendMap>,
        events: mpsc::Sender<Event>,
    ) -> Result<Observer> {
        let mut ifindexes = Vec::new();
        for name in &config.interfaces {
            ifindexes.push(ifindex(name)?);
        }
        let nets: Vec<bpf::Net> = config
            .sources
            .nets
            .iter()
            .map(|(net, len)| {
                (
                    net.to_bits(),
                    u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0),
                )
            })
            .collect();
        let prog = bpf::lb_traffic(&ifindexes, &nets, config.snaplen).ok_or_else(|| {
            Error::SourceConfig {
                field: "observer".into(),
                value: format!(
                    "{} interfaces, {} source networks",
                    ifindexes.len(),
                    nets.len()
                ),
                message: "too many for one capture filter".into(),
            }
        })?;
        let socket_err = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Socket { what, source }
        };
        // ETH_P_ALL in network byte order: every protocol, both directions.
        let all = i32::from((libc::ETH_P_ALL as u16).to_be());
        let socket = Socket::new(
            Domain::PACKET,
            Type::RAW.nonblocking(),
            Some(Protocol::from(all)),
        )
        .map_err(socket_err(
            "packet socket for the observer (needs CAP_NET_RAW)",
        ))?;
        bpf::attach(&socket, &prog).map_err(socket_err("capture filter of the observer"))?;
        // Driven as a datagram socket (`recv` is the same system call on a packet socket),
        // which tokio registers without unsafe code.
        let fd = UdpSocket::from_std(socket.into())
            .map_err(socket_err("registering the capture socket"))?;
        let stats = Arc::new(ObserverStats::default());
        let tracker = Tracker::new(
            config.sources.clone(),
            config.max_connections,
            config.probe_timeout,
        );
        let run = Run {
            fd,
            tracker,
            backends,
            events,
            stats: stats.clone(),
            config,
        };
        Ok(Observer {
            stats,
            task: tokio::spawn(run.run()),
        })
    }

    pub fn stats(&self) -> &ObserverStats {
        &self.stats
    }

    /// The counters, to be read while the observer runs (`/metrics`).
    pub fn shared_stats(&self) -> Arc<ObserverStats> {
        self.stats.clone()
    }
}

/// The interfaces of the calling thread's namespace that carry a default route: where an LB's
/// probes arrive on a node.
pub fn uplinks() -> Result<Vec<String>> {
    let out = netns::run("ip", &["-o", "-4", "route", "show", "default"]).map_err(|source| {
        Error::SourceSetup {
            namespace: "host".into(),
            step: "find the default route's interface".into(),
            source,
        }
    })?;
    Ok(route_devices(&out))
}

/// The `dev` of every route line, each once, in order.
fn route_devices(routes: &str) -> Vec<String> {
    let mut devices: Vec<String> = Vec::new();
    for line in routes.lines() {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "dev"
                && let Some(dev) = words.next().filter(|d| !devices.iter().any(|x| x == d))
            {
                devices.push(dev.to_owned());
            }
        }
    }
    devices
}

/// The interface index of `name` in the calling thread's namespace (asking `ip`, which runs in
/// that namespace, unlike `/sys/class/net`, which shows the mount's).
fn ifindex(name: &str) -> Result<u32> {
    let out = netns::run("ip", &["-o", "link", "show", "dev", name]).map_err(|source| {
        Error::SourceSetup {
            namespace: "host".into(),
            step: format!("find interface {name}"),
            source,
        }
    })?;
    out.split(':')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| Error::SourceConfig {
            field: "observer interface".into(),
            value: name.to_owned(),
            message: format!("`ip link show` said {out:?}"),
        })
}

/// At most `per_s` packets in each one-second window; the rest are skipped (and counted by the
/// caller), so a flood costs a read and a comparison per packet, not a parse.
#[derive(Debug)]
struct RateCap {
    per_s: u32,
    window: std::time::Instant,
    seen: u32,
}

impl RateCap {
    fn new(per_s: u32, now: std::time::Instant) -> RateCap {
        RateCap {
            per_s,
            window: now,
            seen: 0,
        }
    }

    fn admit(&mut self, now: std::time::Instant) -> bool {
        if now.saturating_duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.seen = 0;
        }
        self.seen = self.seen.saturating_add(1);
        self.seen <= self.per_s
    }
}

struct Run {
    fd: UdpSocket,
    tracker: Tracker,
    backends: Arc<BackendMap>,
    events: mpsc::Sender<Event>,
    stats: Arc<ObserverStats>,
    config: ObserverConfig,
}

impl Run {
    async fn run(mut self) {
        let mut buf = vec![0u8; self.config.snaplen as usize];
        let mut expire = tokio::time::interval(EXPIRE_EVERY);
        let mut cap = RateCap::new(self.config.max_packets_per_s, std::time::Instant::now());
        loop {
            tokio::select! {
                _ = expire.tick() => {
                    for step in self.tracker.expire(std::time::Instant::now()) {
                        self.report(step);
                    }
                }
                received = self.fd.recv(&mut buf) => {
                    let n = match received {
                        Ok(n) => n,
                        Err(e) => {
                            tracing::debug!(error = %e, "capture read failed");
                            continue;
                        }
                    };
                    self.stats.packets.fetch_add(1, Ordering::Relaxed);
                    let now = std::time::Instant::now();
                    if !cap.admit(now) {
                        self.stats.skipped_rate.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Some(seg) = packet::parse_ethernet(&buf[..n]) {
                        let step = self.tracker.packet(&seg, now, SystemTime::now());
                        self.report(step);
                    }
                }
            }
        }
    }

    fn report(&self, step: Step) {
        let counter = match step {
            Step::None => return,
            Step::TableFull => &self.stats.skipped_table_full,
            Step::NotProbe => &self.stats.not_probes,
            Step::Probe(observed) => return self.result(observed),
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn result(&self, o: Observed) {
        self.stats.probes.fetch_add(1, Ordering::Relaxed);
        let Some((backend, spec)) = self.backends.get(&SocketAddr::V4(o.node)) else {
            self.stats.unmapped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let result = ProbeResult {
            backend,
            prober: 0,
            started_at: o.started_at,
            lateness: Duration::ZERO,
            measurement: Measurement {
                outcome: o.outcome,
                timings: o.timings,
            },
            verdict: judge(&spec, &o.outcome),
        };
        if self.events.try_send(Event::Result(result)).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_cap_admits_its_quota_per_second_and_starts_over_in_the_next() {
        let t0 = std::time::Instant::now();
        let mut cap = RateCap::new(3, t0);
        let admitted: Vec<bool> = (0..5).map(|_| cap.admit(t0)).collect();
        assert_eq!(admitted, [true, true, true, false, false]);
        assert!(cap.admit(t0 + Duration::from_millis(1000)));
        assert!(cap.admit(t0 + Duration::from_millis(1001)));
    }

    #[test]
    fn uplinks_are_the_devices_of_the_default_routes() {
        let routes = "default via 10.224.0.1 dev eth0 proto dhcp src 10.224.0.4 metric 100\n\
                      default via 10.1.0.1 dev eth1 metric 200\ndefault dev eth0 scope link\n";
        assert_eq!(
            route_devices(routes),
            vec!["eth0".to_owned(), "eth1".to_owned()]
        );
        assert!(route_devices("").is_empty());
    }

    #[test]
    fn the_backend_map_follows_inserts_and_removals() {
        let map = BackendMap::default();
        let addr: SocketAddr = "10.224.0.4:30080".parse().unwrap();
        let spec = crate::lb::manual::spec(
            crate::model::LbKind::AzureLb,
            &crate::lb::manual::ManualProbe {
                port: 30080,
                ..Default::default()
            },
        )
        .unwrap();
        map.insert(addr, 7, Arc::new(spec));
        assert_eq!(map.get(&addr).map(|(id, _)| id), Some(7));
        map.remove(&addr);
        assert!(map.get(&addr).is_none());
    }
}
