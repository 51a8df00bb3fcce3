use std::sync::Arc;
use std::time::SystemTime;

use probesim_agent::lb::health::LbState;

use super::*;
use crate::store::synthetic;
use crate::timeline::{BackendRow, NowSummary};

fn backend_now(id: i64, service: &str, states: Vec<(LbState, u32)>) -> BackendNow {
    let declared = synthetic::backend(id as u64, service, "node-1", 1);
    BackendNow {
        backend: BackendRow {
            id,
            agent: synthetic::agent_id("node-1"),
            key: Arc::new(declared.key.clone()),
            spec: declared.spec.clone(),
            probers: declared.probers,
            also_for: Vec::new(),
            first_seen: SystemTime::UNIX_EPOCH,
            removed_at: None,
        },
        now: NowSummary {
            probers: states.iter().map(|(_, n)| n).sum(),
            states,
            ..NowSummary::default()
        },
    }
}

#[test]
fn services_beyond_the_label_limit_are_summed_under_other() {
    // One big Service and more small ones than there are labels.
    let mut backends: Vec<BackendNow> = (0..3)
        .map(|i| backend_now(i, "big", vec![(LbState::Healthy, 8)]))
        .collect();
    for i in 0..MAX_SERVICE_LABELS as i64 + 10 {
        backends.push(backend_now(
            100 + i,
            &format!("s{i:04}"),
            vec![(LbState::Unhealthy, 8)],
        ));
    }
    let text = render(&Metrics::default(), &backends, &[]);
    let services: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("probesim_backend_probers{"))
        .filter_map(|l| l.split("service=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(services.len(), MAX_SERVICE_LABELS + 1);
    assert!(
        services.contains("default/big"),
        "the largest Service keeps its label"
    );
    assert!(services.contains(OTHER_SERVICE));
    // 11 small Services did not make it: 8 probers each, all unhealthy, under "other".
    let other = "probesim_backend_probers{lb=\"alb\",service=\"other\",hop=\"lb\",source=\"node\",state=\"unhealthy\"} 88";
    assert!(text.lines().any(|l| l == other), "{other}");
}

#[test]
fn the_same_rule_probed_from_two_sources_is_counted_per_source_not_summed() {
    let mut lb_source = backend_now(2, "web", vec![(LbState::Unhealthy, 8)]);
    let mut key = (*lb_source.backend.key).clone();
    key.source = probesim_agent::event::SourceMode::LbSource;
    lb_source.backend.key = Arc::new(key);
    let backends = vec![
        backend_now(1, "web", vec![(LbState::Healthy, 8)]),
        lb_source,
    ];
    let text = render(&Metrics::default(), &backends, &[]);
    for (source, view) in [("node", "healthy"), ("lb-source", "unhealthy")] {
        let line = format!(
            "probesim_backends{{lb=\"alb\",service=\"default/web\",hop=\"lb\",source=\"{source}\",view=\"{view}\"}} 1"
        );
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
}

#[test]
fn a_backend_with_disagreeing_probers_is_mixed_and_one_without_transitions_unknown() {
    let backends = vec![
        backend_now(
            1,
            "web",
            vec![(LbState::Healthy, 6), (LbState::Unhealthy, 2)],
        ),
        backend_now(2, "web", vec![]),
        backend_now(3, "web", vec![(LbState::Healthy, 8)]),
    ];
    let text = render(&Metrics::default(), &backends, &[]);
    for view in ["mixed", "unknown", "healthy"] {
        let line = format!(
            "probesim_backends{{lb=\"alb\",service=\"default/web\",hop=\"lb\",source=\"node\",view=\"{view}\"}} 1"
        );
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
}

#[test]
fn every_sample_line_belongs_to_a_declared_metric_family() {
    let backends = vec![backend_now(1, "web", vec![(LbState::Healthy, 8)])];
    let text = render(&Metrics::default(), &backends, &[]);
    let declared: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| declared.contains(f))
            .unwrap_or(name);
        assert!(declared.contains(&family), "{line}");
    }
}

#[test]
fn ingest_stream_counters_are_rendered_from_the_shared_ingest_metrics() {
    use std::sync::atomic::Ordering::Relaxed;
    let metrics = Metrics::default();
    metrics.ingest.streams_open.fetch_add(3, Relaxed);
    metrics.ingest.decode_errors.fetch_add(2, Relaxed);
    metrics.ingest.bytes.fetch_add(4096, Relaxed);
    let text = render(&metrics, &[], &[]);
    for line in [
        "probesim_collector_ingest_streams_open 3",
        "probesim_collector_ingest_decode_errors_total 2",
        "probesim_collector_ingest_received_bytes_total 4096",
        "probesim_collector_ingest_protocol_errors_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
}
