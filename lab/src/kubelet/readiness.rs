//! The kubelet's readiness probe: `httpGet` or `tcpSocket` from the node's network namespace,
//! every `periodSeconds`, Ready after `successThreshold` successes in a row, not Ready after
//! `failureThreshold` failures in a row.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use probesim_agent::lb::outcome::Outcome;
use probesim_agent::model::{CloseMode, HttpVersion, ProbeProtocol, TlsRange, WireDetails};
use probesim_agent::probe::{self, ProbeRequest, tls::TlsConfigs};
use serde_json::Value;

/// Kubernetes' defaults for a probe's fields.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;

/// A readiness probe as the pod declares it, resolved against the pod.
#[derive(Clone, Debug)]
pub struct ReadinessProbe {
    pub request: ProbeRequest,
    pub initial_delay: Duration,
    pub period: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl ReadinessProbe {
    /// From the probe object of a container; `Err` names what the lab cannot run (exec, gRPC
    /// probes) or what is malformed.
    pub fn from_spec(
        probe: &Value,
        pod: &Value,
        pod_ip: IpAddr,
        k8s_minor: u32,
    ) -> Result<ReadinessProbe, String> {
        let (handler, protocol) = if probe["httpGet"].is_object() {
            let https = probe["httpGet"]["scheme"].as_str() == Some("HTTPS");
            (
                &probe["httpGet"],
                if https {
                    ProbeProtocol::Https
                } else {
                    ProbeProtocol::Http
                },
            )
        } else if probe["tcpSocket"].is_object() {
            (&probe["tcpSocket"], ProbeProtocol::Tcp)
        } else {
            return Err("readinessProbe: only httpGet and tcpSocket run in the lab".to_owned());
        };
        let port = resolve_port(&handler["port"], pod)?;
        let seconds = |field: &str, default: Duration| {
            probe[field].as_u64().map_or(default, Duration::from_secs)
        };
        let count = |field: &str, default: u32| {
            probe[field]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .unwrap_or(default)
        };
        Ok(ReadinessProbe {
            request: ProbeRequest {
                addr: SocketAddr::new(pod_ip, port),
                protocol,
                path: Arc::from(handler["path"].as_str().unwrap_or("/")),
                timeout: seconds("timeoutSeconds", DEFAULT_TIMEOUT),
                wire: Arc::new(WireDetails {
                    user_agent: Some(format!("kube-probe/1.{k8s_minor}")),
                    http_version: HttpVersion::Http1,
                    close: CloseMode::Fin,
                    tls: TlsRange::AWS,
                }),
                grpc_tls: false,
                bind: None,
                source: None,
            },
            initial_delay: seconds("initialDelaySeconds", Duration::ZERO),
            period: seconds("periodSeconds", DEFAULT_PERIOD),
            success_threshold: count("successThreshold", 1),
            failure_threshold: count("failureThreshold", DEFAULT_FAILURE_THRESHOLD),
        })
    }

    /// One probe: success is a connection (TCP) or a status from 200 to 399 (HTTP).
    pub async fn run(&self, tls: &TlsConfigs) -> bool {
        match probe::probe(&self.request, tls).await.outcome {
            Outcome::Connected => true,
            Outcome::HttpStatus(status) => (200..400).contains(&status),
            _ => false,
        }
    }
}

/// A numeric port, or a container port's name.
fn resolve_port(port: &Value, pod: &Value) -> Result<u16, String> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).map_err(|_| format!("readinessProbe: port {n} is out of range"));
    }
    let name = port.as_str().unwrap_or_default();
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| format!("readinessProbe: port {port} names no container port"))
}

/// Consecutive results to a Ready state, as the kubelet counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    pub ready: bool,
    successes: u32,
    failures: u32,
}

impl Counter {
    pub fn new() -> Counter {
        Counter {
            ready: false,
            successes: 0,
            failures: 0,
        }
    }

    /// Counts one result; `Some(ready)` when the state changes.
    pub fn observe(&mut self, success: bool, probe: &ReadinessProbe) -> Option<bool> {
        if success {
            self.successes += 1;
            self.failures = 0;
            if !self.ready && self.successes >= probe.success_threshold {
                self.ready = true;
                return Some(true);
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.ready && self.failures >= probe.failure_threshold {
                self.ready = false;
                return Some(false);
            }
        }
        None
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn probes_resolve_named_ports_and_thresholds_flip_the_state() {
        let pod =
            json!({"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}});
        let spec = json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2, "failureThreshold": 2});
        let probe =
            ReadinessProbe::from_spec(&spec, &pod, "10.244.0.5".parse().unwrap(), 24).unwrap();
        assert_eq!(probe.request.addr.port(), 8080);
        assert_eq!(probe.period, Duration::from_secs(2));
        let mut counter = Counter::new();
        assert_eq!(counter.observe(true, &probe), Some(true));
        assert_eq!(counter.observe(false, &probe), None);
        assert_eq!(counter.observe(false, &probe), Some(false));
        let bad = json!({"tcpSocket": {"port": "metrics"}});
        assert!(
            ReadinessProbe::from_spec(&bad, &pod, "10.244.0.5".parse().unwrap(), 24)
                .unwrap_err()
                .contains("metrics")
        );
    }
}
