use proptest::prelude::*;

use super::*;
use crate::lb::health::testing::{STEP, secs, table, verdicts};
use crate::lb::health::{EmulationSettings, HealthMachine};
use crate::lb::verdict::testing::spec;
use crate::model::ProbeProtocol::{self, Http, Ssl, Tcp};

fn clb(
    protocol: ProbeProtocol,
    healthy: u32,
    unhealthy: u32,
    draining_s: Option<u32>,
) -> ProbeSpec {
    ProbeSpec {
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        deregistration_delay_s: draining_s,
        ..spec(LbKind::Clb, protocol)
    }
}

fn after(spec: &ProbeSpec, letters: &str) -> ClbMachine {
    let mut m = ClbMachine::new(spec, &ClbHealthSettings::default());
    for (i, v) in verdicts(spec, letters).into_iter().enumerate() {
        m.observe(STEP * (i as u32 + 1), v);
    }
    m
}

#[test]
fn an_instance_is_out_of_service_while_registration_is_in_progress() {
    let m = ClbMachine::new(&clb(Tcp, 2, 6, None), &ClbHealthSettings::default());
    assert_eq!(m.status(), REGISTERING);
    assert_eq!(
        m.status().reason.map(|r| r.to_string()).as_deref(),
        Some("Instance registration is still in progress.")
    );
    assert!(!m.receives_new_flows(secs(1)));
}

#[test]
fn the_healthy_threshold_puts_an_instance_in_service_also_the_first_time() {
    let defaults = EmulationSettings::default();
    for protocol in [Tcp, Http, Ssl] {
        table(
            &clb(protocol, 3, 2, None),
            &defaults,
            &[
                ("SS", "OO"),
                ("SSS", "OOS"),
                ("SSTSSS", "OOOOOS"),
                ("SLSLS", "OOOOS"),
            ],
        );
    }
}

#[test]
fn the_unhealthy_threshold_takes_an_instance_out_and_any_pass_resets_the_count() {
    table(
        &clb(Http, 2, 3, None),
        &EmulationSettings::default(),
        &[
            ("SS TT", "OS SS"),
            ("SS TTT", "OS SSO"),
            ("SS TTSTT", "OS SSSSS"),
            ("SS EEE S", "OS SSO O"),
            ("SS EEE SS", "OS SSO OS"),
        ],
    );
}

#[test]
fn failing_before_the_first_in_service_changes_the_description_to_failed_checks() {
    let spec = clb(Tcp, 2, 2, None);
    let mut m = ClbMachine::new(&spec, &ClbHealthSettings::default());
    let failure = verdicts(&spec, "R")[0];
    assert_eq!(m.observe(STEP, failure), None);
    assert_eq!(
        m.observe(STEP * 2, failure),
        Some(Transition {
            from: LbState::OutOfService,
            to: LbState::OutOfService,
            reason: Some(Reason::InstanceFailedHealthChecks),
            at: STEP * 2,
        })
    );
}

#[test]
fn deregistration_with_draining_stays_in_service_without_new_flows_then_is_not_registered() {
    let mut m = after(&clb(Tcp, 2, 2, Some(60)), "SS");
    assert!(m.receives_new_flows(secs(99)));
    assert_eq!(
        m.deregister(secs(100)),
        Some(Transition {
            from: LbState::InService,
            to: LbState::InService,
            reason: Some(Reason::InstanceDeregistrationInProgress),
            at: secs(100),
        })
    );
    assert!(!m.receives_new_flows(secs(100)));
    assert_eq!(m.routing_state(secs(100)), LbState::OutOfService);
    assert!(!m.is_registered());
    assert_eq!(m.next_deadline(secs(100)), Some(secs(160)));
    assert_eq!(m.observe(secs(159), Verdict::Success), None);
    assert_eq!(
        m.observe(secs(170), Verdict::Success),
        Some(Transition {
            from: LbState::InService,
            to: LbState::OutOfService,
            reason: Some(Reason::InstanceNotRegistered),
            at: secs(160),
        })
    );
    assert_eq!(m.next_deadline(secs(170)), None);
}

#[test]
fn deregistration_without_draining_or_out_of_service_is_immediate() {
    for (draining, letters, from) in [
        (None, "SS", LbState::InService),
        (Some(0), "SS", LbState::InService),
        (Some(300), "", LbState::OutOfService),
    ] {
        let mut m = after(&clb(Tcp, 2, 2, draining), letters);
        assert_eq!(
            m.deregister(secs(100)),
            Some(Transition {
                from,
                to: LbState::OutOfService,
                reason: Some(Reason::InstanceNotRegistered),
                at: secs(100),
            }),
            "{draining:?} {letters}"
        );
        assert_eq!(m.deregister(secs(101)), None);
    }
}

#[test]
fn a_clb_propagation_lag_keeps_new_flows_after_deregistration_when_configured() {
    let spec = clb(Tcp, 2, 2, Some(300));
    let mut m = ClbMachine::new(
        &spec,
        &ClbHealthSettings {
            propagation_lag: secs(20),
        },
    );
    m.observe(secs(5), Verdict::Success);
    m.observe(secs(10), Verdict::Success);
    m.deregister(secs(100));
    assert!(m.receives_new_flows(secs(119)));
    assert_eq!(m.routing_state(secs(119)), LbState::InService);
    assert!(!m.receives_new_flows(secs(120)));
    assert_eq!(m.next_deadline(secs(100)), Some(secs(120)));
}

#[test]
fn registering_again_starts_over_with_registration_in_progress() {
    let mut m = after(&clb(Tcp, 2, 2, None), "SS");
    assert_eq!(m.register(secs(50)), None);
    m.deregister(secs(100));
    assert_eq!(
        m.register(secs(200)).map(|t| t.reason),
        Some(Some(Reason::InstanceRegistrationInProgress))
    );
    assert_eq!(m.observe(secs(205), Verdict::Success), None);
    assert_eq!(
        m.observe(secs(210), Verdict::Success).map(|t| t.to),
        Some(LbState::InService)
    );
}

#[test]
fn clb_health_machine_does_not_count_a_drain_ending_as_a_flap() {
    let spec = clb(Tcp, 1, 1, Some(10));
    let mut m = HealthMachine::for_spec(&spec, &EmulationSettings::default(), Duration::ZERO);
    m.observe(secs(5), Verdict::Success);
    m.deregister(secs(6));
    assert!(m.observe(secs(30), Verdict::Success).is_some());
    assert_eq!(m.flips(secs(30)), 1);
}

proptest! {
    #[test]
    fn clb_transitions_happen_exactly_when_a_run_reaches_its_threshold(
        healthy in 1u32..=6,
        unhealthy in 1u32..=6,
        letters in prop::collection::vec(
            prop_oneof![Just('S'), Just('T'), Just('R'), Just('E'), Just('L')], 0..60),
    ) {
        let spec = clb(Http, healthy, unhealthy, None);
        let mut m = ClbMachine::new(&spec, &ClbHealthSettings::default());
        let (mut passes, mut fails) = (0u32, 0u32);
        for (i, letter) in letters.iter().enumerate() {
            let at = STEP * (i as u32 + 1);
            let verdict = verdicts(&spec, &letter.to_string())[0];
            let before = m.status();
            let t = m.observe(at, verdict);
            match verdict {
                Verdict::Success => { passes += 1; fails = 0 }
                Verdict::Failure { .. } => { fails += 1; passes = 0 }
                Verdict::NotCounted { .. } => {}
            }
            let expected = match before.state {
                LbState::OutOfService if passes == healthy => Some(IN_SERVICE),
                _ if fails == unhealthy && before != FAILED => Some(FAILED),
                _ => None,
            };
            prop_assert_eq!(t.map(|t| Status::new(t.to, t.reason)), expected, "step {} of {:?}", i, letters);
            prop_assert_eq!(m.status().state == LbState::InService, m.receives_new_flows(at));
        }
    }

    #[test]
    fn a_clb_drain_ends_exactly_after_the_draining_timeout(
        draining in 1u32..=3600,
        ticks in prop::collection::vec(0u64..4000, 1..20),
    ) {
        let mut m = after(&clb(Tcp, 1, 1, Some(draining)), "S");
        m.deregister(secs(100));
        let end = secs(100 + u64::from(draining));
        let mut ticks = ticks;
        ticks.sort();
        for dt in ticks {
            let at = secs(100 + dt);
            if let Some(t) = m.tick(at) {
                prop_assert_eq!(t.at, end);
                prop_assert_eq!(t.reason, Some(Reason::InstanceNotRegistered));
            }
            let expected = if at >= end { NOT_REGISTERED } else { DRAINING };
            prop_assert_eq!(m.status(), expected);
            prop_assert!(!m.receives_new_flows(at));
        }
    }
}
