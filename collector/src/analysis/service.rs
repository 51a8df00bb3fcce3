//! One Service's report: its backends, latencies, versions, hops, drains and node windows, and
//! the findings that sum them up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use probesim_agent::event::{Hop, SourceMode};

use super::lifecycle::Moments;
use super::{
    AnalysisConfig, Backend, drain, hops, latency, nodes, primary_source, speaks, versions,
};
use crate::report::{
    BackendReport, EndpointsReport, Finding, FindingKind, Latencies, ServiceReport, Severity,
    SourceLatencies, Stats, words,
};

/// Registration, detection and drain exposure samples.
type Samples = [Vec<Duration>; 3];

pub fn report(
    name: &str,
    backends: &[&Backend<'_>],
    moments: &Moments,
    config: &AnalysisConfig,
    range_end: SystemTime,
) -> ServiceReport {
    let pod_hops: Vec<&Backend<'_>> = backends
        .iter()
        .copied()
        .filter(|b| b.history.key.hop == Hop::Pod)
        .collect();
    let node_ports: Vec<&Backend<'_>> = backends
        .iter()
        .copied()
        .filter(|b| b.history.key.hop == Hop::NodePort && !b.history.key.version.what_if)
        .collect();
    let sources: BTreeSet<SourceMode> = backends.iter().map(|b| b.history.key.source).collect();
    let several = sources.len() > 1;
    let primary = primary_source(sources.iter().copied());
    let mut all: BTreeMap<SourceMode, Samples> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut pods = Vec::new();
    let mut node_windows = Vec::new();
    for b in backends {
        let key = &b.history.key;
        let registration = latency::registration(b, moments);
        let detection = latency::detection(b);
        let drained = if key.version.what_if {
            None
        } else {
            drain::drain(b, &pod_hops, moments, config)
        };
        let exposure = drained
            .as_ref()
            .map(|d| d.exposure.clone())
            .unwrap_or_default();
        if !key.version.what_if {
            let pooled = all.entry(key.source).or_default();
            pooled[0].extend(registration.iter().copied());
            pooled[1].extend(detection.iter().copied());
            pooled[2].extend(exposure.iter().copied());
            node_windows.extend(nodes::windows(
                b,
                &node_ports,
                moments.nodes_deleted.get(&key.node).copied(),
                config.propagation_lag(key.lb),
                range_end,
            ));
        }
        pods.extend(drained.map(|d| d.report));
        let rotation = b.rotation();
        rows.push(BackendReport {
            agent: b.history.agent.to_string(),
            node: key.node.clone(),
            target: key.target.to_string(),
            target_kind: key.target_kind,
            pod: key.pod.clone(),
            hop: key.hop.as_str().to_owned(),
            source: key.source,
            lb: key.lb,
            port: key.port,
            version: key.version.version.clone(),
            what_if: key.version.what_if,
            probers: b.history.probers,
            rotation,
            reason: matches!(
                rotation,
                crate::report::Rotation::Out | crate::report::Rotation::Mixed
            )
            .then(|| versions::out_reason(b))
            .flatten(),
            failing_since: b.failing_since(),
            latencies: Latencies {
                registration: Stats::of(registration),
                detection: Stats::of(detection),
                drain_exposure: Stats::of(exposure),
            },
        });
    }
    let latencies_by_source: Vec<SourceLatencies> = all
        .into_iter()
        .map(|(source, samples)| SourceLatencies {
            source,
            latencies: latencies(samples),
        })
        .collect();
    let endpoints = moments.endpoints.get(name);
    // What stands at the end: backends still probed, still registered, whose pod is not
    // going away. A rollout's old pods are the drain's matter, not backends out.
    let live: Vec<&Backend<'_>> = backends
        .iter()
        .copied()
        .filter(|b| b.is_live(moments))
        .collect();
    let hop_reports = hops::hops(&live);
    let mut findings = versions::findings(name, &live);
    findings.extend(hops::findings(name, &hop_reports, endpoints, primary));
    findings.extend(
        pods.iter()
            .filter(|p| speaks(p.source, primary))
            .filter_map(|p| drain_finding(p, several)),
    );
    let windows = node_windows.iter().filter(|w| speaks(w.source, primary));
    findings.extend(windows.map(|w| Finding {
        severity: Severity::Warning,
        kind: FindingKind::NodeWindow,
        message: format!(
            "node {} stayed in {} for {} (max over probers{}) after {} at {}",
            w.node,
            words::rotation(w.lb, w.source, several),
            words::secs(w.in_rotation.max),
            if w.open { ", still in at the end" } else { "" },
            w.cause,
            words::clock(w.from)
        ),
        advice: None,
    }));
    findings.sort_by_key(|f| f.severity);
    let objects: BTreeSet<String> = backends
        .iter()
        .map(|b| b.history.key.object.to_string())
        .collect();
    ServiceReport {
        service: name.to_owned(),
        objects: objects.into_iter().collect(),
        findings,
        source: primary,
        latencies: latencies_by_source
            .iter()
            .find(|l| Some(l.source) == primary)
            .map(|l| l.latencies)
            .unwrap_or_default(),
        latencies_by_source,
        versions: versions::versions(&live),
        endpoints: endpoints.map(|e| EndpointsReport {
            ready: e.ready,
            total: e.total,
            selector: e.selector.clone(),
            at: e.at,
        }),
        first_failing_hop: primary
            .and_then(|p| hops::first_failing(&hop_reports, p))
            .map(|h| h.hop.clone()),
        hops: hop_reports,
        backends: rows,
        pods,
        node_windows,
    }
}

fn latencies([registration, detection, exposure]: Samples) -> Latencies {
    Latencies {
        registration: Stats::of(registration),
        detection: Stats::of(detection),
        drain_exposure: Stats::of(exposure),
    }
}

/// The preStop verdict of a pod, naming the source when the Service has several: "pod web-7d9
/// stopped accepting 4.1 s after Terminating; the ALB may send new requests until 17.2 s (max
/// over probers): 13.1 s exposed — raise preStop to ≥ 18 s".
fn drain_finding(p: &crate::report::PodDrainReport, several: bool) -> Option<Finding> {
    let stopped = p.stopped_accepting_after?;
    let until = p.lb_stops_sending_after?;
    let exposed = p.pre_stop_short_by.filter(|d| *d > Duration::ZERO)?;
    let mut advice = Vec::new();
    if let Some(n) = p.needed_pre_stop_s {
        advice.push(format!("raise preStop to ≥ {n} s"));
    }
    if let (Some(n), Some(short)) = (p.needed_grace_period_s, p.grace_short_by)
        && !short.is_zero()
    {
        advice.push(format!("terminationGracePeriodSeconds to ≥ {n} s"));
    }
    let advice = (!advice.is_empty()).then(|| advice.join(" and "));
    let message = format!(
        "pod {} stopped accepting {} after Terminating; {} may send new requests until {} \
         (max over probers): {} exposed",
        p.pod,
        words::secs(stopped),
        words::lb_from(p.lb, p.source, several),
        words::secs(until.max),
        words::secs(exposed)
    );
    Some(Finding {
        severity: Severity::Warning,
        kind: FindingKind::DrainExposure,
        message,
        advice,
    })
}
