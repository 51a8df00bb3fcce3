//! How the agent's model is written to the database and to JSON: times as unix milliseconds,
//! enums by their stable names (`as_str`, `Reason::code`), backend keys and specs as JSON
//! objects. Decoding is total: a value that does not decode is a [`DecodeError`] naming it.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use probesim_agent::event::{BackendKey, Hop, LifecycleKind, SourceMode, SpecVersion};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::matcher::{Matcher, MatcherKind};
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{
    Cloud, LbKind, ObjectRef, ProbePort, ProbeProtocol, ProbeSpec, TargetKind, WireDetails,
};
use serde::{Deserialize, Serialize};

use crate::error::DecodeError;

/// Milliseconds since the epoch (negative before it).
pub fn ms(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The moment `ms` milliseconds after the epoch.
pub fn from_ms(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

fn by_name<T: Copy>(
    field: &'static str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    value: &str,
) -> Result<T, DecodeError> {
    all.iter()
        .copied()
        .find(|v| name(*v) == value)
        .ok_or_else(|| DecodeError::new(field, value, "not a known name"))
}

pub const LB_KINDS: [LbKind; 4] = [LbKind::AzureLb, LbKind::Alb, LbKind::Nlb, LbKind::Clb];
const SOURCES: [SourceMode; 4] = [
    SourceMode::Node,
    SourceMode::LbSource,
    SourceMode::Syn,
    SourceMode::Observed,
];
const TARGET_KINDS: [TargetKind; 2] = [TargetKind::Node, TargetKind::Pod];

pub fn lb_kind(value: &str) -> Result<LbKind, DecodeError> {
    by_name("lb", &LB_KINDS, LbKind::as_str, value)
}

pub fn lb_state(value: &str) -> Result<LbState, DecodeError> {
    by_name("state", &LbState::ALL, LbState::as_str, value)
}

pub fn hop(value: &str) -> Result<Hop, DecodeError> {
    by_name("hop", &Hop::ALL, Hop::as_str, value)
}

pub fn source(value: &str) -> Result<SourceMode, DecodeError> {
    by_name("source", &SOURCES, SourceMode::as_str, value)
}

pub fn target_kind(value: &str) -> Result<TargetKind, DecodeError> {
    by_name("target_kind", &TARGET_KINDS, TargetKind::as_str, value)
}

pub fn lifecycle_kind(value: &str) -> Result<LifecycleKind, DecodeError> {
    LifecycleKind::ALL
        .iter()
        .find(|k| k.as_str() == value)
        .cloned()
        .ok_or_else(|| DecodeError::new("kind", value, "not a known lifecycle event"))
}

pub fn cloud(value: &str) -> Result<Cloud, DecodeError> {
    by_name("cloud", &[Cloud::Azure, Cloud::Aws], Cloud::as_str, value)
}

/// A reason from its code and the status code some reasons carry.
pub fn reason(code: &str, status: Option<u32>) -> Result<Reason, DecodeError> {
    let with_status = |make: fn(u32) -> Option<Reason>| {
        status.and_then(make).ok_or_else(|| {
            DecodeError::new(
                "reason_status",
                format!("{status:?}"),
                format!("{code} needs a status code"),
            )
        })
    };
    Ok(match code {
        "ProbeTimeout" => Reason::ProbeTimeout,
        "HostUnreachable" => Reason::HostUnreachable,
        "ConnectionRefused" => Reason::ConnectionRefused,
        "ConnectionReset" => Reason::ConnectionReset,
        "ConnectionClosed" => Reason::ConnectionClosed,
        "TlsHandshakeFailed" => Reason::TlsHandshakeFailed,
        "MalformedResponse" => Reason::MalformedResponse,
        "HttpStatus" => with_status(|s| u16::try_from(s).ok().map(Reason::HttpStatus))?,
        "GrpcStatus" => with_status(|s| Some(Reason::GrpcStatus(s)))?,
        "AwaitingFirstSuccess" => Reason::AwaitingFirstSuccess,
        "Elb.RegistrationInProgress" => Reason::ElbRegistrationInProgress,
        "Elb.InitialHealthChecking" => Reason::ElbInitialHealthChecking,
        "Target.ResponseCodeMismatch" => {
            with_status(|s| Some(Reason::TargetResponseCodeMismatch(s)))?
        }
        "Target.Timeout" => Reason::TargetTimeout,
        "Target.FailedHealthChecks" => Reason::TargetFailedHealthChecks,
        "Target.DeregistrationInProgress" => Reason::TargetDeregistrationInProgress,
        "Target.NotRegistered" => Reason::TargetNotRegistered,
        "Target.HealthCheckDisabled" => Reason::TargetHealthCheckDisabled,
        "InstanceRegistrationInProgress" => Reason::InstanceRegistrationInProgress,
        "InstanceFailedHealthChecks" => Reason::InstanceFailedHealthChecks,
        "InstanceDeregistrationInProgress" => Reason::InstanceDeregistrationInProgress,
        "InstanceNotRegistered" => Reason::InstanceNotRegistered,
        other => return Err(DecodeError::new("reason", other, "not a known reason code")),
    })
}

/// A [`BackendKey`] as a JSON object (the database's unique key of a backend, and the API's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyJson {
    pub lb: String,
    pub object: String,
    pub service: String,
    pub port: i32,
    pub node: String,
    pub target: String,
    pub target_kind: String,
    pub pod: Option<String>,
    pub hop: String,
    pub source: String,
    pub version: String,
    pub what_if: bool,
}

impl KeyJson {
    pub fn from_key(key: &BackendKey) -> KeyJson {
        KeyJson {
            lb: key.lb.as_str().to_owned(),
            object: key.object.to_string(),
            service: key.service.to_string(),
            port: key.port,
            node: key.node.clone(),
            target: key.target.to_string(),
            target_kind: key.target_kind.as_str().to_owned(),
            pod: key.pod.clone(),
            hop: key.hop.as_str().to_owned(),
            source: key.source.as_str().to_owned(),
            version: key.version.version.clone(),
            what_if: key.version.what_if,
        }
    }

    pub fn to_key(&self) -> Result<BackendKey, DecodeError> {
        Ok(BackendKey {
            lb: lb_kind(&self.lb)?,
            object: object_ref("object", &self.object)?,
            service: object_ref("service", &self.service)?,
            port: self.port,
            node: self.node.clone(),
            target: self
                .target
                .parse::<SocketAddr>()
                .map_err(|e| DecodeError::new("target", &self.target, e.to_string()))?,
            target_kind: target_kind(&self.target_kind)?,
            pod: self.pod.clone(),
            hop: hop(&self.hop)?,
            source: source(&self.source)?,
            version: SpecVersion {
                version: self.version.clone(),
                what_if: self.what_if,
            },
        })
    }
}

/// `Kind/namespace/name` back into an [`ObjectRef`] (names and namespaces hold no `/`).
pub fn object_ref(field: &'static str, value: &str) -> Result<ObjectRef, DecodeError> {
    let mut parts = value.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(namespace), Some(name)) if !kind.is_empty() => {
            Ok(ObjectRef::new(kind, namespace, name))
        }
        _ => Err(DecodeError::new(field, value, "not Kind/namespace/name")),
    }
}

/// A probe port: a number, `traffic-port` or `health-check-node-port`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortJson {
    Number(u16),
    Named(String),
}

/// A [`ProbeSpec`] as a JSON object (`explain --output json` field names, plus the wire details).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecJson {
    pub lb: LbKind,
    pub protocol: ProbeProtocol,
    pub port: PortJson,
    pub path: Option<String>,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Option<String>,
    /// `http` or `grpc`: what the matcher's codes are matched against.
    pub matcher_kind: Option<String>,
    pub target: TargetKind,
    pub wire: WireDetails,
    pub deregistration_delay_s: Option<u32>,
}

impl SpecJson {
    pub fn from_spec(spec: &ProbeSpec) -> SpecJson {
        SpecJson {
            lb: spec.lb,
            protocol: spec.protocol,
            port: match spec.port {
                ProbePort::Number(n) => PortJson::Number(n),
                other => PortJson::Named(other.to_string()),
            },
            path: spec.path.clone(),
            interval_s: spec.interval_s,
            timeout_s: spec.timeout_s,
            healthy_threshold: spec.healthy_threshold,
            unhealthy_threshold: spec.unhealthy_threshold,
            matcher: spec.matcher.as_ref().map(|m| m.as_str().to_owned()),
            matcher_kind: spec.matcher.as_ref().map(|m| {
                match m.kind() {
                    MatcherKind::Http => "http",
                    MatcherKind::Grpc => "grpc",
                }
                .to_owned()
            }),
            target: spec.target,
            wire: spec.wire.clone(),
            deregistration_delay_s: spec.deregistration_delay_s,
        }
    }

    pub fn to_spec(&self) -> Result<ProbeSpec, DecodeError> {
        let port = match &self.port {
            PortJson::Number(n) => ProbePort::Number(*n),
            PortJson::Named(name) if name == "traffic-port" => ProbePort::TrafficPort,
            PortJson::Named(name) if name == "health-check-node-port" => {
                ProbePort::HealthCheckNodePort
            }
            PortJson::Named(name) => {
                return Err(DecodeError::new("port", name, "not a port number or name"));
            }
        };
        let matcher = match &self.matcher {
            None => None,
            Some(text) => {
                let kind = match self.matcher_kind.as_deref() {
                    Some("grpc") => MatcherKind::Grpc,
                    Some("http") | None => MatcherKind::Http,
                    Some(other) => {
                        return Err(DecodeError::new("matcher_kind", other, "not http or grpc"));
                    }
                };
                // The codes were checked against the LB's range when the spec was derived.
                let matcher = Matcher::parse(kind, text, 0..=u16::MAX)
                    .map_err(|e| DecodeError::new("matcher", text, e.to_string()))?;
                Some(matcher)
            }
        };
        Ok(ProbeSpec {
            lb: self.lb,
            protocol: self.protocol,
            port,
            path: self.path.clone(),
            interval_s: self.interval_s,
            timeout_s: self.timeout_s,
            healthy_threshold: self.healthy_threshold,
            unhealthy_threshold: self.unhealthy_threshold,
            matcher,
            target: self.target,
            wire: self.wire.clone(),
            deregistration_delay_s: self.deregistration_delay_s,
        })
    }
}

/// A value as JSON text for a database column.
pub fn to_json<T: Serialize>(value: &T) -> String {
    // These types serialize to JSON without fail: strings, numbers, options, plain structs.
    serde_json::to_string(value).unwrap_or_default()
}

/// JSON text of a database column back into a value.
pub fn from_json<T: for<'de> Deserialize<'de>>(
    field: &'static str,
    text: &str,
) -> Result<T, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError::new(field, text, e.to_string()))
}

#[cfg(test)]
mod tests;
