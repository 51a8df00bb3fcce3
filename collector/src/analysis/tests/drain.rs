//! S4: an ALB in ip mode drains a terminating pod; does its preStop cover the drain?
//!
//! Timeline (seconds after T0): pod Ready at 10, delete request at 100 with a grace period of
//! 30 s (deletionTimestamp 130), its endpoint turns terminating at 100.5; ten virtual probers
//! with an interval of 10 s, prober `i` probing at `i + 10n`.

use probesim_agent::event::{Hop, Lifecycle, LifecycleKind};
use probesim_agent::lb::health::LbState::{Draining, Healthy, Initial, Unhealthy};
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{LbKind, ProbeProtocol};

use super::super::testing::*;
use super::super::{AnalysisConfig, analyze};
use super::{only_service, report};
use crate::report::{FindingKind, PodDrainReport, Stats};

const POD: &str = "default/web-7d9";
const IP: &str = "10.244.1.7:8080";

pub(super) fn lifecycle(grace: &str, pre_stop: &str) -> Vec<Lifecycle> {
    let pod = ("Pod", "default", "web-7d9");
    let mut ready = event(LifecycleKind::PodReady, pod, Some(10.0), 10.3, &[]);
    let mut term = event(
        LifecycleKind::PodTerminating,
        pod,
        Some(100.0 + grace.parse::<f64>().unwrap()),
        100.0,
        &[("grace_period_s", grace), ("pre_stop", pre_stop)],
    );
    let mut endpoint = event(
        LifecycleKind::EndpointConditions,
        ("EndpointSlice", "default", "web-abc"),
        None,
        100.5,
        &[
            ("ready", "false"),
            ("serving", "true"),
            ("terminating", "true"),
        ],
    );
    for l in [&mut ready, &mut term, &mut endpoint] {
        l.address = Some("10.244.1.7".parse().unwrap());
    }
    vec![ready, term, endpoint]
}

/// The pod's ALB backend: registered on Ready (prober `i` healthy at `11 + i`), serving until
/// `stop`, refusing after.
pub(super) fn alb(stop: u64) -> B {
    let mut b = B::new(
        "default/web",
        "node-1",
        Hop::Lb,
        spec(
            LbKind::Alb,
            ProbeProtocol::Http,
            Some("/healthz/ready"),
            8080,
        ),
        10,
    )
    .pod(POD, IP)
    .seconds(0, stop, 1, 0, "")
    .seconds(stop, 200, 0, 1, "refused");
    for i in 0..10 {
        b = b.change(i, Initial, Healthy, None, 11.0 + f64::from(i));
    }
    b
}

fn drain_of(h: &crate::model::History) -> PodDrainReport {
    let r = report(h);
    let s = only_service(&r);
    assert_eq!(s.pods.len(), 1, "{:#?}", s.pods);
    s.pods[0].clone()
}

fn stats(min: f64, median: f64, max: f64, count: usize) -> Option<Stats> {
    Some(Stats {
        count,
        min: secs(min),
        median: secs(median),
        max: secs(max),
    })
}

#[test]
fn s4_short_pre_stop_with_the_agents_draining_is_exposed_until_the_propagation_lag_ends() {
    let mut b = alb(115);
    for i in 0..10 {
        b = b.change(
            i,
            Healthy,
            Draining,
            Some(Reason::TargetDeregistrationInProgress),
            101.0,
        );
    }
    let h = history(vec![b.build()], lifecycle("30", "sleep 15"));
    let p = drain_of(&h);
    assert_eq!(p.terminating_at, at(100.0));
    assert_eq!(p.stopped_accepting_after, Some(secs(15.0)));
    // Draining at 101 + the ALB's default propagation lag of 30 s.
    assert_eq!(p.lb_stops_sending_after, stats(31.0, 31.0, 31.0, 10));
    assert_eq!(p.exposure, stats(16.0, 16.0, 16.0, 10));
    assert_eq!(p.covered, Some(false));
    assert_eq!(p.needed_pre_stop_s, Some(31));
    assert_eq!(p.needed_grace_period_s, Some(36));
    assert_eq!(p.grace_short_by, Some(secs(6.0)));
    let r = report(&h);
    let s = only_service(&r);
    let f = s
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::DrainExposure)
        .unwrap();
    assert_eq!(
        f.message,
        "pod default/web-7d9 stopped accepting 15.0 s after Terminating; the ALB may send new \
         requests until 31.0 s (max over probers): 16.0 s exposed"
    );
    assert_eq!(
        f.advice.as_deref(),
        Some("raise preStop to ≥ 31 s and terminationGracePeriodSeconds to ≥ 36 s")
    );
    assert_eq!(s.latencies.drain_exposure, stats(16.0, 16.0, 16.0, 10));
    // Ready at 10.3 (the agent saw it within the timestamp's second): healthy at 11..20.
    assert_eq!(s.latencies.registration, stats(0.7, 4.7, 9.7, 10));
}

#[test]
fn s4_without_the_agents_draining_the_endpoint_event_deregisters_and_earlier_health_exits_count() {
    // No preStop: the pod refuses from 102. The agent's machines did not deregister; they mark
    // the pod unhealthy after two failures (prober i fails first at 102 + (i + 8) mod 10, then
    // 10 s later). The controller deregisters 20 s after the endpoint event (100.5 + 20), and
    // the ALB keeps sending until 150.5 to targets that were healthy then; health checks no
    // longer count after the deregistration.
    let mut b = alb(102);
    for i in 0..10u32 {
        let first = 102 + (i + 8) % 10;
        b = b.change(
            i,
            Healthy,
            Unhealthy,
            Some(Reason::TargetFailedHealthChecks),
            f64::from(first + 10),
        );
    }
    let h = history(vec![b.build()], lifecycle("30", "none"));
    let config = AnalysisConfig {
        deregistration_reaction: secs(20.0),
        ..AnalysisConfig::default()
    };
    let r = analyze(&h, &config);
    let p = &only_service(&r).pods[0];
    assert_eq!(p.stopped_accepting_after, Some(secs(2.0)));
    // Ends: 112..=120 by health for nine probers, 150.5 by the lag for the last one.
    assert_eq!(p.lb_stops_sending_after, stats(12.0, 16.0, 50.5, 10));
    assert_eq!(p.exposure, stats(10.0, 14.0, 48.5, 10));
    assert_eq!(p.needed_pre_stop_s, Some(51));
}

#[test]
fn s4_pre_stop_longer_than_the_drain_is_covered_and_says_so() {
    let mut b = alb(140);
    for i in 0..10 {
        b = b.change(
            i,
            Healthy,
            Draining,
            Some(Reason::TargetDeregistrationInProgress),
            101.0,
        );
    }
    let h = history(vec![b.build()], lifecycle("60", "sleep 40"));
    let p = drain_of(&h);
    assert_eq!(p.terminating_at, at(100.0));
    assert_eq!(p.stopped_accepting_after, Some(secs(40.0)));
    assert_eq!(p.exposure, stats(0.0, 0.0, 0.0, 10));
    assert_eq!(p.covered, Some(true));
    assert_eq!(p.grace_short_by, Some(secs(0.0)));
    let r = report(&h);
    assert!(
        only_service(&r)
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::DrainExposure)
    );
}

#[test]
fn s4_pod_that_never_stopped_accepting_in_the_range_has_no_exposure_but_a_note() {
    let mut b = alb(200);
    b.0.removed_at = Some(at(150.0));
    for i in 0..10 {
        b = b.change(
            i,
            Healthy,
            Draining,
            Some(Reason::TargetDeregistrationInProgress),
            101.0,
        );
    }
    let p = drain_of(&history(vec![b.build()], lifecycle("30", "sleep 15")));
    assert_eq!(p.stopped_accepting_after, None);
    assert_eq!(p.exposure, None);
    assert_eq!(p.covered, None);
    assert_eq!(p.lb_stops_sending_after, stats(31.0, 31.0, 31.0, 10));
    assert!(
        p.note
            .unwrap()
            .contains("no failed probe after Terminating")
    );
}

#[test]
fn terminating_moment_is_the_delete_request_deletion_timestamp_minus_grace() {
    // The agent saw it 3 s late: the timestamp's second wins over the late sighting.
    let mut l = lifecycle("30", "sleep 15");
    l[1].seen_at = at(103.0);
    let mut b = alb(115);
    for i in 0..10 {
        b = b.change(i, Healthy, Draining, None, 101.0);
    }
    assert_eq!(
        drain_of(&history(vec![b.build()], l)).terminating_at,
        at(100.0)
    );
}

#[test]
fn s4_rollout_old_pods_are_not_reported_as_backends_out() {
    let mut old = alb(115);
    for i in 0..10 {
        old = old.change(
            i,
            Healthy,
            Unhealthy,
            Some(Reason::TargetFailedHealthChecks),
            130.0,
        );
    }
    let mut new = B::new(
        "default/web",
        "node-1",
        Hop::Lb,
        spec(
            LbKind::Alb,
            ProbeProtocol::Http,
            Some("/healthz/ready"),
            8080,
        ),
        10,
    )
    .pod("default/web-new", "10.244.1.9:8080")
    .seconds(90, 200, 1, 0, "");
    for i in 0..10 {
        new = new.change(i, Initial, Healthy, None, 95.0);
    }
    let r = report(&history(
        vec![old.build(), new.build()],
        lifecycle("30", "sleep 15"),
    ));
    let s = only_service(&r);
    assert!(
        s.findings
            .iter()
            .all(|f| f.kind == FindingKind::DrainExposure),
        "{:#?}",
        s.findings
    );
    assert_eq!(s.versions[0].backends, 1);
}
