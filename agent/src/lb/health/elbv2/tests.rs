use proptest::prelude::*;

use super::*;
use crate::lb::health::testing::{STEP, secs, table, verdicts};
use crate::lb::health::{EmulationSettings, Passes};
use crate::lb::outcome::{Outcome, Phase};
use crate::lb::verdict::judge;
use crate::lb::verdict::testing::spec;
use crate::model::ProbeProtocol::{self, Grpc, Http, Tcp};

fn target_group(lb: LbKind, protocol: ProbeProtocol, healthy: u32, unhealthy: u32) -> ProbeSpec {
    ProbeSpec {
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        ..spec(lb, protocol)
    }
}

fn with_delay(spec: ProbeSpec, delay_s: u32) -> ProbeSpec {
    ProbeSpec {
        deregistration_delay_s: Some(delay_s),
        ..spec
    }
}

fn alb() -> Elbv2HealthSettings {
    Elbv2HealthSettings::ALB
}

/// A machine registered at 0 that has seen `letters`, one per step.
fn after(spec: &ProbeSpec, settings: &Elbv2HealthSettings, letters: &str) -> Elbv2Machine {
    let mut m = Elbv2Machine::new(spec, settings, Duration::ZERO);
    for (i, v) in verdicts(spec, letters).into_iter().enumerate() {
        m.observe(STEP * (i as u32 + 1), v);
    }
    m
}

#[test]
fn a_registered_target_is_initial_registration_in_progress_until_checks_start() {
    let spec = target_group(LbKind::Alb, Http, 2, 2);
    let mut m = Elbv2Machine::new(&spec, &alb(), secs(7));
    assert_eq!(m.status(), REGISTERING);
    assert_eq!(
        m.tick(secs(7)),
        Some(Transition {
            from: LbState::Initial,
            to: LbState::Initial,
            reason: Some(Reason::ElbInitialHealthChecking),
            at: secs(7),
        })
    );
    assert!(!m.receives_new_flows(secs(8)));
}

#[test]
fn alb_one_passed_check_makes_an_initial_target_healthy() {
    let defaults = EmulationSettings::default();
    table(
        &target_group(LbKind::Alb, Http, 5, 3),
        &defaults,
        &[
            ("S", "H"),
            ("TS", "IH"),
            ("TTS", "IIH"),
            ("TTT", "IIN"),
            ("LS", "IH"),
        ],
    );
}

#[test]
fn nlb_initial_passes_default_to_the_healthy_threshold_and_can_be_one() {
    let spec = target_group(LbKind::Nlb, Tcp, 3, 3);
    table(
        &spec,
        &EmulationSettings::default(),
        &[("SS", "II"), ("SSS", "IIH"), ("SSRSSS", "IIIIIH")],
    );
    let mut one = EmulationSettings::default();
    one.nlb.initial_passes = Passes::One;
    table(&spec, &one, &[("S", "H")]);
}

#[test]
fn unhealthy_and_healthy_thresholds_are_counted_exactly_with_resets() {
    let defaults = EmulationSettings::default();
    table(
        &target_group(LbKind::Alb, Http, 3, 2),
        &defaults,
        &[
            ("S E", "H H"),
            ("S EE", "H HN"),
            ("S ESESE", "H HHHHH"),
            ("S EE SS", "H HN NN"),
            ("S EE SSS", "H HN NNH"),
            ("S EE SSESSS", "H HN NNNNNH"),
            ("S EE LSLSLS", "H HN NNNNNH"),
        ],
    );
}

#[test]
fn unhealthy_carries_the_reason_code_of_the_failure_that_crossed_the_threshold() {
    let spec = target_group(LbKind::Alb, Http, 2, 2);
    let cases = [
        ("S TE", Reason::TargetResponseCodeMismatch(503)),
        ("S ET", Reason::TargetTimeout),
        ("S TR", Reason::TargetFailedHealthChecks),
        ("S TX", Reason::TargetFailedHealthChecks),
        ("TT", Reason::TargetTimeout),
    ];
    for (letters, reason) in cases {
        let m = after(&spec, &alb(), letters);
        assert_eq!(
            m.status(),
            Status::new(LbState::Unhealthy, Some(reason)),
            "{letters}"
        );
    }
    let grpc = target_group(LbKind::Alb, Grpc, 2, 2);
    let mut m = Elbv2Machine::new(&grpc, &alb(), Duration::ZERO);
    for (i, outcome) in [
        Outcome::GrpcStatus { code: 0, http: 200 },
        Outcome::GrpcStatus {
            code: 14,
            http: 200,
        },
    ]
    .into_iter()
    .enumerate()
    {
        m.observe(STEP * (i as u32 + 1), judge(&grpc, &outcome));
    }
    assert_eq!(
        m.status().reason,
        Some(Reason::TargetResponseCodeMismatch(14))
    );
}

#[test]
fn a_registration_delay_ignores_checks_until_it_ends_and_then_starts_checking() {
    let spec = target_group(LbKind::Nlb, Tcp, 2, 2);
    let settings = Elbv2HealthSettings {
        registration_delay: secs(90),
        ..Elbv2HealthSettings::NLB
    };
    let mut m = Elbv2Machine::new(&spec, &settings, secs(10));
    assert_eq!(m.next_deadline(secs(10)), Some(secs(100)));
    for t in [20, 50, 99] {
        assert_eq!(m.observe(secs(t), Verdict::Success), None);
    }
    assert_eq!(
        m.observe(secs(100), Verdict::Success),
        Some(Transition {
            from: LbState::Initial,
            to: LbState::Initial,
            reason: Some(Reason::ElbInitialHealthChecking),
            at: secs(100),
        })
    );
    assert_eq!(
        m.observe(secs(110), Verdict::Success).map(|t| t.to),
        Some(LbState::Healthy)
    );
}

#[test]
fn deregistration_drains_for_the_delay_then_the_target_is_unused() {
    let spec = with_delay(target_group(LbKind::Alb, Http, 2, 2), 30);
    let mut m = after(&spec, &alb(), "S");
    assert_eq!(
        m.deregister(secs(100)),
        Some(Transition {
            from: LbState::Healthy,
            to: LbState::Draining,
            reason: Some(Reason::TargetDeregistrationInProgress),
            at: secs(100),
        })
    );
    assert_eq!(m.deregister(secs(101)), None);
    assert_eq!(m.tick(secs(129)), None);
    assert_eq!(m.observe(secs(129), Verdict::Success), None);
    assert_eq!(
        m.tick(secs(200)),
        Some(Transition {
            from: LbState::Draining,
            to: LbState::Unused,
            reason: Some(Reason::TargetNotRegistered),
            at: secs(130),
        })
    );
    assert_eq!(m.deregister(secs(201)), None);
}

#[test]
fn the_default_deregistration_delay_is_aws_300_seconds() {
    let mut m = after(&target_group(LbKind::Alb, Http, 2, 2), &alb(), "S");
    m.deregister(secs(10));
    assert_eq!(m.tick(secs(309)), None);
    assert_eq!(m.tick(secs(310)).map(|t| t.to), Some(LbState::Unused));
}

#[test]
fn a_routed_target_keeps_receiving_new_flows_for_the_propagation_lag() {
    let spec = with_delay(target_group(LbKind::Alb, Http, 2, 2), 300);
    let mut healthy = after(&spec, &alb(), "S");
    healthy.deregister(secs(100));
    assert!(healthy.receives_new_flows(secs(129)));
    assert_eq!(healthy.routing_state(secs(129)), LbState::Healthy);
    assert!(!healthy.receives_new_flows(secs(130)));
    assert_eq!(healthy.routing_state(secs(130)), LbState::Draining);
    assert_eq!(healthy.next_deadline(secs(100)), Some(secs(130)));
    assert_eq!(healthy.next_deadline(secs(130)), Some(secs(400)));
    assert_eq!(healthy.next_deadline(secs(400)), None);

    let mut unhealthy = after(&spec, &alb(), "TT");
    unhealthy.deregister(secs(100));
    assert!(!unhealthy.receives_new_flows(secs(101)));
    assert_eq!(unhealthy.routing_state(secs(101)), LbState::Unhealthy);
}

#[test]
fn registering_again_starts_over_in_initial() {
    let spec = with_delay(target_group(LbKind::Alb, Http, 2, 2), 0);
    let mut m = after(&spec, &alb(), "S");
    assert_eq!(m.register(secs(50)), None, "already registered");
    m.deregister(secs(100));
    m.tick(secs(100));
    assert_eq!(m.status(), UNUSED);
    assert_eq!(
        m.register(secs(200)).map(|t| (t.to, t.reason)),
        Some((LbState::Initial, Some(Reason::ElbRegistrationInProgress)))
    );
    assert!(m.is_registered());
    assert!(!m.receives_new_flows(secs(201)));
    assert_eq!(
        m.observe(secs(205), Verdict::Success).map(|t| t.to),
        Some(LbState::Healthy)
    );
}

#[test]
fn without_health_checks_a_target_is_unavailable_routed_and_ignores_verdicts() {
    let spec = target_group(LbKind::Alb, Http, 2, 2);
    let mut m = Elbv2Machine::without_health_checks(&spec, &alb(), Duration::ZERO);
    assert_eq!(m.status(), UNAVAILABLE);
    assert!(m.receives_new_flows(secs(1)));
    let failure = judge(
        &spec,
        &Outcome::Timeout {
            phase: Phase::Connect,
        },
    );
    for t in 1..10 {
        assert_eq!(m.observe(secs(t), failure), None);
    }
    assert_eq!(
        m.deregister(secs(20)).map(|t| t.to),
        Some(LbState::Draining)
    );
    m.tick(secs(400));
    assert_eq!(
        m.register(secs(500)).map(|t| t.to),
        Some(LbState::Unavailable)
    );
}

proptest! {
    /// Run lengths decide every transition: initial -> healthy when the pass run reaches the
    /// initial count, initial/healthy -> unhealthy when the failure run reaches the unhealthy
    /// threshold, unhealthy -> healthy when the pass run reaches the healthy threshold.
    #[test]
    fn elbv2_transitions_happen_exactly_when_a_run_reaches_its_threshold(
        lb in prop_oneof![Just(LbKind::Alb), Just(LbKind::Nlb)],
        healthy in 1u32..=6,
        unhealthy in 1u32..=6,
        initial in prop_oneof![Just(Passes::One), Just(Passes::Threshold)],
        letters in prop::collection::vec(
            prop_oneof![Just('S'), Just('T'), Just('R'), Just('X'), Just('E'), Just('L')], 0..60),
    ) {
        let spec = target_group(lb, Http, healthy, unhealthy);
        let settings = Elbv2HealthSettings { initial_passes: initial, ..Elbv2HealthSettings::ALB };
        let mut m = Elbv2Machine::new(&spec, &settings, Duration::ZERO);
        m.tick(Duration::ZERO);
        let (mut passes, mut fails) = (0u32, 0u32);
        for (i, letter) in letters.iter().enumerate() {
            let at = STEP * (i as u32 + 1);
            let verdict = verdicts(&spec, &letter.to_string())[0];
            let before = m.status().state;
            let t = m.observe(at, verdict);
            match verdict {
                Verdict::Success => { passes += 1; fails = 0 }
                Verdict::Failure { .. } => { fails += 1; passes = 0 }
                Verdict::NotCounted { .. } => {}
            }
            let expected = match before {
                LbState::Initial if passes == initial.count(healthy) => Some(LbState::Healthy),
                LbState::Initial | LbState::Healthy if fails == unhealthy => Some(LbState::Unhealthy),
                LbState::Unhealthy if passes == healthy => Some(LbState::Healthy),
                _ => None,
            };
            prop_assert_eq!(t.map(|t| t.to), expected, "step {} of {:?}", i, letters);
            if let Some(t) = t {
                prop_assert_eq!((t.from, t.at), (before, at));
                prop_assert_eq!(t.reason, verdict.reason());
            }
        }
    }

    #[test]
    fn elbv2_is_never_healthy_without_a_passed_check(
        lb in prop_oneof![Just(LbKind::Alb), Just(LbKind::Nlb)],
        letters in prop::collection::vec(
            prop_oneof![Just('T'), Just('R'), Just('X'), Just('E'), Just('L')], 0..40),
    ) {
        let spec = target_group(lb, Http, 2, 2);
        let m = after(&spec, &Elbv2HealthSettings::ALB, &letters.iter().collect::<String>());
        prop_assert!(!m.status().state.in_rotation());
        prop_assert!(matches!(m.status().state, LbState::Initial | LbState::Unhealthy));
    }

    /// Draining ends in unused exactly `delay` after the deregistration, never earlier, however
    /// the ticks and probes fall.
    #[test]
    fn draining_ends_in_unused_exactly_after_the_delay_and_never_earlier(
        delay in 0u32..=3600,
        start in 0u64..10_000,
        letters in "[STE]{0,5}",
        inputs in prop::collection::vec((0u64..4000, any::<bool>()), 1..30),
    ) {
        let spec = with_delay(target_group(LbKind::Alb, Http, 2, 2), delay);
        let mut m = after(&spec, &alb(), &letters);
        let start = secs(start) + STEP * 6;
        prop_assume!(m.deregister(start).is_some());
        let end = start + secs(u64::from(delay));
        let mut times: Vec<Duration> = inputs.iter().map(|(dt, _)| start + secs(*dt)).collect();
        times.sort();
        let mut ended = None;
        for (at, (_, probe)) in times.into_iter().zip(inputs) {
            let t = if probe { m.observe(at, Verdict::Success) } else { m.tick(at) };
            if let Some(t) = t {
                prop_assert!(ended.is_none(), "a second transition {:?}", t);
                prop_assert_eq!((t.from, t.to, t.reason), (LbState::Draining, LbState::Unused, Some(Reason::TargetNotRegistered)));
                prop_assert_eq!(t.at, end);
                ended = Some(t);
            }
            let expected = if at >= end { LbState::Unused } else { LbState::Draining };
            prop_assert_eq!(m.status().state, expected);
        }
    }

    #[test]
    fn new_flows_arrive_during_the_lag_only_if_the_target_was_routed_before(
        lag in 0u64..300,
        letters in "[STE]{0,6}",
        offsets in prop::collection::vec(0u64..600, 1..20),
    ) {
        let spec = target_group(LbKind::Alb, Http, 2, 2);
        let settings = Elbv2HealthSettings { propagation_lag: secs(lag), ..Elbv2HealthSettings::ALB };
        let mut m = after(&spec, &settings, &letters);
        let before = m.status().state;
        let start = STEP * 10;
        prop_assume!(m.deregister(start).is_some());
        for dt in offsets {
            let at = start + secs(dt);
            prop_assert_eq!(m.receives_new_flows(at), before.in_rotation() && dt < lag);
        }
    }
}
