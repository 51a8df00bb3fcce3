//! The raw SYN prober: a half-open TCP probe. It sends a SYN from a raw socket; a SYN-ACK is
//! [`Outcome::Connected`], an RST [`Outcome::Refused`], silence a connect timeout, as the TCP
//! prober reports them. The prober holds no socket per probe: no TIME_WAIT, no file descriptor,
//! no ephemeral port, so it serves rates a connecting prober cannot.
//!
//! Source ports come from a dedicated range (default 61000–61511, above Linux's ephemeral range
//! 32768–60999), each held by a bound but unconnected TCP socket, so the kernel never hands one
//! to a connection of its own and no real socket shares a probe's 4-tuple. The kernel finds no
//! connection for the SYN-ACK and answers it with an RST, which is exactly the half-open close,
//! so the prober sends nothing after the SYN. (Where conntrack runs on the prober's side, each
//! probe leaves a short-lived entry that this RST closes.)
//!
//! One receive task reads the answers; the kernel filters them first ([`bpf::syn_replies`]), so it
//! wakes only for SYN-ACKs and RSTs to the range.

pub mod packet;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::lb::outcome::{LocalFailure, Outcome, Phase};
use crate::observe::bpf;
use crate::probe::{ProbeRequest, Timings, classify};
use crate::source::SocketFactory;
use packet::Answer;

/// First source port of the prober's range: just above Linux's default ephemeral range.
pub const DEFAULT_FIRST_PORT: u16 = 61000;
/// Ports in the range: probes in flight to one target at once (each port serves every target).
pub const DEFAULT_PORT_COUNT: u16 = 512;

#[derive(Clone, Debug)]
pub struct SynConfig {
    pub first_port: u16,
    pub port_count: u16,
    /// The source address; `None`: the route's source for each target (the factory's source
    /// inside an lb-source namespace).
    pub source: Option<Ipv4Addr>,
}

impl Default for SynConfig {
    fn default() -> Self {
        SynConfig {
            first_port: DEFAULT_FIRST_PORT,
            port_count: DEFAULT_PORT_COUNT,
            source: None,
        }
    }
}

/// (target address, target port, our port).
type Key = (Ipv4Addr, u16, u16);

struct Pending {
    seq: u32,
    answer: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<HashMap<Key, Pending>>,
    /// Answers that matched no probe (late, or for a probe already timed out).
    unmatched: AtomicU64,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A raw SYN prober; probes go through [`crate::probe::probe`] with
/// [`crate::probe::ProbeSource::Syn`]. Dropping it stops its receive task.
pub struct SynProber {
    /// The raw socket, driven through tokio's datagram socket type (`recv` and `send_to` are
    /// the same system calls on a raw socket), which needs no unsafe registration.
    raw: Arc<UdpSocket>,
    shared: Arc<Shared>,
    ports: Vec<u16>,
    next_port: AtomicUsize,
    seq: AtomicU32,
    source: Option<Ipv4Addr>,
    routes: Mutex<HashMap<Ipv4Addr, Ipv4Addr>>,
    factory: Option<Arc<SocketFactory>>,
    _reserved: Vec<Socket>,
    receiver: JoinHandle<()>,
}

impl std::fmt::Debug for SynProber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SynProber")
            .field("ports", &self.ports.len())
            .field("source", &self.source)
            .field("namespace", &self.factory.as_ref().map(|f| f.name()))
            .finish_non_exhaustive()
    }
}

impl Drop for SynProber {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

impl SynProber {
    /// Opens the raw socket (inside `factory`'s namespace if given) and reserves the port range;
    /// needs a tokio runtime and CAP_NET_RAW.
    pub fn new(config: SynConfig, factory: Option<Arc<SocketFactory>>) -> Result<SynProber> {
        crate::source::caps::require("syn", &crate::source::caps::SYN)?;
        let last = config
            .first_port
            .checked_add(config.port_count.saturating_sub(1))
            .filter(|_| config.port_count > 0 && config.first_port > 0)
            .ok_or_else(|| Error::SourceConfig {
                field: "syn ports".into(),
                value: format!("{}+{}", config.first_port, config.port_count),
                message: "the range must be non-empty and end at 65535 at most".into(),
            })?;
        let where_ = factory.as_ref().map_or("the node", |f| f.name()).to_owned();
        let make = |domain, ty, proto| match &factory {
            None => Socket::new(domain, ty, proto),
            Some(f) => f.socket(domain, ty, proto),
        };
        let socket_err = |what: &str| {
            let what = format!("{what} in {where_}");
            move |source| Error::Socket { what, source }
        };
        let raw = make(Domain::IPV4, Type::RAW.nonblocking(), Some(Protocol::TCP))
            .map_err(socket_err("raw TCP socket (needs CAP_NET_RAW)"))?;
        bpf::attach(&raw, &bpf::syn_replies(config.first_port, last))
            .map_err(socket_err("filter on the raw TCP socket"))?;
        let mut reserved = Vec::new();
        let mut ports = Vec::new();
        for port in config.first_port..=last {
            let s = make(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
                .map_err(socket_err("port reservation socket"))?;
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
            // A port some service already holds stays its own.
            if s.bind(&SockAddr::from(addr)).is_ok() {
                reserved.push(s);
                ports.push(port);
            }
        }
        if ports.is_empty() {
            return Err(Error::SourceConfig {
                field: "syn ports".into(),
                value: format!("{}-{last}", config.first_port),
                message: format!("every port of the range is in use in {where_}"),
            });
        }
        let raw = Arc::new(
            UdpSocket::from_std(raw.into()).map_err(socket_err("registering the raw socket"))?,
        );
        let shared = Arc::new(Shared::default());
        let receiver = tokio::spawn(receive(raw.clone(), shared.clone()));
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        Ok(SynProber {
            raw,
            shared,
            ports,
            next_port: AtomicUsize::new(0),
            seq: AtomicU32::new(seed),
            source: config.source.or(factory.as_ref().and_then(|f| f.source())),
            routes: Mutex::new(HashMap::new()),
            factory,
            _reserved: reserved,
            receiver,
        })
    }

    /// The namespace the prober sends from, if not the node's.
    pub fn factory(&self) -> Option<&SocketFactory> {
        self.factory.as_deref()
    }

    /// Answers that matched no probe in flight (late ones).
    pub fn unmatched(&self) -> u64 {
        self.shared.unmatched.load(Ordering::Relaxed)
    }

    /// The source ports the prober holds.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// One half-open probe of `req.addr` (IPv4 only).
    pub async fn probe(
        &self,
        req: &ProbeRequest,
        deadline: Instant,
        timings: &mut Timings,
    ) -> Outcome {
        let start = Instant::now();
        let SocketAddr::V4(target) = req.addr else {
            return Outcome::Local(LocalFailure::Other);
        };
        let source = match req.bind {
            Some(SocketAddr::V4(b)) => *b.ip(),
            _ => match self.source_for(*target.ip()) {
                Ok(s) => s,
                Err(e) => return classify::io_error(&e, Phase::Connect),
            },
        };
        let (key, seq, answer) = match self.reserve(target) {
            Some(r) => r,
            None => return Outcome::Local(LocalFailure::EphemeralPortsExhausted),
        };
        // Removes the entry however the probe ends, also when its future is dropped.
        let _guard = PendingGuard {
            shared: &self.shared,
            key,
        };
        let segment = packet::syn(source, key.2, *target.ip(), target.port(), seq);
        let to = SocketAddr::from((*target.ip(), 0));
        if let Err(e) = self.raw.send_to(&segment, to).await {
            return classify::io_error(&e, Phase::Connect);
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(Answer::SynAck)) => {
                timings.connect = Some(start.elapsed());
                Outcome::Connected
            }
            Ok(Ok(Answer::Rst)) => Outcome::Refused,
            Ok(Err(_closed)) => Outcome::Local(LocalFailure::Cancelled),
            Err(_elapsed) => Outcome::Timeout {
                phase: Phase::Connect,
            },
        }
    }

    /// A free source port for `target` and a fresh sequence number, registered as pending.
    fn reserve(&self, target: SocketAddrV4) -> Option<(Key, u32, oneshot::Receiver<Answer>)> {
        let mut pending = self.shared.pending();
        for _ in 0..self.ports.len() {
            let i = self.next_port.fetch_add(1, Ordering::Relaxed) % self.ports.len();
            let key = (*target.ip(), target.port(), self.ports[i]);
            if pending.contains_key(&key) {
                continue;
            }
            let seq = self.seq.fetch_add(0x9e37_79b9, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            pending.insert(key, Pending { seq, answer: tx });
            return Some((key, seq, rx));
        }
        None
    }

    /// The address the route to `target` leaves from (a connected UDP socket tells, no packet
    /// sent), cached per target.
    fn source_for(&self, target: Ipv4Addr) -> io::Result<Ipv4Addr> {
        if let Some(s) = self.source {
            return Ok(s);
        }
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = routes.get(&target) {
            return Ok(*s);
        }
        let udp = match &self.factory {
            None => Socket::new(Domain::IPV4, Type::DGRAM, None)?,
            Some(f) => f.socket(Domain::IPV4, Type::DGRAM, None)?,
        };
        udp.connect(&SockAddr::from(SocketAddr::from((target, 9))))?;
        let local = udp
            .local_addr()?
            .as_socket_ipv4()
            .map(|a| *a.ip())
            .ok_or_else(|| io::Error::other("no IPv4 source address"))?;
        routes.insert(target, local);
        Ok(local)
    }
}

struct PendingGuard<'a> {
    shared: &'a Shared,
    key: Key,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.pending().remove(&self.key);
    }
}

/// Reads answers off the raw socket and hands each to its probe.
async fn receive(raw: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = [0u8; bpf::SYN_REPLY_SNAPLEN as usize];
    loop {
        let n = match raw.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "raw SYN socket read failed");
                continue;
            }
        };
        let Some(seg) = packet::parse_ipv4(&buf[..n]) else {
            continue;
        };
        let key = (seg.src, seg.sport, seg.dport);
        let mut pending = shared.pending();
        let answered = pending.get(&key).and_then(|p| seg.answers(p.seq));
        match answered.and_then(|a| pending.remove(&key).map(|p| (a, p))) {
            Some((answer, p)) => {
                let _ = p.answer.send(answer);
            }
            None => {
                shared.unmatched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
