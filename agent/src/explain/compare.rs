//! `explain --compare V1,V2`: what an upgrade changes in the probes, in words, and what to do.

use serde::Serialize;

use crate::explain::{Explanation, describe};
use crate::lb::azure::CpaVersion;
use crate::lb::{Objects, Settings};
use crate::model::{LbKind, ProbeProtocol, ProbeSpec, Rule, ServiceResult};

/// The annotation that sets the path of Azure's Http/Https probes.
pub const AZURE_REQUEST_PATH: &str =
    "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path";

/// The fix for a health check path that does not answer as the LB requires: the annotation of
/// `lb`'s controller that sets the path, with `path`.
pub fn path_fix(lb: LbKind, path: &str) -> String {
    match lb {
        LbKind::AzureLb => format!("set {AZURE_REQUEST_PATH}: {path}"),
        LbKind::Alb => format!("set alb.ingress.kubernetes.io/healthcheck-path: {path}"),
        LbKind::Nlb | LbKind::Clb => {
            format!("set service.beta.kubernetes.io/aws-load-balancer-healthcheck-path: {path}")
        }
    }
}

/// The derivation under two versions, and what differs per object.
#[derive(Debug)]
pub struct Comparison {
    pub from: Explanation,
    pub to: Explanation,
    pub changes: Vec<ObjectChange>,
}

/// What the upgrade changes for one Service or Ingress.
#[derive(Debug, Serialize)]
pub struct ObjectChange {
    pub object: String,
    /// One sentence per change.
    pub changes: Vec<String>,
    /// What to do about them.
    pub advice: Vec<String>,
}

pub fn compare(objects: &Objects, base: &Settings, from: CpaVersion, to: CpaVersion) -> Comparison {
    let with_version = |v| {
        let mut s = base.clone();
        s.azure.version = v;
        Explanation::new(objects, s)
    };
    let (from, to) = (with_version(from), with_version(to));
    let mut changes = Vec::new();
    let mut objects_seen: Vec<&ServiceResult> = from.results.iter().collect();
    for b in &to.results {
        if !objects_seen.iter().any(|a| a.object == b.object) {
            objects_seen.push(b);
        }
    }
    for r in objects_seen {
        let a = from.results.iter().find(|x| x.object == r.object);
        let b = to.results.iter().find(|x| x.object == r.object);
        let (v1, v2) = (from.settings.azure.version, to.settings.azure.version);
        let change = object_change(objects, a, b, v1, v2);
        if !change.changes.is_empty() {
            changes.push(ObjectChange {
                object: r.object.to_string(),
                ..change
            });
        }
    }
    Comparison { from, to, changes }
}

fn object_change(
    objects: &Objects,
    a: Option<&ServiceResult>,
    b: Option<&ServiceResult>,
    v1: CpaVersion,
    v2: CpaVersion,
) -> ObjectChange {
    let mut out = ObjectChange {
        object: String::new(),
        changes: Vec::new(),
        advice: Vec::new(),
    };
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (None, Some(_)) => {
            out.changes.push(format!("{v2} handles it; {v1} does not"));
            return out;
        }
        (Some(_), None) => {
            out.changes.push(format!("{v1} handles it; {v2} does not"));
            return out;
        }
        (None, None) => return out,
    };
    for e in b.errors.iter().filter(|e| !a.errors.contains(e)) {
        out.changes
            .push(format!("{v2} rejects it and leaves the LB as it was: {e}"));
    }
    for e in a.errors.iter().filter(|e| !b.errors.contains(e)) {
        out.changes
            .push(format!("{v2} accepts it ({v1} rejected it: {e})"));
    }
    let key = |r: &Rule| (r.service.clone(), r.port, r.protocol);
    for ra in &a.rules {
        match b.rules.iter().find(|rb| key(rb) == key(ra)) {
            None if b.errors.is_empty() => out
                .changes
                .push(format!("port {}: {v2} creates no LB rule", ra.port)),
            None => {}
            Some(rb) => {
                probe_change(ra.port, &ra.probe, &rb.probe, v1, v2, &mut out);
                if let (Some(pa), Some(pb)) = (&ra.probe, &rb.probe)
                    && let Some(advice) = path_advice(objects, a, pa, pb)
                {
                    out.advice.push(advice);
                }
            }
        }
    }
    for rb in b
        .rules
        .iter()
        .filter(|rb| !a.rules.iter().any(|ra| key(ra) == key(rb)))
    {
        let probe = rb
            .probe
            .as_ref()
            .map_or("no probe".to_owned(), describe::what);
        out.changes
            .push(format!("port {}: {v2} adds an LB rule ({probe})", rb.port));
    }
    out.advice.dedup();
    out
}

fn probe_change(
    port: i32,
    pa: &Option<ProbeSpec>,
    pb: &Option<ProbeSpec>,
    v1: CpaVersion,
    v2: CpaVersion,
    out: &mut ObjectChange,
) {
    match (pa, pb) {
        (None, None) => {}
        (Some(pa), None) => out.changes.push(format!(
            "port {port}: {v2} removes the probe ({} on {v1}); the LB then sends to every backend",
            describe::what(pa)
        )),
        (None, Some(pb)) => out.changes.push(format!(
            "port {port}: {v2} adds a probe: {}",
            describe::what(pb)
        )),
        (Some(pa), Some(pb)) => {
            let (wa, wb) = (describe::what(pa), describe::what(pb));
            if wa != wb {
                out.changes.push(format!("port {port}: {wb} replaces {wa}"));
            }
            let (ta, tb) = (describe::when(pa), describe::when(pb));
            if ta != tb {
                out.changes
                    .push(format!("port {port}: timing {tb} replaces {ta}"));
            }
        }
    }
}

/// A probe that turns into an HTTP check of a path the backend may not serve with 200 (a probe
/// that did not change gives none: its path and protocol are the same).
fn path_advice(
    objects: &Objects,
    result: &ServiceResult,
    pa: &ProbeSpec,
    pb: &ProbeSpec,
) -> Option<String> {
    let newly_http = pa.protocol == ProbeProtocol::Tcp
        || pa.path != pb.path
        || pa.protocol == ProbeProtocol::Grpc;
    if !(pb.protocol.is_http_like() && newly_http && pb.lb == LbKind::AzureLb) {
        return None;
    }
    let path = pb.path.as_deref().unwrap_or("/");
    let hint = if looks_like_ingress_nginx(objects, result) {
        " (ingress-nginx answers /healthz with 200, and / with 404)"
    } else {
        ""
    };
    Some(format!(
        "if {path} does not answer 200, Azure marks every node down and the Service is unreachable; \
         set {AZURE_REQUEST_PATH} to a path that answers 200{hint}"
    ))
}

fn looks_like_ingress_nginx(objects: &Objects, result: &ServiceResult) -> bool {
    objects.services.iter().any(|s| {
        crate::model::ObjectRef::from_meta("Service", &s.metadata) == result.object
            && s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/name"))
                .is_some_and(|n| n == "ingress-nginx")
    })
}
