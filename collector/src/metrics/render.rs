//! The text of `/metrics`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use probesim_agent::lb::outcome::Outcome;

use super::{MAX_SERVICE_LABELS, Metrics};
use crate::model::LATENCY_BUCKETS_MS;
use crate::store::BackendNow;
use crate::store::codec::LB_KINDS;
use crate::timeline::AgentRow;

/// The `service` label of Services beyond [`MAX_SERVICE_LABELS`].
pub const OTHER_SERVICE: &str = "other";

pub fn render(metrics: &Metrics, backends: &[BackendNow], agents: &[AgentRow]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    backend_states(&mut out, backends);
    probes(&mut out, metrics);
    ingest(&mut out, metrics, agents);
    streams(&mut out, metrics);
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn backend_states(out: &mut String, backends: &[BackendNow]) {
    let live: Vec<&BackendNow> = backends
        .iter()
        .filter(|b| b.backend.removed_at.is_none())
        .collect();
    let service_of = |b: &BackendNow| {
        let s = &b.backend.key.service;
        format!("{}/{}", s.namespace, s.name)
    };
    let mut per_service: HashMap<String, usize> = HashMap::new();
    for b in &live {
        *per_service.entry(service_of(b)).or_default() += 1;
    }
    let mut ranked: Vec<(String, usize)> = per_service.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let labelled: HashMap<String, ()> = ranked
        .into_iter()
        .take(MAX_SERVICE_LABELS)
        .map(|(s, _)| (s, ()))
        .collect();

    // Per source too: the node's and the LB's address reading one rule are not summed.
    let mut probers: BTreeMap<(String, &str, &str, &str, &str), u64> = BTreeMap::new();
    let mut views: BTreeMap<(String, &str, &str, &str, &str), u64> = BTreeMap::new();
    for b in &live {
        let mut service = service_of(b);
        if !labelled.contains_key(&service) {
            service = OTHER_SERVICE.to_owned();
        }
        let key = &b.backend.key;
        let (lb, hop, source) = (key.lb.as_str(), key.hop.as_str(), key.source.as_str());
        for (state, n) in &b.now.states {
            *probers
                .entry((service.clone(), lb, hop, source, state.as_str()))
                .or_default() += u64::from(*n);
        }
        let view = match b.now.unanimous() {
            Some(state) => state.as_str(),
            None if b.now.probers == 0 => "unknown",
            None => "mixed",
        };
        *views.entry((service, lb, hop, source, view)).or_default() += 1;
    }
    header(
        out,
        "probesim_backend_probers",
        "gauge",
        "Virtual probers per current LB state, summed over the backends of a Service.",
    );
    for ((service, lb, hop, source, state), n) in &probers {
        let _ = writeln!(
            out,
            "probesim_backend_probers{{lb=\"{lb}\",service=\"{}\",hop=\"{hop}\",source=\"{source}\",state=\"{state}\"}} {n}",
            escape(service)
        );
    }
    header(
        out,
        "probesim_backends",
        "gauge",
        "Backends by the state all their virtual probers agree on (mixed: they disagree; unknown: no transition yet).",
    );
    for ((service, lb, hop, source, view), n) in &views {
        let _ = writeln!(
            out,
            "probesim_backends{{lb=\"{lb}\",service=\"{}\",hop=\"{hop}\",source=\"{source}\",view=\"{view}\"}} {n}",
            escape(service)
        );
    }
}

fn probes(out: &mut String, metrics: &Metrics) {
    let counters = metrics.probes();
    let seen: Vec<(&str, &crate::timeline::RollupAcc)> = LB_KINDS
        .iter()
        .zip(&counters.per_lb)
        .filter(|(_, acc)| acc.total() > 0)
        .map(|(lb, acc)| (lb.as_str(), acc))
        .collect();
    header(
        out,
        "probesim_probes_total",
        "counter",
        "Probe results stored, by what the LB makes of them.",
    );
    for (lb, acc) in &seen {
        for (verdict, n) in [
            ("success", acc.successes),
            ("failure", acc.failures),
            ("not_counted", acc.not_counted),
        ] {
            let _ = writeln!(
                out,
                "probesim_probes_total{{lb=\"{lb}\",verdict=\"{verdict}\"}} {n}"
            );
        }
    }
    header(
        out,
        "probesim_probe_outcomes_total",
        "counter",
        "Probe results stored, by outcome kind.",
    );
    for (lb, acc) in &seen {
        for (kind, n) in Outcome::KINDS.iter().zip(&acc.outcomes) {
            if *n > 0 {
                let _ = writeln!(
                    out,
                    "probesim_probe_outcomes_total{{lb=\"{lb}\",outcome=\"{kind}\"}} {n}"
                );
            }
        }
    }
    header(
        out,
        "probesim_probe_duration_seconds",
        "histogram",
        "Duration of the stored probes.",
    );
    for (lb, acc) in &seen {
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS_MS.iter().zip(&acc.latency) {
            cumulative += n;
            let le = f64::from(*bound) / 1000.0;
            let _ = writeln!(
                out,
                "probesim_probe_duration_seconds_bucket{{lb=\"{lb}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let count = acc.latency.iter().sum::<u64>();
        let sum = acc.latency_sum_us as f64 / 1e6;
        let _ = writeln!(
            out,
            "probesim_probe_duration_seconds_bucket{{lb=\"{lb}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "probesim_probe_duration_seconds_sum{{lb=\"{lb}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "probesim_probe_duration_seconds_count{{lb=\"{lb}\"}} {count}"
        );
    }
}

fn ingest(out: &mut String, metrics: &Metrics, agents: &[AgentRow]) {
    let counters = [
        (
            "probesim_collector_batches_total",
            "Batches stored and acknowledged.",
            &metrics.batches,
        ),
        (
            "probesim_collector_results_total",
            "Probe results stored (as rollups).",
            &metrics.results,
        ),
        (
            "probesim_collector_duplicate_batches_total",
            "Batches already stored, ignored.",
            &metrics.duplicates,
        ),
        (
            "probesim_collector_rejected_batches_total",
            "Batches refused for naming an unknown backend.",
            &metrics.rejected,
        ),
        (
            "probesim_collector_storage_errors_total",
            "Commits that failed.",
            &metrics.storage_errors,
        ),
        (
            "probesim_collector_failed_batches_total",
            "Batches not acknowledged because their commit failed.",
            &metrics.failed_batches,
        ),
        (
            "probesim_collector_flushes_total",
            "Commits of the writer.",
            &metrics.flushes,
        ),
        (
            "probesim_collector_retention_deleted_rows_total",
            "Rows deleted by retention.",
            &metrics.retention_deleted_rows,
        ),
    ];
    for (name, help, counter) in counters {
        header(out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", Metrics::get(counter));
    }
    header(
        out,
        "probesim_collector_flush_seconds_total",
        "counter",
        "Time spent committing.",
    );
    let secs = Metrics::get(&metrics.flush_seconds_micros) as f64 / 1e6;
    let _ = writeln!(out, "probesim_collector_flush_seconds_total {secs}");
    header(
        out,
        "probesim_collector_db_used_bytes",
        "gauge",
        "Bytes of the database in use at the last retention run.",
    );
    let _ = writeln!(
        out,
        "probesim_collector_db_used_bytes {}",
        Metrics::get(&metrics.db_used_bytes)
    );

    header(
        out,
        "probesim_collector_agents",
        "gauge",
        "Agents known, by connection state.",
    );
    let connected = agents.iter().filter(|a| a.connected).count();
    let _ = writeln!(
        out,
        "probesim_collector_agents{{state=\"connected\"}} {connected}"
    );
    let _ = writeln!(
        out,
        "probesim_collector_agents{{state=\"disconnected\"}} {}",
        agents.len() - connected
    );
    header(
        out,
        "probesim_agent_dropped",
        "gauge",
        "What the agents dropped before sending, summed over their counters since each started.",
    );
    let sum = |f: fn(&AgentRow) -> u64| agents.iter().map(f).sum::<u64>();
    let _ = writeln!(
        out,
        "probesim_agent_dropped{{kind=\"results\"}} {}",
        sum(|a| a.dropped.results)
    );
    let _ = writeln!(
        out,
        "probesim_agent_dropped{{kind=\"transitions\"}} {}",
        sum(|a| a.dropped.transitions)
    );
    let _ = writeln!(
        out,
        "probesim_agent_dropped{{kind=\"lifecycle\"}} {}",
        sum(|a| a.dropped.lifecycle)
    );
}

/// The gRPC ingest's own counters: what reached the port, whether or not it was stored.
fn streams(out: &mut String, metrics: &Metrics) {
    let c = metrics.ingest.snapshot();
    header(
        out,
        "probesim_collector_ingest_streams_open",
        "gauge",
        "Agent streams open now.",
    );
    let _ = writeln!(
        out,
        "probesim_collector_ingest_streams_open {}",
        c.streams_open
    );
    let counters = [
        (
            "probesim_collector_ingest_streams_total",
            "Agent streams that began with a valid hello.",
            c.streams,
        ),
        (
            "probesim_collector_ingest_received_bytes_total",
            "Encoded bytes of the batches received, resends included.",
            c.bytes,
        ),
        (
            "probesim_collector_ingest_duplicate_batches_total",
            "Batches resent by agents (after a reconnect) and acknowledged without storing again.",
            c.duplicates,
        ),
        (
            "probesim_collector_ingest_decode_errors_total",
            "Messages that were not valid protobuf, too large, or held a bad value; their stream ended.",
            c.decode_errors,
        ),
        (
            "probesim_collector_ingest_protocol_errors_total",
            "Streams that broke the protocol (no hello first, a second hello).",
            c.protocol_errors,
        ),
        (
            "probesim_collector_ingest_sink_errors_total",
            "Batches the store refused (not acknowledged; the agent resends them).",
            c.sink_errors,
        ),
    ];
    for (name, help, value) in counters {
        header(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
}

#[cfg(test)]
mod tests;
