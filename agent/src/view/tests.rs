use super::*;
use crate::lb::outcome::{Outcome, Phase};
use crate::model::{LbKind, ProbePort, ProbeProtocol, TargetKind, WireDetails};
use crate::probe::{Measurement, Timings};

fn azure_http() -> Arc<ProbeSpec> {
    Arc::new(ProbeSpec {
        lb: LbKind::AzureLb,
        protocol: ProbeProtocol::Http,
        port: ProbePort::Number(32271),
        path: Some("/".into()),
        interval_s: 5,
        timeout_s: 5,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: None,
        target: TargetKind::Node,
        wire: WireDetails::for_lb(LbKind::AzureLb),
        deregistration_delay_s: None,
    })
}

fn record(
    view: &LbView,
    prober: u32,
    probers: u32,
    after_ms: u64,
    outcome: Outcome,
) -> ProbeRecord {
    ProbeRecord {
        target: 1,
        generation: 0,
        prober,
        slot: u64::from(prober),
        probers,
        due: view.epoch + Duration::from_millis(after_ms),
        lateness: Duration::ZERO,
        started_at: SystemTime::now(),
        measurement: Measurement {
            outcome,
            timings: Timings {
                total: Duration::from_millis(3),
                ..Timings::default()
            },
        },
    }
}

#[test]
fn each_virtual_prober_drives_its_own_machine_and_azure_http_decides_at_once() {
    let mut view = LbView::new(EmulationSettings::default());
    view.add(1, azure_http());
    // Prober 0 sees 200: up at once. Prober 1 sees 404: stays down (it starts down).
    let up = view
        .observe(&record(&view, 0, 2, 100, Outcome::HttpStatus(200)))
        .expect("known");
    assert!(up.verdict.is_success());
    let t = up.transition.expect("first success marks up");
    assert_eq!((t.from, t.to), (LbState::Down, LbState::Up));
    assert_eq!(
        t.at,
        Duration::from_millis(103),
        "stamped when the answer arrived"
    );
    let still = view
        .observe(&record(&view, 1, 2, 2_600, Outcome::HttpStatus(404)))
        .expect("known");
    assert!(still.verdict.is_failure() && still.transition.is_none());

    let summary = view.summary(1).expect("summary");
    assert_eq!(summary.probers, 2);
    assert_eq!(summary.unanimous(), None);
    // A 404 on prober 0 takes it down at once, without waiting for a threshold.
    let down = view
        .observe(&record(&view, 0, 2, 5_100, Outcome::HttpStatus(404)))
        .expect("known");
    assert_eq!(down.transition.map(|t| t.to), Some(LbState::Down));
    let summary = view.summary(1).expect("summary");
    assert_eq!(summary.unanimous(), Some(LbState::Down));
    let (_, earliest, latest) = summary
        .since
        .iter()
        .find(|s| s.0 == LbState::Down)
        .copied()
        .expect("down");
    assert!(earliest <= latest);
    assert_eq!(latest, Duration::from_millis(5_103));
}

#[test]
fn timeouts_count_towards_the_threshold_and_local_failures_not_at_all() {
    let mut view = LbView::new(EmulationSettings::default());
    view.add(1, azure_http());
    view.observe(&record(&view, 0, 1, 0, Outcome::HttpStatus(200)));
    let timeout = Outcome::Timeout {
        phase: Phase::Response,
    };
    let local = Outcome::Local(crate::lb::outcome::LocalFailure::EphemeralPortsExhausted);
    let first = view
        .observe(&record(&view, 0, 1, 5_000, timeout))
        .expect("known");
    assert!(
        first.transition.is_none(),
        "one timeout of a threshold of 2"
    );
    let skipped = view
        .observe(&record(&view, 0, 1, 10_000, local))
        .expect("known");
    assert!(!skipped.verdict.is_counted() && skipped.transition.is_none());
    let second = view
        .observe(&record(&view, 0, 1, 15_000, timeout))
        .expect("known");
    assert_eq!(second.transition.map(|t| t.to), Some(LbState::Down));
}

#[test]
fn results_of_removed_targets_are_ignored() {
    let mut view = LbView::new(EmulationSettings::default());
    view.add(1, azure_http());
    view.remove(1);
    assert!(
        view.observe(&record(&view, 0, 1, 0, Outcome::HttpStatus(200)))
            .is_none()
    );
    assert!(view.summary(1).is_none());
}
