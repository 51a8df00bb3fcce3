//! Known traps of the Azure derivation, worded for the operator who has to fix them: each names the
//! port, what the load balancer will do, and the annotation that changes it.

use super::annotations::{self as keys, ProbeParam, port_probe_key};
use super::probe::{FORBIDDEN_HTTP_PROBE_PORTS, MAX_TOTAL_S};
use crate::model::{ProbePort, ProbeProtocol};

/// Where a probe goes, in words.
pub(super) fn target(port: ProbePort) -> String {
    match port {
        ProbePort::Number(n) => format!("port {n}"),
        ProbePort::TrafficPort => "the NodePort (not allocated yet)".to_owned(),
        ProbePort::HealthCheckNodePort => "the healthCheckNodePort (not allocated yet)".to_owned(),
    }
}

fn protocol_name(p: ProbeProtocol) -> &'static str {
    match p {
        ProbeProtocol::Tcp => "Tcp",
        ProbeProtocol::Http => "Http",
        ProbeProtocol::Https => "Https",
        // Azure has no other probe protocol; the model's name will do.
        other => other.as_str(),
    }
}

fn request_path_keys(port: i32) -> String {
    format!(
        "{} (or {} for this port only)",
        keys::PROBE_REQUEST_PATH,
        port_probe_key(port, ProbeParam::RequestPath)
    )
}

/// The S1 failure: appProtocol turns a Tcp probe into `GET /`.
pub(super) fn app_protocol_probes_root(
    label: &str,
    port: i32,
    app_protocol: &str,
    protocol: ProbeProtocol,
    target_port: ProbePort,
) -> String {
    format!(
        "{label}: appProtocol {app_protocol:?} makes the probe {} GET / on {}; if / does not answer \
         200 every node is marked down and the Service is unreachable; set {} to a path that \
         answers 200 (ingress-nginx: /healthz)",
        protocol_name(protocol),
        target(target_port),
        request_path_keys(port),
    )
}

/// 1.23 latest keeps Tcp only for want of a request path: the 1.24 upgrade flips it.
pub(super) fn tcp_until_upgrade(
    label: &str,
    port: i32,
    asked_by: &str,
    protocol: ProbeProtocol,
) -> String {
    format!(
        "{label}: the probe stays Tcp only because no request-path annotation is set; from \
         Kubernetes 1.24 {asked_by} makes it an {} GET / and every node is marked down unless / \
         answers 200; set {} before upgrading",
        protocol_name(protocol),
        request_path_keys(port),
    )
}

/// Before v1.23.4 appProtocol is ignored; from then on it selects the probe protocol.
pub(super) fn app_protocol_ignored_until_upgrade(
    label: &str,
    port: i32,
    app_protocol: &str,
    protocol: ProbeProtocol,
) -> String {
    format!(
        "{label}: this cloud-provider-azure version ignores appProtocol {app_protocol:?}; from \
         v1.23.4 (and Kubernetes 1.24) it makes the probe an {} GET / and every node is marked \
         down unless / answers 200; set {} before upgrading",
        protocol_name(protocol),
        request_path_keys(port),
    )
}

pub(super) fn forbidden_http_port(label: &str, protocol: ProbeProtocol, port: u16) -> String {
    format!(
        "{label}: Azure does not allow {} probes on port {port} (forbidden: {:?}); the load \
         balancer update fails or the probe never succeeds: probe another port with {} or use Tcp",
        protocol_name(protocol),
        FORBIDDEN_HTTP_PROBE_PORTS,
        "service.beta.kubernetes.io/port_N_health-probe_port",
    )
}

pub(super) fn https_on_basic(label: &str, from: &str) -> String {
    format!(
        "{label}: {from} asks for an Https probe, but the Basic SKU has no Https probes: the \
         probe falls back to Tcp, which passes as soon as the port accepts connections"
    )
}

pub(super) fn unsupported_protocol(
    label: &str,
    from: &str,
    value: &str,
    global_ignored: Option<&str>,
) -> String {
    let mut w = format!(
        "{label}: {from} {value:?} is not a probe protocol cloud-provider-azure knows (tcp, http, \
         https): the probe falls back to Tcp"
    );
    if let Some(global) = global_ignored {
        w.push_str(&format!(
            "; {} {global:?} is NOT read for this port because appProtocol is set; use {} instead",
            keys::PROBE_PROTOCOL,
            "service.beta.kubernetes.io/port_N_health-probe_protocol",
        ));
    }
    w
}

pub(super) fn near_total_limit(label: &str, interval: i32, threshold: i32) -> String {
    let total = i64::from(interval) * i64::from(threshold);
    format!(
        "{label}: interval {interval} s x threshold {threshold} = {total} s, close to Azure's \
         limit (interval x threshold must stay below {MAX_TOTAL_S} s): a small increase makes \
         cloud-provider-azure reject the whole Service; a backend that stops answering keeps \
         receiving new flows for up to {total} s"
    )
}

pub(super) fn overflow_accepted(label: &str, interval: i32, threshold: i32) -> String {
    format!(
        "{label}: interval {interval} x threshold {threshold} overflows cloud-provider-azure's \
         32-bit check, which therefore accepts it although it is far above Azure's {MAX_TOTAL_S} s \
         limit: Azure is expected to reject the probe"
    )
}

pub(super) fn probe_port_ignored_for_local(label: &str, key: &str, value: &str) -> String {
    format!(
        "{label}: {key} {value:?} is ignored: with externalTrafficPolicy Local this version probes \
         the healthCheckNodePort; a per-port probe port overrides it only from v1.29.0 (v1.25.19, \
         v1.26.15, v1.27.9, v1.28.1)"
    )
}

pub(super) fn shared_mode_unavailable(version: &str) -> String {
    format!(
        "clusterServiceLoadBalancerHealthProbeMode shared does not exist in cloud-provider-azure \
         {version} (it starts with v1.29.0 and v1.28.5): probes are per Service port \
         (servicenodeport)"
    )
}

pub(super) fn shared_mode_ignores(keys_set: &[String]) -> String {
    format!(
        "shared probe mode: every rule is probed on kube-proxy's port 10256 /healthz, so these \
         annotations are ignored: {}",
        keys_set.join(", ")
    )
}

pub(super) fn not_read_by_version(key: &str, version: &str, since: &str) -> String {
    format!("{key} is not read by cloud-provider-azure {version}; it takes effect from {since}")
}

pub(super) fn node_port_unallocated(label: &str, allocation_disabled: bool) -> String {
    if allocation_disabled {
        format!(
            "{label}: no nodePort and spec.allocateLoadBalancerNodePorts is false: Azure is told to \
             probe port 0, which no node serves"
        )
    } else {
        format!(
            "{label}: nodePort is not set in the manifest; Kubernetes allocates it when the Service \
             is applied, and the probe goes to that port"
        )
    }
}

pub(super) fn health_check_node_port_unallocated() -> String {
    "spec.healthCheckNodePort is not set in the manifest; Kubernetes allocates it when the Service \
     is applied, and the externalTrafficPolicy Local probe goes to that port (annotations keyed by \
     that port number cannot be matched until then)"
        .to_owned()
}

pub(super) fn request_path_unused(label: &str, key: &str) -> String {
    format!(
        "{label}: {key} is set but the probe is Tcp, so the path is not used; set the probe \
         protocol to http (appProtocol, {} or {}) to probe it",
        keys::PROBE_PROTOCOL,
        "service.beta.kubernetes.io/port_N_health-probe_protocol",
    )
}

pub(super) fn legacy_local_tcp(value: &str) -> String {
    format!(
        "{} {value:?} also applies to the externalTrafficPolicy Local probe in this version: a Tcp \
         probe of the healthCheckNodePort succeeds whenever kube-proxy listens, so nodes without a \
         ready pod keep receiving traffic",
        keys::PROBE_PROTOCOL
    )
}

pub(super) fn ha_port_skipped(label: &str, error: &str) -> String {
    format!(
        "{label}: skipped when choosing the probe of the high-availability-ports rule \
         (cloud-provider-azure logs and ignores this error): {error}"
    )
}

pub(super) fn load_balancer_class(class: &str) -> String {
    format!(
        "spec.loadBalancerClass is {class:?}: Kubernetes' cloud service controller leaves Services \
         with a loadBalancerClass to that class's controller, so cloud-provider-azure configures no \
         rule for it"
    )
}
