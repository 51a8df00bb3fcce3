//! Following the real LB's probe connections, packet by packet, to their outcome. Pure: packets
//! and times in, finished probes out.
//!
//! A connection starts with the LB's SYN and ends with the first of: an HTTP status line from
//! the node (`HttpStatus`), an RST from the node (`Refused` before the handshake, `Reset` after),
//! the LB closing (FIN or RST: a TCP probe that connected, or an HTTP probe the LB gave up on),
//! or no end within the probe timeout (`Timeout` in the phase it had reached).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant, SystemTime};

use pnet_packet::tcp::TcpFlags;

use crate::lb::outcome::{Outcome, Phase};
use crate::probe::Timings;
use crate::probe::syn::packet::Segment;

/// What identifies the LB's probes among the traffic from its source addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources {
    /// Networks the LB's packets come from (168.63.129.16/32; an ALB's subnets).
    pub nets: Vec<(Ipv4Addr, u8)>,
    /// Addresses that send nothing but probes (Azure's 168.63.129.16): every connection from them
    /// is a probe. From the other sources (an ALB's subnets, which also carry client traffic) a
    /// connection is a probe when its request says `User-Agent: ELB-HealthChecker/...` or when
    /// it carries no data at all (a TCP health check).
    pub probe_only: Vec<Ipv4Addr>,
}

impl Sources {
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.nets.iter().any(|(net, len)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
            addr.to_bits() & mask == net.to_bits() & mask
        })
    }
}

/// The User-Agent of AWS load balancers' HTTP health checks.
pub const ELB_USER_AGENT_PREFIX: &str = "ELB-HealthChecker/";

/// One probe the LB sent, as the node answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub lb: SocketAddrV4,
    /// The node address and port the LB probed.
    pub node: SocketAddrV4,
    pub started_at: SystemTime,
    pub outcome: Outcome,
    pub timings: Timings,
    pub user_agent: Option<String>,
}

#[derive(Debug)]
struct Conn {
    started: Instant,
    wall: SystemTime,
    syn_ack: Option<Instant>,
    /// The LB sent data (an HTTP request, or TLS).
    data: bool,
    http_request: bool,
    user_agent: Option<String>,
}

/// What [`Tracker::packet`] did with a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to report (yet).
    None,
    /// A probe finished.
    Probe(Observed),
    /// A connection ended that was not a probe (client traffic through an ALB).
    NotProbe,
    /// A new connection was not followed: the table is full.
    TableFull,
}

/// The connections being followed, at most `max` at once.
#[derive(Debug)]
pub struct Tracker {
    sources: Sources,
    max: usize,
    timeout: Duration,
    conns: HashMap<(SocketAddrV4, SocketAddrV4), Conn>,
}

impl Tracker {
    pub fn new(sources: Sources, max: usize, timeout: Duration) -> Tracker {
        Tracker {
            sources,
            max,
            timeout,
            conns: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Takes one segment seen at `at` (`wall` is the same moment on the wall clock).
    pub fn packet(&mut self, seg: &Segment<'_>, at: Instant, wall: SystemTime) -> Step {
        let src = SocketAddrV4::new(seg.src, seg.sport);
        let dst = SocketAddrV4::new(seg.dst, seg.dport);
        // A followed connection says which side is the LB: the node's own address may be inside
        // the LB's networks too (an NLB in the nodes' subnets), so the source network alone
        // cannot tell the node's answers from the LB's packets. Every followed connection began
        // with a packet from the LB's networks, so the rest are the LB's.
        if self.conns.contains_key(&(dst, src)) {
            self.on_node_segment((dst, src), seg, at)
        } else if self.sources.contains(seg.src) {
            self.on_lb_segment((src, dst), seg, at, wall)
        } else {
            Step::None
        }
    }

    fn on_lb_segment(
        &mut self,
        key: (SocketAddrV4, SocketAddrV4),
        seg: &Segment<'_>,
        at: Instant,
        wall: SystemTime,
    ) -> Step {
        if seg.has(TcpFlags::SYN) && !seg.has(TcpFlags::ACK) {
            // A retransmitted SYN keeps the first one's start.
            if !self.conns.contains_key(&key) {
                if self.conns.len() >= self.max {
                    return Step::TableFull;
                }
                self.conns.insert(
                    key,
                    Conn {
                        started: at,
                        wall,
                        syn_ack: None,
                        data: false,
                        http_request: false,
                        user_agent: None,
                    },
                );
            }
            return Step::None;
        }
        let Some(conn) = self.conns.get_mut(&key) else {
            return Step::None;
        };
        if !seg.payload.is_empty() && !conn.data {
            conn.data = true;
            if let Some(ua) = http_request_user_agent(seg.payload) {
                conn.http_request = true;
                conn.user_agent = ua;
            }
        }
        if seg.has(TcpFlags::FIN) || seg.has(TcpFlags::RST) {
            let outcome = match (conn.syn_ack, conn.http_request) {
                // The LB closed before an answer came: its timeout.
                (Some(_), true) => Outcome::Timeout {
                    phase: Phase::Response,
                },
                (Some(_), false) => Outcome::Connected,
                (None, _) => Outcome::Timeout {
                    phase: Phase::Connect,
                },
            };
            return self.finish(key, outcome, at, None);
        }
        Step::None
    }

    fn on_node_segment(
        &mut self,
        key: (SocketAddrV4, SocketAddrV4),
        seg: &Segment<'_>,
        at: Instant,
    ) -> Step {
        let Some(conn) = self.conns.get_mut(&key) else {
            return Step::None;
        };
        if seg.has(TcpFlags::RST) {
            let outcome = match conn.syn_ack {
                None => Outcome::Refused,
                Some(_) => Outcome::Reset {
                    phase: Phase::Response,
                },
            };
            return self.finish(key, outcome, at, None);
        }
        if seg.has(TcpFlags::SYN | TcpFlags::ACK) && conn.syn_ack.is_none() {
            conn.syn_ack = Some(at);
        }
        if let Some(status) = http_status(seg.payload) {
            return self.finish(key, Outcome::HttpStatus(status), at, Some(at));
        }
        Step::None
    }

    /// Ends connections older than the timeout; call it every so often.
    pub fn expire(&mut self, now: Instant) -> Vec<Step> {
        let old: Vec<_> = self
            .conns
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.started) >= self.timeout)
            .map(|(k, c)| {
                let outcome = match (c.syn_ack, c.data) {
                    (None, _) => Outcome::Timeout {
                        phase: Phase::Connect,
                    },
                    (Some(_), true) => Outcome::Timeout {
                        phase: Phase::Response,
                    },
                    (Some(_), false) => Outcome::Connected,
                };
                (*k, outcome)
            })
            .collect();
        old.into_iter()
            .map(|(k, outcome)| self.finish(k, outcome, now, None))
            .collect()
    }

    fn finish(
        &mut self,
        key: (SocketAddrV4, SocketAddrV4),
        outcome: Outcome,
        at: Instant,
        first_byte: Option<Instant>,
    ) -> Step {
        let Some(conn) = self.conns.remove(&key) else {
            return Step::None;
        };
        let probe_only = self.sources.probe_only.contains(key.0.ip());
        let elb = conn
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with(ELB_USER_AGENT_PREFIX));
        if !(probe_only || elb || !conn.data) {
            return Step::NotProbe;
        }
        let since = |t: Instant| t.saturating_duration_since(conn.started);
        Step::Probe(Observed {
            lb: key.0,
            node: key.1,
            started_at: conn.wall,
            outcome,
            timings: Timings {
                connect: conn.syn_ack.map(since),
                tls: None,
                first_byte: first_byte.map(since),
                total: since(at),
            },
            user_agent: conn.user_agent,
        })
    }
}

/// `Some(user agent)` when `payload` starts an HTTP/1 request.
fn http_request_user_agent(payload: &[u8]) -> Option<Option<String>> {
    const METHODS: [&[u8]; 3] = [b"GET ", b"HEAD ", b"POST "];
    if !METHODS.iter().any(|m| payload.starts_with(m)) {
        return None;
    }
    let text = String::from_utf8_lossy(payload);
    let ua = text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("user-agent")
            .then(|| value.trim().to_owned())
    });
    Some(ua)
}

/// The status code of an HTTP/1 status line at the start of `payload`.
fn http_status(payload: &[u8]) -> Option<u16> {
    let rest = payload
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| payload.strip_prefix(b"HTTP/1.0 "))?;
    let code = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    (100..=599).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests;
