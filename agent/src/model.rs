//! The vocabulary shared by derivation, probing and analysis: what a load balancer is told to
//! probe ([`ProbeSpec`]) and which Kubernetes object a rule came from ([`ServiceResult`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::lb::matcher::Matcher;

/// The cloud whose controllers turn Services and Ingresses into load balancers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Azure,
    Aws,
}

impl Cloud {
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Azure => "azure",
            Cloud::Aws => "aws",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kind of cloud load balancer, each with its own probe semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LbKind {
    /// Azure Load Balancer (Standard or Basic SKU), probing nodes from 168.63.129.16.
    #[serde(rename = "azure-lb")]
    AzureLb,
    /// AWS Application Load Balancer target group.
    #[serde(rename = "alb")]
    Alb,
    /// AWS Network Load Balancer target group.
    #[serde(rename = "nlb")]
    Nlb,
    /// AWS Classic Load Balancer.
    #[serde(rename = "clb")]
    Clb,
}

impl LbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LbKind::AzureLb => "azure-lb",
            LbKind::Alb => "alb",
            LbKind::Nlb => "nlb",
            LbKind::Clb => "clb",
        }
    }

    pub fn cloud(self) -> Cloud {
        match self {
            LbKind::AzureLb => Cloud::Azure,
            LbKind::Alb | LbKind::Nlb | LbKind::Clb => Cloud::Aws,
        }
    }
}

impl fmt::Display for LbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a probe talks to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeProtocol {
    /// A TCP handshake, then close.
    Tcp,
    /// `GET <path> HTTP/1.1` (or HTTP/2 where [`WireDetails::http_version`] says so).
    Http,
    /// HTTP over TLS; certificates are not verified, as the clouds do not verify them.
    Https,
    /// A gRPC unary call (ALB `GRPC` target groups); success is judged on `grpc-status`.
    Grpc,
    /// A TCP connection and a TLS handshake, then close (CLB `SSL:` targets); success is the
    /// completed handshake.
    Ssl,
}

impl ProbeProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeProtocol::Tcp => "tcp",
            ProbeProtocol::Http => "http",
            ProbeProtocol::Https => "https",
            ProbeProtocol::Grpc => "grpc",
            ProbeProtocol::Ssl => "ssl",
        }
    }

    /// Whether the probe sends an HTTP request and judges the response.
    pub fn is_http_like(self) -> bool {
        matches!(
            self,
            ProbeProtocol::Http | ProbeProtocol::Https | ProbeProtocol::Grpc
        )
    }
}

impl fmt::Display for ProbeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the load balancer registers as a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// The node's address (Azure backend pools, CLB, ALB/NLB `instance` targets).
    Node,
    /// The pod's address (ALB/NLB `ip` targets).
    Pod,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Node => "node",
            TargetKind::Pod => "pod",
        }
    }
}

/// The port a probe is sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbePort {
    /// The port that carries the traffic (the NodePort for node targets, the targetPort for pod
    /// targets), as AWS target groups say it.
    TrafficPort,
    /// A fixed port number.
    Number(u16),
    /// The Service's `healthCheckNodePort` before Kubernetes has allocated it (a manifest that
    /// was not applied yet); a number once it is known.
    HealthCheckNodePort,
}

impl fmt::Display for ProbePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbePort::TrafficPort => f.write_str("traffic-port"),
            ProbePort::Number(n) => write!(f, "{n}"),
            ProbePort::HealthCheckNodePort => f.write_str("health-check-node-port"),
        }
    }
}

impl Serialize for ProbePort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ProbePort::TrafficPort => s.serialize_str("traffic-port"),
            ProbePort::Number(n) => s.serialize_u16(*n),
            ProbePort::HealthCheckNodePort => s.serialize_str("health-check-node-port"),
        }
    }
}

/// The protocol of a load-balancing rule (a Service port's `protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RuleProtocol {
    Tcp,
    Udp,
    Sctp,
}

impl RuleProtocol {
    /// Parses a Service port's `protocol` field; Kubernetes defaults it to TCP.
    pub fn from_k8s(value: Option<&str>) -> Option<Self> {
        match value.unwrap_or("TCP") {
            "TCP" => Some(RuleProtocol::Tcp),
            "UDP" => Some(RuleProtocol::Udp),
            "SCTP" => Some(RuleProtocol::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RuleProtocol::Tcp => "TCP",
            RuleProtocol::Udp => "UDP",
            RuleProtocol::Sctp => "SCTP",
        }
    }
}

/// HTTP version of an HTTP-like probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HttpVersion {
    #[default]
    #[serde(rename = "HTTP1")]
    Http1,
    #[serde(rename = "HTTP2")]
    Http2,
}

/// How a successful TCP probe ends its connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseMode {
    /// A normal four-way close, as Azure documents for its TCP probes.
    #[default]
    Fin,
    /// An abortive close (RST): no TIME_WAIT on the prober, for very high probe rates.
    Rst,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// The TLS versions a probe offers, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlsRange {
    pub min: TlsVersion,
    pub max: TlsVersion,
}

impl TlsRange {
    /// Azure's HTTPS probes were only observed to speak TLS 1.2 (spec/azure-lb.md, unverified).
    pub const AZURE_OBSERVED: TlsRange = TlsRange {
        min: TlsVersion::Tls12,
        max: TlsVersion::Tls12,
    };
    /// What an AWS health checker accepts: TLS 1.2 and 1.3.
    pub const AWS: TlsRange = TlsRange {
        min: TlsVersion::Tls12,
        max: TlsVersion::Tls13,
    };
}

/// The details of a probe on the wire that are not configured per rule but differ per cloud.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WireDetails {
    /// `User-Agent` of HTTP-like probes; `None` sends none.
    pub user_agent: Option<String>,
    /// HTTP version of HTTP-like probes.
    pub http_version: HttpVersion,
    /// How a successful TCP probe closes its connection.
    pub close: CloseMode,
    /// TLS versions offered by HTTPS probes.
    pub tls: TlsRange,
}

/// `User-Agent` of Azure Load Balancer HTTP(S) probes (spec/azure-lb.md, observed).
pub const AZURE_USER_AGENT: &str = "Load Balancer Agent";
/// `User-Agent` of ALB and NLB health checks (spec/aws-elb.md, observed).
pub const ELBV2_USER_AGENT: &str = "ELB-HealthChecker/2.0";
/// `User-Agent` of Classic Load Balancer health checks (spec/aws-elb.md, observed).
pub const CLB_USER_AGENT: &str = "ELB-HealthChecker/1.0";

impl WireDetails {
    /// The wire behaviour of one load balancer's checker.
    pub fn for_lb(lb: LbKind) -> WireDetails {
        let (user_agent, tls) = match lb {
            LbKind::AzureLb => (AZURE_USER_AGENT, TlsRange::AZURE_OBSERVED),
            LbKind::Alb | LbKind::Nlb => (ELBV2_USER_AGENT, TlsRange::AWS),
            LbKind::Clb => (CLB_USER_AGENT, TlsRange::AWS),
        };
        WireDetails {
            user_agent: Some(user_agent.to_owned()),
            http_version: HttpVersion::Http1,
            close: CloseMode::Fin,
            tls,
        }
    }
}

/// What one cloud load balancer would configure to probe the backends of one rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProbeSpec {
    pub lb: LbKind,
    pub protocol: ProbeProtocol,
    pub port: ProbePort,
    /// Request path of HTTP-like probes; `None` for TCP.
    pub path: Option<String>,
    pub interval_s: u32,
    /// How long one probe may take before it counts as a timeout.
    pub timeout_s: u32,
    /// Consecutive successes that bring a backend back (Azure: its single `probeThreshold`).
    pub healthy_threshold: u32,
    /// Consecutive failures that take a backend out (Azure: its single `probeThreshold`).
    pub unhealthy_threshold: u32,
    /// Accepted status codes; `None` where the LB accepts only HTTP 200 (Azure, CLB) or where
    /// the protocol has no status (TCP).
    pub matcher: Option<Matcher>,
    pub target: TargetKind,
    pub wire: WireDetails,
    /// ALB/NLB `deregistration_delay.timeout_seconds`: how long a deregistered target drains.
    pub deregistration_delay_s: Option<u32>,
}

/// A reference to a namespaced Kubernetes object, shown as `Kind/namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: &str, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Refers to a Service or Ingress by its metadata (namespace defaults to `default`, as
    /// `kubectl apply` would place it).
    pub fn from_meta(
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> ObjectRef {
        ObjectRef::new(
            kind,
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or(""),
        )
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// One load-balancing rule and the probe that guards it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The Service port the rule forwards (for an Ingress: the backend's Service port).
    pub port: i32,
    pub protocol: RuleProtocol,
    /// `None` when the rule has no probe (Azure `port_N_no_probe_rule`).
    pub probe: Option<ProbeSpec>,
    /// The Service whose backends the rule reaches; for a Service it is the object itself.
    pub service: ObjectRef,
}

/// What one cloud controller would make of one Service or Ingress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceResult {
    pub object: ObjectRef,
    pub load_balancer: LbKind,
    /// Empty when the controller would reject the object (the reasons are in `errors`).
    pub rules: Vec<Rule>,
    /// Why the controller would not reconcile the object, in its own words where it has them.
    pub errors: Vec<String>,
    /// Known traps: valid configuration that is likely to hurt.
    pub warnings: Vec<String>,
}

impl ServiceResult {
    pub fn new(object: ObjectRef, load_balancer: LbKind) -> ServiceResult {
        ServiceResult {
            object,
            load_balancer,
            rules: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records a controller error: the controller does not reconcile the object, so it gets no
    /// rules at all.
    pub fn reject(&mut self, error: impl Into<String>) {
        self.errors.push(error.into());
        self.rules.clear();
    }
}
