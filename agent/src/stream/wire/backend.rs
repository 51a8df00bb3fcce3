//! Backends, removals, transitions and lifecycle events: the rare events, one message each.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use crate::event::{Backend, BackendKey, Lifecycle, SpecVersion, StateChange};
use crate::lb::matcher::Matcher;
use crate::model::{ObjectRef, ProbePort, ProbeSpec, TlsRange, WireDetails};

use super::enums::*;
use super::error::{Error, Result};
use super::time::{from_ns, to_ns};
use probesim_proto::v1;

pub fn backend_to_wire(b: &Backend) -> v1::Backend {
    let k = &b.key;
    v1::Backend {
        id: b.id,
        lb: lb_to_wire(k.lb),
        object: Some(object_to_wire(&k.object)),
        service: Some(object_to_wire(&k.service)),
        port: k.port,
        node: k.node.clone(),
        target: k.target.to_string(),
        target_kind: target_kind_to_wire(k.target_kind),
        pod: k.pod.clone(),
        hop: hop_to_wire(k.hop),
        source: source_to_wire(k.source),
        version: Some(v1::SpecVersion {
            version: k.version.version.clone(),
            what_if: k.version.what_if,
        }),
        spec: Some(spec_to_wire(&b.spec)),
        probers: b.probers,
        also_for: b.also_for.clone(),
    }
}

/// `field` names the backend, e.g. `batch.backends[3]`.
pub fn backend_from_wire(w: &v1::Backend, field: &str) -> Result<Backend> {
    let f = |name: &str| format!("{field}.{name}");
    let target: SocketAddr = w
        .target
        .parse()
        .map_err(|_| Error::invalid(f("target"), &w.target, "not an address:port"))?;
    let version = w
        .version
        .as_ref()
        .ok_or_else(|| Error::missing(f("version")))?;
    let spec = w.spec.as_ref().ok_or_else(|| Error::missing(f("spec")))?;
    let key = BackendKey {
        lb: lb_from_wire(w.lb, || f("lb"))?,
        object: object_from_wire(w.object.as_ref(), &f("object"))?,
        service: object_from_wire(w.service.as_ref(), &f("service"))?,
        port: w.port,
        node: w.node.clone(),
        target,
        target_kind: target_kind_from_wire(w.target_kind, || f("target_kind"))?,
        pod: w.pod.clone(),
        hop: hop_from_wire(w.hop, || f("hop"))?,
        source: source_from_wire(w.source, || f("source"))?,
        version: SpecVersion {
            version: version.version.clone(),
            what_if: version.what_if,
        },
    };
    Ok(Backend {
        id: w.id,
        key,
        spec: Arc::new(spec_from_wire(spec, &f("spec"))?),
        probers: w.probers,
        also_for: w.also_for.clone(),
    })
}

fn object_to_wire(o: &ObjectRef) -> v1::ObjectRef {
    v1::ObjectRef {
        kind: o.kind.clone(),
        namespace: o.namespace.clone(),
        name: o.name.clone(),
    }
}

fn object_from_wire(o: Option<&v1::ObjectRef>, field: &str) -> Result<ObjectRef> {
    let o = o.ok_or_else(|| Error::missing(field))?;
    Ok(ObjectRef::new(&o.kind, &o.namespace, &o.name))
}

fn spec_to_wire(s: &ProbeSpec) -> v1::ProbeSpec {
    use v1::probe_port::Port;
    let port = match s.port {
        ProbePort::TrafficPort => Port::TrafficPort(true),
        ProbePort::Number(n) => Port::Number(u32::from(n)),
        ProbePort::HealthCheckNodePort => Port::HealthCheckNodePort(true),
    };
    v1::ProbeSpec {
        lb: lb_to_wire(s.lb),
        protocol: protocol_to_wire(s.protocol),
        port: Some(v1::ProbePort { port: Some(port) }),
        path: s.path.clone(),
        interval_s: s.interval_s,
        timeout_s: s.timeout_s,
        healthy_threshold: s.healthy_threshold,
        unhealthy_threshold: s.unhealthy_threshold,
        matcher: s.matcher.as_ref().map(|m| v1::Matcher {
            kind: matcher_kind_to_wire(m.kind()),
            text: m.as_str().to_owned(),
        }),
        target: target_kind_to_wire(s.target),
        wire: Some(v1::WireDetails {
            user_agent: s.wire.user_agent.clone(),
            http_version: http_version_to_wire(s.wire.http_version),
            close: close_to_wire(s.wire.close),
            tls_min: tls_to_wire(s.wire.tls.min),
            tls_max: tls_to_wire(s.wire.tls.max),
        }),
        deregistration_delay_s: s.deregistration_delay_s,
    }
}

fn spec_from_wire(s: &v1::ProbeSpec, field: &str) -> Result<ProbeSpec> {
    use v1::probe_port::Port;
    let f = |name: &str| format!("{field}.{name}");
    let port = match s.port.as_ref().and_then(|p| p.port) {
        Some(Port::TrafficPort(_)) => ProbePort::TrafficPort,
        Some(Port::HealthCheckNodePort(_)) => ProbePort::HealthCheckNodePort,
        Some(Port::Number(n)) => ProbePort::Number(
            u16::try_from(n).map_err(|_| Error::invalid(f("port.number"), n, "not a port"))?,
        ),
        None => return Err(Error::missing(f("port"))),
    };
    let matcher = match &s.matcher {
        None => None,
        Some(m) => {
            let kind = matcher_kind_from_wire(m.kind, || f("matcher.kind"))?;
            Some(
                Matcher::parse(kind, &m.text, 0..=u16::MAX)
                    .map_err(|e| Error::invalid(f("matcher.text"), &m.text, e.to_string()))?,
            )
        }
    };
    let wire = s.wire.as_ref().ok_or_else(|| Error::missing(f("wire")))?;
    Ok(ProbeSpec {
        lb: lb_from_wire(s.lb, || f("lb"))?,
        protocol: protocol_from_wire(s.protocol, || f("protocol"))?,
        port,
        path: s.path.clone(),
        interval_s: s.interval_s,
        timeout_s: s.timeout_s,
        healthy_threshold: s.healthy_threshold,
        unhealthy_threshold: s.unhealthy_threshold,
        matcher,
        target: target_kind_from_wire(s.target, || f("target"))?,
        wire: WireDetails {
            user_agent: wire.user_agent.clone(),
            http_version: http_version_from_wire(wire.http_version, || f("wire.http_version"))?,
            close: close_from_wire(wire.close, || f("wire.close"))?,
            tls: TlsRange {
                min: tls_from_wire(wire.tls_min, || f("wire.tls_min"))?,
                max: tls_from_wire(wire.tls_max, || f("wire.tls_max"))?,
            },
        },
        deregistration_delay_s: s.deregistration_delay_s,
    })
}

pub fn removed_to_wire(id: u64, at: SystemTime) -> v1::BackendRemoved {
    v1::BackendRemoved {
        id,
        at_ns: to_ns(at),
    }
}

pub fn transition_to_wire(c: &StateChange) -> v1::Transition {
    let (reason, reason_status) = match c.reason {
        Some(r) => {
            let (w, s) = reason_to_wire(r);
            (w as i32, s.unwrap_or(0))
        }
        None => (v1::Reason::Unspecified as i32, 0),
    };
    v1::Transition {
        backend: c.backend,
        prober: c.prober,
        from: state_to_wire(c.from),
        to: state_to_wire(c.to),
        reason,
        reason_status,
        at_ns: to_ns(c.at),
    }
}

pub fn transition_from_wire(w: &v1::Transition, field: &str) -> Result<StateChange> {
    let f = |name: &str| format!("{field}.{name}");
    let reason = if w.reason == v1::Reason::Unspecified as i32 {
        None
    } else {
        Some(reason_from_wire(
            w.reason,
            || f("reason"),
            || Ok(w.reason_status),
        )?)
    };
    Ok(StateChange {
        backend: w.backend,
        prober: w.prober,
        from: state_from_wire(w.from, || f("from"))?,
        to: state_from_wire(w.to, || f("to"))?,
        reason,
        at: from_ns(w.at_ns),
    })
}

pub fn lifecycle_to_wire(l: &Lifecycle) -> v1::Lifecycle {
    v1::Lifecycle {
        kind: lifecycle_kind_to_wire(l.kind.clone()),
        object: Some(object_to_wire(&l.object)),
        node: l.node.clone(),
        address: l.address.map(|a| a.to_string()),
        object_time_ns: l.object_time.map(to_ns),
        seen_at_ns: to_ns(l.seen_at),
        detail: l
            .detail
            .iter()
            .map(|(key, value)| v1::Detail {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}

pub fn lifecycle_from_wire(w: &v1::Lifecycle, field: &str) -> Result<Lifecycle> {
    let f = |name: &str| format!("{field}.{name}");
    let address = match &w.address {
        None => None,
        Some(a) => Some(
            a.parse::<IpAddr>()
                .map_err(|_| Error::invalid(f("address"), a, "not an IP address"))?,
        ),
    };
    Ok(Lifecycle {
        kind: lifecycle_kind_from_wire(w.kind, || f("kind"))?,
        object: object_from_wire(w.object.as_ref(), &f("object"))?,
        node: w.node.clone(),
        address,
        object_time: w.object_time_ns.map(from_ns),
        seen_at: from_ns(w.seen_at_ns),
        detail: w
            .detail
            .iter()
            .map(|d| (d.key.clone(), d.value.clone()))
            .collect(),
    })
}
