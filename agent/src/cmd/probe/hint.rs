//! A verdict in words: why the LB would take a target out, and what would bring it back, where
//! probing can tell.

use std::sync::Arc;

use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::lb::verdict;
use probesim_agent::model::{LbKind, ProbeSpec};
use probesim_agent::probe::{self, ProbeRequest, tls::TlsConfigs};
use probesim_agent::view::TargetSummary;

use super::Planned;
use super::print::LastFailure;

/// Health paths that common servers answer with 200, tried once each when the probed path fails
/// on its status: ingress-nginx and kube-proxy `/healthz`, Istio `/healthz/ready`, Kubernetes
/// components `/readyz` and `/livez`, many frameworks `/health` and `/ready`.
const CANDIDATE_PATHS: [&str; 6] = [
    "/healthz",
    "/healthz/ready",
    "/readyz",
    "/livez",
    "/health",
    "/ready",
];

pub async fn diagnose(p: &Planned, summary: &TargetSummary, last: &LastFailure) -> Option<String> {
    if summary.unanimous().is_some_and(LbState::in_rotation) {
        return None;
    }
    let (outcome, _) = last.as_ref()?;
    match outcome {
        Outcome::HttpStatus(_) | Outcome::GrpcStatus { .. } if p.spec.protocol.is_http_like() => {
            let path = p.spec.path.as_deref().unwrap_or("/");
            match passing_path(&p.spec, p).await {
                Some(good) => Some(format!(
                    "would be UP with path {good}: {path} does not answer as the LB requires; {}",
                    fix(&p.spec, good)
                )),
                None => Some(format!(
                    "{path} does not answer as the LB requires, and none of {} does either",
                    CANDIDATE_PATHS.join(", ")
                )),
            }
        }
        Outcome::Timeout { .. } => Some(format!(
            "no answer within {}s: a NetworkPolicy or security group that drops the LB's source \
             address{} looks like this, as does a process that accepts but never answers",
            p.spec.timeout_s,
            if p.spec.lb == LbKind::AzureLb && p.addr.is_ipv6() {
                " (fe80::1234:5678:9abc for IPv6 targets)"
            } else if p.spec.lb == LbKind::AzureLb {
                " (168.63.129.16)"
            } else {
                ""
            }
        )),
        Outcome::Refused => Some(format!(
            "nothing listens on {} (connection refused): check the port (NodePort, \
             health-check node port or targetPort) and that a ready pod backs it",
            p.addr
        )),
        Outcome::TlsFailed => Some(
            "the TLS handshake fails: the backend may not speak TLS on this port, or not a \
             version the LB offers (Azure was only seen offering TLS 1.2)"
                .to_owned(),
        ),
        _ => None,
    }
}

/// The first candidate path that the LB would count as a success.
async fn passing_path(spec: &Arc<ProbeSpec>, p: &Planned) -> Option<&'static str> {
    let tls = TlsConfigs::new();
    for path in CANDIDATE_PATHS {
        if spec.path.as_deref() == Some(path) {
            continue;
        }
        let mut request = ProbeRequest::for_spec(spec, p.addr);
        request.path = Arc::from(path);
        let m = probe::probe(&request, &tls).await;
        if verdict::judge(spec, &m.outcome).is_success() {
            return Some(path);
        }
    }
    None
}

fn fix(spec: &ProbeSpec, path: &str) -> String {
    probesim_agent::explain::compare::path_fix(spec.lb, path)
}
