//! One probe of spec/azure-lb.md section 3: the per-port probe (`perPort()`), the node probes
//! (externalTrafficPolicy Local, shared mode) and `intervalAndThreshold()`.

mod legacy;
mod timing;

use k8s_openapi::api::core::v1::ServicePort;

use super::annotations::{self as keys, ProbeParam, equal_fold, parse_go_int, port_probe_key};
use super::{Derivation, Sku, warnings};
use crate::model::{LbKind, ProbePort, ProbeProtocol, ProbeSpec, TargetKind, WireDetails};

/// cloud-provider-azure's default probe interval (`HealthProbeDefaultProbeInterval`).
pub const DEFAULT_INTERVAL_S: u32 = 5;
/// cloud-provider-azure's default probe threshold (`HealthProbeDefaultNumOfProbe`).
pub const DEFAULT_THRESHOLD: u32 = 2;
/// The smallest interval cloud-provider-azure accepts (Azure's minimum).
pub const MIN_INTERVAL_S: i32 = 5;
/// The smallest threshold cloud-provider-azure accepts.
pub const MIN_THRESHOLD: i32 = 2;
/// interval x threshold must stay below this (Azure's limit, checked by cloud-provider-azure).
pub const MAX_TOTAL_S: i64 = 120;
/// From this interval x threshold on, a warning says the limit is near.
pub const NEAR_TOTAL_S: i64 = 100;
/// Azure's HTTP(S) probe timeout is `min(interval, 30 s)` (spec/azure-lb.md section 1).
pub const MAX_HTTP_TIMEOUT_S: u32 = 30;
/// Path of kube-proxy's health servers.
pub const KUBE_PROXY_HEALTH_PATH: &str = "/healthz";
/// kube-proxy's own health port, probed by every rule in shared mode.
pub const SHARED_PROBE_PORT: u16 = 10256;
/// Ports Azure does not allow HTTP(S) probes on (spec/azure-lb.md section 1).
pub const FORBIDDEN_HTTP_PROBE_PORTS: [u16; 9] = [19, 21, 25, 70, 110, 119, 143, 220, 993];

/// How long one Azure probe may take: `min(interval, 30)` for Http/Https, the interval for Tcp.
pub fn probe_timeout_s(protocol: ProbeProtocol, interval_s: u32) -> u32 {
    if protocol.is_http_like() {
        interval_s.min(MAX_HTTP_TIMEOUT_S)
    } else {
        interval_s
    }
}

/// Whether Azure refuses HTTP(S) probes on `port`.
pub fn is_forbidden_http_probe_port(port: u16) -> bool {
    FORBIDDEN_HTTP_PROBE_PORTS.contains(&port)
}

/// The probe Azure would run, with everything that does not vary per rule filled in.
pub fn azure_probe(
    protocol: ProbeProtocol,
    port: ProbePort,
    path: Option<String>,
    interval_s: u32,
    threshold: u32,
) -> ProbeSpec {
    ProbeSpec {
        lb: LbKind::AzureLb,
        protocol,
        port,
        path: path.filter(|_| protocol.is_http_like()),
        interval_s,
        timeout_s: probe_timeout_s(protocol, interval_s),
        healthy_threshold: threshold,
        unhealthy_threshold: threshold,
        matcher: None,
        target: TargetKind::Node,
        wire: WireDetails::for_lb(LbKind::AzureLb),
        deregistration_delay_s: None,
    }
}

/// The probe every rule shares in shared mode: kube-proxy's health server, fixed settings.
pub fn shared_probe() -> ProbeSpec {
    azure_probe(
        ProbeProtocol::Http,
        ProbePort::Number(SHARED_PROBE_PORT),
        Some(KUBE_PROXY_HEALTH_PATH.to_owned()),
        DEFAULT_INTERVAL_S,
        DEFAULT_THRESHOLD,
    )
}

/// How a Service port is named in errors and warnings.
pub(super) fn port_label(p: &ServicePort) -> String {
    match p.name.as_deref() {
        Some(name) if !name.is_empty() => format!("port {} ({name})", p.port),
        _ => format!("port {}", p.port),
    }
}

/// Where the probe protocol of a port came from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    PortAnnotation(String),
    AppProtocol,
    Global,
    Default,
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::PortAnnotation(key) => key.clone(),
            Source::AppProtocol => "appProtocol".to_owned(),
            Source::Global => keys::PROBE_PROTOCOL.to_owned(),
            Source::Default => "the default".to_owned(),
        }
    }
}

impl Derivation<'_> {
    /// The nodePort of `p`; not allocated yet in a manifest that was never applied.
    pub(super) fn node_port(&mut self, p: &ServicePort) -> ProbePort {
        match p.node_port.and_then(|n| u16::try_from(n).ok()) {
            Some(n) if n != 0 => ProbePort::Number(n),
            _ => {
                let w = warnings::node_port_unallocated(&port_label(p), self.node_ports_disabled);
                self.warn(w);
                ProbePort::TrafficPort
            }
        }
    }

    /// The externalTrafficPolicy Local probe: kube-proxy's health server for this Service.
    pub(super) fn local_probe(&mut self) -> Result<ProbeSpec, String> {
        let port = match self.hcnp {
            Some(n) => ProbePort::Number(n),
            None => {
                self.warn(warnings::health_check_node_port_unallocated());
                ProbePort::HealthCheckNodePort
            }
        };
        if !self.b.app_protocol {
            return self.legacy_local_probe(port);
        }
        let label = "externalTrafficPolicy Local probe";
        let (interval, threshold) = if self.b.local_probe_annotations {
            self.interval_and_threshold(self.hcnp.map(i32::from), label)?
        } else {
            self.warn_unread_timing(
                self.hcnp.map(i32::from),
                "v1.28.0 (v1.25.16, v1.26.12, v1.27.6) for the Local probe",
            );
            (DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD)
        };
        let probe = azure_probe(
            ProbeProtocol::Http,
            port,
            Some(KUBE_PROXY_HEALTH_PATH.to_owned()),
            interval,
            threshold,
        );
        self.check_http_port(label, &probe);
        Ok(probe)
    }

    /// `perPort(p)`: the probe of one port, `None` when the port has no probe of its own (the
    /// caller then uses the node probe, if any). `node_probe` says whether there is one.
    pub(super) fn per_port(
        &mut self,
        p: &ServicePort,
        node_probe: bool,
        shared: bool,
    ) -> Result<Option<ProbeSpec>, String> {
        if !self.b.app_protocol {
            return self.legacy_per_port(p, node_probe);
        }
        if shared || is_udp_or_sctp(p) {
            return Ok(None);
        }
        let label = port_label(p);
        let port_key = port_probe_key(p.port, ProbeParam::Port);
        if node_probe && !self.b.per_port_port_overrides_local {
            // Before v1.29 a Local Service never looks at its ports' probe settings.
            if self.b.per_port_protocol_and_rules
                && let Some(v) = self.ann.get(&port_key)
            {
                self.warn(warnings::probe_port_ignored_for_local(&label, &port_key, v));
            }
            return Ok(None);
        }
        let port = match self.probe_port_annotation(&port_key)? {
            Some(port) => port,
            None if node_probe => return Ok(None),
            None => self.node_port(p),
        };
        let protocol = self.port_protocol(p, &label);
        let (protocol, path) = self.port_path(p, &label, protocol, port);
        let (interval, threshold) = if self.b.interval_threshold_annotations {
            self.interval_and_threshold(Some(p.port), &label)
                .map_err(|e| {
                    format!(
                        "failed to parse health probe config for port {}: {e}",
                        p.port
                    )
                })?
        } else {
            (DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD)
        };
        let probe = azure_probe(protocol, port, path, interval, threshold);
        self.check_http_port(&label, &probe);
        Ok(Some(probe))
    }

    /// `port_N_health-probe_port`: a port name or a Service port number names that port's
    /// nodePort; another number from 0 to 65535 is used as is.
    fn probe_port_annotation(&mut self, key: &str) -> Result<Option<ProbePort>, String> {
        if !self.b.per_port_protocol_and_rules {
            return Ok(None);
        }
        let Some(raw) = self.ann.get(key) else {
            return Ok(None);
        };
        let ports = self.ports;
        let named = |q: &&ServicePort| q.name.as_deref().is_some_and(|n| equal_fold(n, raw));
        // cloud-provider-azure validates with Atoi (any int) and then resolves with a 32-bit
        // ParseInt; the validation already bounds the number.
        if !ports.iter().any(|q| named(&q)) {
            match parse_go_int::<i64>(raw) {
                Err(_) => {
                    return Err(format!(
                        "failed to parse annotation {key}: port {raw} not found in service"
                    ));
                }
                Ok(n) if !(0..=65535).contains(&n) => {
                    return Err(format!(
                        "failed to parse annotation {key}: port {n} is out of range"
                    ));
                }
                Ok(_) => {}
            }
        }
        let target = match parse_go_int::<i32>(raw) {
            // A name: the last port of that name, as cloud-provider-azure loops without a break.
            Err(_) => ports.iter().rev().find(named),
            Ok(n) => match ports.iter().find(|q| q.port == n) {
                Some(q) => Some(q),
                None => {
                    return u16::try_from(n)
                        .map(|n| Some(ProbePort::Number(n)))
                        .map_err(|_| {
                            format!("failed to parse annotation {key}: port {n} is out of range")
                        });
                }
            },
        };
        match target {
            Some(q) => Ok(Some(self.node_port(q))),
            None => Err(format!(
                "failed to parse annotation {key}: port {raw} not found in service"
            )),
        }
    }

    /// The probe protocol: per-port annotation, appProtocol, global annotation, Tcp.
    fn port_protocol(&mut self, p: &ServicePort, label: &str) -> (ProbeProtocol, Source) {
        let port_key = port_probe_key(p.port, ProbeParam::Protocol);
        let global = self.ann.get(keys::PROBE_PROTOCOL);
        let (raw, source) = match (
            self.ann
                .get(&port_key)
                .filter(|_| self.b.per_port_protocol_and_rules),
            p.app_protocol.as_deref(),
            global,
        ) {
            (Some(v), _, _) => (v, Source::PortAnnotation(port_key)),
            (None, Some(v), _) => (v, Source::AppProtocol),
            (None, None, Some(v)) => (v, Source::Global),
            (None, None, None) => ("Tcp", Source::Default),
        };
        let value = raw.trim();
        let protocol = if equal_fold(value, "tcp") {
            ProbeProtocol::Tcp
        } else if equal_fold(value, "http") {
            ProbeProtocol::Http
        } else if equal_fold(value, "https") {
            if self.settings.sku == Sku::Basic {
                self.warn(warnings::https_on_basic(label, &source.describe()));
                ProbeProtocol::Tcp
            } else {
                ProbeProtocol::Https
            }
        } else {
            let global_ignored = global.filter(|_| source == Source::AppProtocol);
            let w = warnings::unsupported_protocol(label, &source.describe(), raw, global_ignored);
            self.warn(w);
            ProbeProtocol::Tcp
        };
        (protocol, source)
    }

    /// The request path of an Http/Https probe, and the protocol once 1.23's Tcp fallback applied.
    fn port_path(
        &mut self,
        p: &ServicePort,
        label: &str,
        (protocol, source): (ProbeProtocol, Source),
        port: ProbePort,
    ) -> (ProbeProtocol, Option<String>) {
        let port_key = port_probe_key(p.port, ProbeParam::RequestPath);
        let annotated = self
            .ann
            .get(&port_key)
            .map(|v| (v, port_key.as_str()))
            .or_else(|| {
                self.ann
                    .get(keys::PROBE_REQUEST_PATH)
                    .map(|v| (v, keys::PROBE_REQUEST_PATH))
            });
        let app_protocol = p.app_protocol.as_deref().unwrap_or_default();
        if protocol == ProbeProtocol::Tcp {
            if let Some((_, key)) = annotated {
                self.warn(warnings::request_path_unused(label, key));
            }
            return (protocol, None);
        }
        if self.b.force_tcp_without_path && annotated.is_none() {
            let asked_by = match &source {
                Source::AppProtocol => format!("appProtocol {app_protocol:?}"),
                Source::PortAnnotation(key) => {
                    format!("{key} {:?}", self.ann.get(key).unwrap_or_default())
                }
                Source::Global => format!(
                    "{} {:?}",
                    keys::PROBE_PROTOCOL,
                    self.ann.get(keys::PROBE_PROTOCOL).unwrap_or_default()
                ),
                Source::Default => "the default".to_owned(),
            };
            self.warn(warnings::tcp_until_upgrade(
                label, p.port, &asked_by, protocol,
            ));
            return (ProbeProtocol::Tcp, None);
        }
        let path = match annotated {
            Some((v, _)) => v.to_owned(),
            None => {
                if source == Source::AppProtocol && self.b.default_http_path == "/" {
                    let w = warnings::app_protocol_probes_root(
                        label,
                        p.port,
                        app_protocol,
                        protocol,
                        port,
                    );
                    self.warn(w);
                }
                self.b.default_http_path.to_owned()
            }
        };
        (protocol, Some(path))
    }

    /// Http/Https probes on a port Azure forbids.
    pub(super) fn check_http_port(&mut self, label: &str, probe: &ProbeSpec) {
        if let ProbePort::Number(n) = probe.port
            && probe.protocol.is_http_like()
            && is_forbidden_http_probe_port(n)
        {
            self.warn(warnings::forbidden_http_port(label, probe.protocol, n));
        }
    }
}

/// UDP and SCTP ports get no probe of their own (Azure probes only Tcp, Http and Https).
pub(super) fn is_udp_or_sctp(p: &ServicePort) -> bool {
    matches!(p.protocol.as_deref(), Some("UDP" | "SCTP"))
}
