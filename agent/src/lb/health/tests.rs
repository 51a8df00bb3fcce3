use proptest::prelude::*;

use super::*;
use crate::lb::health::testing::{STEP, outcome, run, secs};
use crate::lb::outcome::testing::any_outcome;
use crate::lb::outcome::{LocalFailure, Outcome};
use crate::lb::verdict::judge;
use crate::lb::verdict::testing::{any_spec, spec};
use crate::model::ProbeProtocol::{Http, Tcp};

#[test]
fn states_have_stable_wire_names_and_only_serving_states_are_in_rotation() {
    let expected = [
        (LbState::Down, "down", false),
        (LbState::Up, "up", true),
        (LbState::Initial, "initial", false),
        (LbState::Healthy, "healthy", true),
        (LbState::Unhealthy, "unhealthy", false),
        (LbState::Draining, "draining", false),
        (LbState::Unused, "unused", false),
        (LbState::Unavailable, "unavailable", true),
        (LbState::InService, "in-service", true),
        (LbState::OutOfService, "out-of-service", false),
    ];
    assert_eq!(expected.map(|(s, _, _)| s), LbState::ALL);
    for (state, name, in_rotation) in expected {
        assert_eq!(state.as_str(), name);
        assert_eq!(state.to_string(), name);
        assert_eq!(state.in_rotation(), in_rotation, "{state}");
    }
}

#[test]
fn fail_open_needs_every_registered_target_unhealthy() {
    use LbState::*;
    let cases: &[(&[LbState], bool)] = &[
        (&[], false),
        (&[Unhealthy], true),
        (&[Unhealthy, Unhealthy], true),
        (&[Unhealthy, Draining, Unused], true),
        (&[Unhealthy, Healthy], false),
        (&[Unhealthy, Initial], false),
        (&[Unhealthy, Unavailable], false),
        (&[Draining, Unused], false),
        (&[Initial, Initial], false),
    ];
    for (states, open) in cases {
        assert_eq!(fail_open(states.iter().copied()), *open, "{states:?}");
    }
    assert!(Unhealthy.routed(true) && !Unhealthy.routed(false));
    assert!(Healthy.routed(false) && !Draining.routed(true) && !Initial.routed(true));
}

#[test]
fn each_lb_gets_its_machine_and_initial_status() {
    let at = secs(3);
    let cases = [
        (
            LbKind::AzureLb,
            Status::new(LbState::Down, Some(Reason::AwaitingFirstSuccess)),
        ),
        (
            LbKind::Alb,
            Status::new(LbState::Initial, Some(Reason::ElbRegistrationInProgress)),
        ),
        (
            LbKind::Nlb,
            Status::new(LbState::Initial, Some(Reason::ElbRegistrationInProgress)),
        ),
        (
            LbKind::Clb,
            Status::new(
                LbState::OutOfService,
                Some(Reason::InstanceRegistrationInProgress),
            ),
        ),
    ];
    for (lb, status) in cases {
        let m = HealthMachine::for_spec(&spec(lb, Http), &EmulationSettings::default(), at);
        assert_eq!(m.lb(), lb);
        assert_eq!(m.status(), status, "{lb}");
        assert_eq!((m.state(), m.reason()), (status.state, status.reason));
        assert!(m.is_registered() && !m.receives_new_flows(at) && !m.is_flapping(at));
    }
}

#[test]
fn nlb_uses_its_own_settings_and_alb_its_own() {
    let defaults = EmulationSettings::default();
    assert_eq!(defaults.alb, Elbv2HealthSettings::ALB);
    assert_eq!(defaults.nlb, Elbv2HealthSettings::NLB);
    let nlb = ProbeSpec {
        healthy_threshold: 3,
        ..spec(LbKind::Nlb, Tcp)
    };
    assert_eq!(run(&nlb, &defaults, "SSS").0, "IIH");
    let alb = ProbeSpec {
        healthy_threshold: 3,
        ..spec(LbKind::Alb, Http)
    };
    assert_eq!(run(&alb, &defaults, "S").0, "H");
}

#[test]
fn defaults_are_the_documented_values() {
    assert_eq!(DEFAULT_AZURE_TCP_INITIAL_SUCCESSES, Passes::One);
    assert_eq!(DEFAULT_AZURE_TCP_RECOVERY_SUCCESSES, Passes::Threshold);
    assert_eq!(DEFAULT_ALB_INITIAL_PASSES, Passes::One);
    assert_eq!(DEFAULT_NLB_INITIAL_PASSES, Passes::Threshold);
    assert_eq!(DEFAULT_DEREGISTRATION_DELAY, secs(300));
    assert_eq!(DEFAULT_PROPAGATION_LAG, secs(30));
    assert_eq!(DEFAULT_NLB_PROPAGATION_LAG, secs(120));
    assert_eq!(DEFAULT_CLB_CONNECTION_DRAINING, Duration::ZERO);
    assert_eq!(Passes::One.count(5), 1);
    assert_eq!(Passes::Threshold.count(5), 5);
    assert_eq!(Passes::Threshold.count(0), 1);
    assert_eq!(EmulationSettings::default().validate(), Ok(()));
}

#[test]
fn settings_validation_rejects_what_the_flap_counter_cannot_hold() {
    let mut s = EmulationSettings::default();
    s.flapping.min_flips = 0;
    assert!(matches!(
        s.validate(),
        Err(SettingsError::FlapMinFlips { .. })
    ));
    s.flapping.min_flips = MAX_TRACKED_FLIPS as u32 + 1;
    assert!(matches!(
        s.validate(),
        Err(SettingsError::FlapMinFlips { .. })
    ));
    s.flapping.min_flips = 2;
    s.flapping.window = Duration::ZERO;
    assert_eq!(s.validate(), Err(SettingsError::FlapWindowZero));
}

#[test]
fn flips_in_and_out_of_rotation_within_the_window_report_flapping_without_delaying_anything() {
    let spec = ProbeSpec {
        unhealthy_threshold: 2,
        ..spec(LbKind::AzureLb, Http)
    };
    let mut m = HealthMachine::for_spec(&spec, &EmulationSettings::default(), Duration::ZERO);
    // 200, 503, 200, 503: four flips, each one immediate.
    for (i, status) in [200, 503, 200, 503].into_iter().enumerate() {
        let at = secs(10 * (i as u64 + 1));
        let t = m.observe(at, judge(&spec, &Outcome::HttpStatus(status)));
        assert!(t.is_some(), "flip {i} happens at once");
    }
    assert_eq!(m.flips(secs(40)), 4);
    assert!(m.is_flapping(secs(40)));
    assert_eq!(m.flips(secs(10) + DEFAULT_FLAP_WINDOW), 4);
    assert_eq!(m.flips(secs(11) + DEFAULT_FLAP_WINDOW), 3);
    assert!(!m.is_flapping(secs(11) + DEFAULT_FLAP_WINDOW));
}

#[test]
fn deregistration_is_not_a_flap_and_the_flap_memory_is_bounded() {
    let spec = ProbeSpec {
        deregistration_delay_s: Some(10),
        ..spec(LbKind::Alb, Http)
    };
    let mut m = HealthMachine::for_spec(&spec, &EmulationSettings::default(), Duration::ZERO);
    m.observe(secs(1), Verdict::Success);
    m.deregister(secs(2));
    assert!(m.tick(secs(100)).is_some());
    assert!(m.register(secs(101)).is_some());
    assert_eq!(m.flips(secs(101)), 1);

    let azure = ProbeSpec {
        unhealthy_threshold: 1,
        ..crate::lb::verdict::testing::spec(LbKind::AzureLb, Http)
    };
    let mut m = HealthMachine::for_spec(&azure, &EmulationSettings::default(), Duration::ZERO);
    for i in 0..20u64 {
        let status = if i % 2 == 0 { 200 } else { 500 };
        m.observe(secs(i + 1), judge(&azure, &Outcome::HttpStatus(status)));
    }
    assert_eq!(m.flips(secs(20)), MAX_TRACKED_FLIPS as u32);
}

#[test]
fn an_unprobed_elbv2_target_wraps_into_a_health_machine() {
    let spec = spec(LbKind::Nlb, Tcp);
    let m: HealthMachine =
        Elbv2Machine::without_health_checks(&spec, &Elbv2HealthSettings::NLB, Duration::ZERO)
            .into();
    assert_eq!(m.state(), LbState::Unavailable);
    assert!(m.routed(secs(1), false));
}

/// One input to a machine.
#[derive(Clone, Copy, Debug)]
enum Input {
    Probe(Outcome),
    Tick,
    Deregister,
    Register,
}

fn any_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => any_outcome().prop_map(Input::Probe),
        1 => Just(Input::Tick),
        1 => Just(Input::Deregister),
        1 => Just(Input::Register),
    ]
}

fn apply(
    m: &mut HealthMachine,
    spec: &ProbeSpec,
    at: Duration,
    input: Input,
) -> Option<Transition> {
    match input {
        Input::Probe(o) => m.observe(at, judge(spec, &o)),
        Input::Tick => m.tick(at),
        Input::Deregister => m.deregister(at),
        Input::Register => m.register(at),
    }
}

proptest! {
    /// Inserting local failures anywhere changes neither the transitions nor the final status.
    #[test]
    fn not_counted_verdicts_never_change_anything(
        spec in any_spec(),
        inputs in prop::collection::vec((any_input(), any::<bool>()), 0..60),
    ) {
        let settings = EmulationSettings::default();
        let mut plain = HealthMachine::for_spec(&spec, &settings, Duration::ZERO);
        let mut noisy = plain.clone();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, (input, local_first)) in inputs.into_iter().enumerate() {
            let at = STEP * (i as u32 + 1);
            if local_first {
                let local = Verdict::NotCounted { local: LocalFailure::EphemeralPortsExhausted };
                prop_assert_eq!(noisy.observe(at, local), None);
            }
            a.extend(apply(&mut plain, &spec, at, input));
            b.extend(apply(&mut noisy, &spec, at, input));
        }
        prop_assert_eq!(a, b);
        prop_assert_eq!(plain, noisy);
    }

    /// Transitions chain: each starts where the last one ended, changes something, ends in the
    /// machine's status, and never goes back in time.
    #[test]
    fn transitions_chain_from_the_previous_status_and_move_forward_in_time(
        spec in any_spec(),
        inputs in prop::collection::vec((any_input(), 0u64..400), 0..80),
    ) {
        let mut m = HealthMachine::for_spec(&spec, &EmulationSettings::default(), Duration::ZERO);
        let mut at = Duration::ZERO;
        let mut last_at = Duration::ZERO;
        for (input, dt) in inputs {
            at += secs(dt);
            let before = m.status();
            match apply(&mut m, &spec, at, input) {
                Some(t) => {
                    prop_assert_eq!(t.from, before.state);
                    prop_assert!(Status::new(t.to, t.reason) != before);
                    prop_assert_eq!(Status::new(t.to, t.reason), m.status());
                    prop_assert!(t.at <= at && t.at >= last_at, "{:?} at {:?} after {:?}", t, at, last_at);
                    last_at = t.at;
                }
                None => prop_assert_eq!(m.status(), before),
            }
        }
    }

    /// Never up, healthy or in service (nor receiving new flows) without a success.
    #[test]
    fn no_lb_puts_a_backend_in_rotation_without_a_success(
        spec in any_spec(),
        letters in prop::collection::vec(
            prop_oneof![Just('T'), Just('R'), Just('X'), Just('L')], 0..40),
    ) {
        let mut m = HealthMachine::for_spec(&spec, &EmulationSettings::default(), Duration::ZERO);
        for (i, letter) in letters.into_iter().enumerate() {
            let at = STEP * (i as u32 + 1);
            m.observe(at, judge(&spec, &outcome(letter, spec.protocol)));
            prop_assert!(!m.state().in_rotation());
            prop_assert!(!m.receives_new_flows(at));
        }
    }

    #[test]
    fn fail_open_is_exactly_all_registered_targets_unhealthy(
        states in prop::collection::vec(prop::sample::select(LbState::ALL.to_vec()), 0..8),
    ) {
        let registered: Vec<_> = states.iter().filter(|s| s.is_registered_target()).collect();
        let expected = !registered.is_empty() && registered.iter().all(|s| **s == LbState::Unhealthy);
        prop_assert_eq!(fail_open(states.iter().copied()), expected);
    }

    /// After `tick(now)`, nothing changes before `next_deadline(now)`.
    #[test]
    fn nothing_changes_between_now_and_the_next_deadline(
        spec in any_spec(),
        letters in "[STE]{0,4}",
        deregister in any::<bool>(),
        now in 0u64..1000,
        probe in 0u64..2000,
    ) {
        let mut m = HealthMachine::for_spec(&spec, &EmulationSettings::default(), Duration::ZERO);
        for (i, c) in letters.chars().enumerate() {
            m.observe(STEP * (i as u32 + 1), judge(&spec, &outcome(c, spec.protocol)));
        }
        let start = STEP * 10;
        if deregister { m.deregister(start); }
        let now = start + secs(now);
        m.tick(now);
        let probe = now + secs(probe);
        let flows = m.receives_new_flows(now);
        if m.next_deadline(now).is_none_or(|d| probe < d) {
            prop_assert_eq!(m.receives_new_flows(probe), flows);
            prop_assert_eq!(m.clone().tick(probe), None);
        }
    }
}
