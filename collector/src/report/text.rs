//! The text view: one block per Service, findings first, for a terminal.

use std::fmt::Write;

use super::words::{clock, secs};
use super::{Finding, Latencies, PodDrainReport, Report, ServiceReport, Severity, Stats};
use probesim_agent::clock::rfc3339;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let range = |t: Option<std::time::SystemTime>| t.map_or("…".to_owned(), rfc3339);
    let _ = writeln!(
        out,
        "probesim report {} – {}",
        range(report.from),
        range(report.to)
    );
    if report.services.is_empty() {
        out.push_str("no Service in the range\n");
    }
    for s in &report.services {
        service(&mut out, s);
    }
    for o in &report.node_proxy {
        let _ = writeln!(out, "{}", node_proxy(o));
    }
    for g in &report.gaps {
        let _ = writeln!(
            out,
            "gap: agent {} dropped data {}–{} ({} results, {} transitions, {} lifecycle events): \
             what falls in it is incomplete",
            g.agent,
            clock(g.from),
            clock(g.to),
            g.results,
            g.transitions,
            g.lifecycle
        );
    }
    out
}

/// One outage of the control plane's path to a node, as a sentence.
pub(crate) fn node_proxy(o: &super::NodeProxyOutage) -> String {
    let until = o.to.map_or_else(
        || "still broken".to_owned(),
        |to| format!("until {}", clock(to)),
    );
    format!(
        "error: the API server answered but could not reach node {}'s kubelet from {} ({until}{}) — \
         kubectl logs/exec/port-forward and anything served through the control plane's tunnel \
         fail there; check the tunnel (konnectivity-agent on AKS) and the node's firewall",
        o.node,
        clock(o.from),
        o.error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    )
}

fn service(out: &mut String, s: &ServiceReport) {
    let _ = writeln!(out, "Service {}", s.service);
    for f in &s.findings {
        let _ = writeln!(out, "  {}: {}", severity(f.severity), sentence(f));
    }
    if s.findings.is_empty() {
        let inside = s
            .backends
            .iter()
            .filter(|b| b.rotation == super::Rotation::In)
            .count();
        let _ = writeln!(
            out,
            "  ok: {inside} of {} backends in rotation",
            s.backends.len()
        );
    }
    let several = s.latencies_by_source.len() > 1;
    for p in covered_pods(s) {
        let _ = writeln!(out, "  ok: {}", covered(p, several));
    }
    if several {
        for l in &s.latencies_by_source {
            if let Some(text) = latencies(&l.latencies) {
                let _ = writeln!(
                    out,
                    "  latencies {} (min / median / max over probers): {text}",
                    super::words::source(l.source)
                );
            }
        }
    } else if let Some(l) = latencies(&s.latencies) {
        let _ = writeln!(out, "  latencies (min / median / max over probers): {l}");
    }
}

/// The pods whose preStop covers the drain, measured from the Service's own source or observed.
pub fn covered_pods(s: &ServiceReport) -> impl Iterator<Item = &PodDrainReport> {
    s.pods
        .iter()
        .filter(|p| p.covered == Some(true) && crate::analysis::speaks(p.source, s.source))
}

pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// The finding's message and its advice, in one sentence.
pub fn sentence(f: &Finding) -> String {
    match &f.advice {
        Some(a) => format!("{} — {a}", f.message),
        None => f.message.clone(),
    }
}

/// "pod web-1: preStop covers the drain (...)", naming the source when `several`.
pub fn covered(p: &PodDrainReport, several: bool) -> String {
    let mut s = format!("pod {}: preStop covers the drain", p.pod);
    if let (Some(stopped), Some(lb)) = (p.stopped_accepting_after, p.lb_stops_sending_after) {
        let _ = write!(
            s,
            " (stopped accepting {} after Terminating, {} stopped sending by {})",
            secs(stopped),
            super::words::lb_from(p.lb, p.source, several),
            secs(lb.max)
        );
    }
    s
}

pub fn stats(s: &Stats) -> String {
    format!(
        "{:.1} / {:.1} / {:.1} s (n={})",
        s.min.as_secs_f64(),
        s.median.as_secs_f64(),
        s.max.as_secs_f64(),
        s.count
    )
}

fn latencies(l: &Latencies) -> Option<String> {
    let parts: Vec<String> = [
        ("registration", l.registration),
        ("detection", l.detection),
        ("drain exposure", l.drain_exposure),
    ]
    .iter()
    .filter_map(|(name, s)| s.map(|s| format!("{name} {}", stats(&s))))
    .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
