//! The markdown view: the text view's sentences under headings, and tables of latencies, pod
//! verdicts and node windows.

use std::fmt::Write;

use super::text::{covered, covered_pods, sentence, severity, stats};
use super::words::{clock, lb, secs};
use super::{Report, ServiceReport};
use probesim_agent::clock::rfc3339;
use probesim_agent::event::SourceMode;

pub fn render(report: &Report) -> String {
    let mut out = String::from("# probesim report\n\n");
    let range = |t: Option<std::time::SystemTime>| t.map_or("…".to_owned(), rfc3339);
    let _ = writeln!(out, "Range: {} – {}", range(report.from), range(report.to));
    if report.services.is_empty() {
        out.push_str("\nNo Service in the range.\n");
    }
    for s in &report.services {
        service(&mut out, s);
    }
    if !report.node_proxy.is_empty() {
        out.push_str("\n## Control plane → kubelet\n\n");
        for o in &report.node_proxy {
            let _ = writeln!(out, "- {}", super::text::node_proxy(o));
        }
    }
    if !report.gaps.is_empty() {
        out.push_str("\n## Gaps\n\n| agent | from | to | results dropped |\n|---|---|---|---|\n");
        for g in &report.gaps {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                g.agent,
                clock(g.from),
                clock(g.to),
                g.results
            );
        }
    }
    out
}

fn service(out: &mut String, s: &ServiceReport) {
    let _ = writeln!(out, "\n## Service `{}`\n", s.service);
    for f in &s.findings {
        let _ = writeln!(out, "- **{}**: {}", severity(f.severity), sentence(f));
    }
    let several = s.latencies_by_source.len() > 1;
    for p in covered_pods(s) {
        let _ = writeln!(out, "- **ok**: {}", covered(p, several));
    }
    if s.findings.is_empty() {
        let _ = writeln!(out, "- **ok**: no finding");
    }
    // One source: the table as it always was; several: a source column.
    let per_source: Vec<(Option<SourceMode>, super::Latencies)> = if several {
        s.latencies_by_source
            .iter()
            .map(|l| (Some(l.source), l.latencies))
            .collect()
    } else {
        vec![(None, s.latencies)]
    };
    let rows: Vec<(Option<SourceMode>, &str, super::Stats)> = per_source
        .iter()
        .flat_map(|(source, l)| {
            [
                ("registration", l.registration),
                ("detection", l.detection),
                ("drain exposure", l.drain_exposure),
            ]
            .into_iter()
            .filter_map(move |(n, st)| st.map(|st| (*source, n, st)))
        })
        .collect();
    if !rows.is_empty() {
        let head = if several { "| source " } else { "" };
        let rule = if several { "|---" } else { "" };
        let _ = write!(
            out,
            "\n{head}| latency | min / median / max over probers |\n{rule}|---|---|\n"
        );
        for (source, name, st) in rows {
            let source = source.map_or(String::new(), |s| format!("| {} ", s.as_str()));
            let _ = writeln!(out, "{source}| {name} | {} |", stats(&st));
        }
    }
    let source_cell = |m: SourceMode| {
        if several {
            format!(" ({})", m.as_str())
        } else {
            String::new()
        }
    };
    if !s.pods.is_empty() {
        out.push_str(
            "\n| pod | grace | preStop | stopped accepting | LB stops sending (max) | exposed |\n\
             |---|---|---|---|---|---|\n",
        );
        for p in &s.pods {
            let opt = |d: Option<std::time::Duration>| d.map_or("?".to_owned(), secs);
            let _ = writeln!(
                out,
                "| {}{} | {} | {} | {} | {} | {} |",
                p.pod,
                source_cell(p.source),
                p.grace_period_s
                    .map_or("?".to_owned(), |g| format!("{g} s")),
                p.pre_stop.as_deref().unwrap_or("none"),
                opt(p.stopped_accepting_after),
                opt(p.lb_stops_sending_after.map(|s| s.max)),
                opt(p.pre_stop_short_by),
            );
        }
    }
    if !s.node_windows.is_empty() {
        out.push_str("\n| node | LB | from | cause | in rotation (max) |\n|---|---|---|---|---|\n");
        for w in &s.node_windows {
            let _ = writeln!(
                out,
                "| {} | {}{} | {} | {} | {}{} |",
                w.node,
                lb(w.lb),
                source_cell(w.source),
                clock(w.from),
                w.cause,
                secs(w.in_rotation.max),
                if w.open { " (open)" } else { "" }
            );
        }
    }
}
