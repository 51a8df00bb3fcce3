//! Probes in words, shared by the table and the comparison.

use crate::model::{LbKind, ProbePort, ProbeProtocol, ProbeSpec};

/// What is sent where: `TCP :32271`, `HTTP GET /healthz :32271`, `gRPC /AWS.ALB/healthcheck
/// :traffic-port`.
pub fn what(spec: &ProbeSpec) -> String {
    let port = match spec.port {
        ProbePort::Number(n) => format!(":{n}"),
        other => format!(":{other}"),
    };
    let path = spec.path.as_deref().unwrap_or("/");
    match spec.protocol {
        ProbeProtocol::Tcp => format!("TCP {port}"),
        ProbeProtocol::Ssl => format!("SSL {port}"),
        ProbeProtocol::Http => format!("HTTP GET {path} {port}"),
        ProbeProtocol::Https => format!("HTTPS GET {path} {port}"),
        ProbeProtocol::Grpc => format!("gRPC {path} {port}"),
    }
}

/// When, and how the answers count: `every 5s, timeout 5s, threshold 2` for Azure (one
/// threshold), `every 15s, timeout 5s, healthy 2, unhealthy 2, codes 200` for AWS.
pub fn when(spec: &ProbeSpec) -> String {
    let mut s = format!("every {}s, timeout {}s", spec.interval_s, spec.timeout_s);
    match spec.lb {
        LbKind::AzureLb => s.push_str(&format!(", threshold {}", spec.unhealthy_threshold)),
        _ => s.push_str(&format!(
            ", healthy {}, unhealthy {}",
            spec.healthy_threshold, spec.unhealthy_threshold
        )),
    }
    if let Some(m) = &spec.matcher {
        s.push_str(&format!(", codes {m}"));
    }
    if let Some(d) = spec.deregistration_delay_s {
        s.push_str(&format!(", drain {d}s"));
    }
    s
}

/// Who is probed: `nodes` or `pods`.
pub fn target(spec: &ProbeSpec) -> &'static str {
    match spec.target {
        crate::model::TargetKind::Node => "nodes",
        crate::model::TargetKind::Pod => "pods",
    }
}
