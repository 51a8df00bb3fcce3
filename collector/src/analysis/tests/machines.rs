//! Timelines produced by the agent's own LB state machines rather than written by hand: the
//! analysis must read the machines' transitions the way they are meant.

use std::time::Duration;

use probesim_agent::event::{Hop, LifecycleKind, StateChange};
use probesim_agent::lb::health::{EmulationSettings, HealthMachine};
use probesim_agent::lb::verdict::{Reason, Verdict};
use probesim_agent::model::{LbKind, ProbeProtocol};

use super::super::testing::*;
use super::{only_service, report};
use crate::model::Rollup;
use crate::report::Stats;

/// K virtual probers evenly phased over the interval probe a backend that serves until `stop`
/// (seconds after T0), up to `end`; returns the backend with the machines' changes and the
/// per-second rollups of the same probes.
fn simulate(b: B, k: u32, stop: f64, end: f64) -> B {
    let spec = b.0.spec.clone();
    let interval = f64::from(spec.interval_s);
    let settings = EmulationSettings::default();
    let mut b = b;
    let mut seconds: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    for p in 0..k {
        let mut machine = HealthMachine::for_spec(&spec, &settings, Duration::ZERO);
        let mut t = interval * f64::from(p) / f64::from(k);
        while t < end {
            let verdict = if t < stop {
                Verdict::Success
            } else {
                Verdict::Failure {
                    reason: Reason::TargetFailedHealthChecks,
                }
            };
            let second = seconds.entry(t as u64).or_default();
            if verdict.is_success() {
                second.0 += 1;
            } else {
                second.1 += 1;
            }
            if let Some(tr) = machine.observe(Duration::from_secs_f64(t), verdict) {
                b.0.changes.push(StateChange {
                    backend: 1,
                    prober: p,
                    from: tr.from,
                    to: tr.to,
                    reason: tr.reason,
                    at: at(tr.at.as_secs_f64()),
                });
            }
            t += interval;
        }
    }
    b.0.changes.sort_by_key(|c| c.at);
    b.0.rollups = seconds
        .into_iter()
        .map(|(s, (ok, failed))| Rollup {
            second: T0 + s,
            successes: ok,
            failures: failed,
            not_counted: 0,
            outcomes: vec![("connected".to_owned(), ok), ("refused".to_owned(), failed)],
            latency: Vec::new(),
        })
        .collect();
    b
}

#[test]
fn alb_machines_registration_and_detection_match_the_hand_computed_timeline() {
    // Interval 10, thresholds 2/2, five probers at phases 0, 2, 4, 6, 8. Healthy at each
    // prober's first probe (one pass for ALB); the pod stops at 73: first failures at 74, 76,
    // 78, 80, 82, unhealthy one interval later (84..92). Onset 74: within one probe period
    // (2 s) of the real stop.
    let alb = spec(LbKind::Alb, ProbeProtocol::Http, Some("/healthz"), 8080);
    let b =
        B::new("default/web", "node-1", Hop::Lb, alb, 5).pod("default/web-1", "10.244.1.7:8080");
    let b = simulate(b, 5, 73.0, 150.0);
    let ready = event(
        LifecycleKind::PodReady,
        ("Pod", "default", "web-1"),
        Some(0.0),
        0.0,
        &[],
    );
    let r = report(&history(vec![b.build()], vec![ready]));
    let s = only_service(&r);
    let stats = |min: f64, median: f64, max: f64| {
        Some(Stats {
            count: 5,
            min: secs(min),
            median: secs(median),
            max: secs(max),
        })
    };
    assert_eq!(s.latencies.registration, stats(0.0, 4.0, 8.0));
    assert_eq!(s.latencies.detection, stats(10.0, 14.0, 18.0));
    assert_eq!(s.backends[0].failing_since, Some(at(74.0)));
}

#[test]
fn azure_tcp_machines_detection_counts_from_the_first_failure() {
    // Interval 5, threshold 2, five probers one second apart; stop at 20.5: first failures at
    // 21..25, down one interval later (26..30).
    let tcp = spec(LbKind::AzureLb, ProbeProtocol::Tcp, None, 31_000);
    let b = simulate(
        B::new("default/web", "node-1", Hop::Lb, tcp, 5),
        5,
        20.5,
        60.0,
    );
    let r = report(&history(vec![b.build()], Vec::new()));
    let d = only_service(&r).latencies.detection.unwrap();
    assert_eq!(
        (d.min, d.median, d.max, d.count),
        (secs(5.0), secs(7.0), secs(9.0), 5)
    );
}
