use proptest::prelude::*;

use super::*;
use crate::lb::health::testing::{STEP, run, table, verdicts};
use crate::lb::health::{EmulationSettings, Passes};
use crate::lb::outcome::Outcome;
use crate::lb::verdict::judge;
use crate::lb::verdict::testing::spec;
use crate::model::ProbeProtocol::{self, Http, Https, Tcp};

fn azure(protocol: ProbeProtocol, threshold: u32) -> ProbeSpec {
    ProbeSpec {
        healthy_threshold: threshold,
        unhealthy_threshold: threshold,
        ..spec(LbKind::AzureLb, protocol)
    }
}

fn settings(initial: Passes, recovery: Passes) -> EmulationSettings {
    let mut settings = EmulationSettings::default();
    settings.azure.tcp_initial_successes = initial;
    settings.azure.tcp_recovery_successes = recovery;
    settings
}

#[test]
fn a_backend_starts_down_awaiting_its_first_success_and_one_success_marks_it_up() {
    for protocol in [Tcp, Http, Https] {
        let machine = AzureMachine::new(&azure(protocol, 3), &Default::default());
        assert_eq!(machine.status(), INITIAL);
        assert!(!machine.receives_new_flows(Duration::ZERO));
        table(
            &azure(protocol, 3),
            &EmulationSettings::default(),
            &[("S", "U"), ("TTTTS", "DDDDU"), ("LLS", "DDU")],
        );
    }
}

#[test]
fn tcp_needs_threshold_consecutive_failures_and_any_success_resets_the_count() {
    let defaults = EmulationSettings::default();
    table(
        &azure(Tcp, 2),
        &defaults,
        &[
            ("S T", "U U"),
            ("S TT", "U UD"),
            ("S TSTSTS", "U UUUUUU"),
            ("S RR", "U UD"),
            ("S XT", "U UD"),
            ("S TLT", "U UUD"),
        ],
    );
    table(
        &azure(Tcp, 4),
        &defaults,
        &[
            ("S TTT", "U UUU"),
            ("S TTTT", "U UUUD"),
            ("S TTTSTTTT", "U UUUUUUUD"),
        ],
    );
}

#[test]
fn tcp_needs_threshold_consecutive_successes_to_come_back_after_failures() {
    table(
        &azure(Tcp, 3),
        &EmulationSettings::default(),
        &[
            ("S TTT SS", "U UUD DD"),
            ("S TTT SSS", "U UUD DDU"),
            ("S TTT SSTSSS", "U UUD DDDDDU"),
        ],
    );
}

#[test]
fn tcp_success_counts_are_configurable_for_the_initial_and_the_recovery_down_states() {
    table(
        &azure(Tcp, 3),
        &settings(Passes::Threshold, Passes::Threshold),
        &[("SS", "DD"), ("SSS", "DDU"), ("STSSS", "DDDDU")],
    );
    table(
        &azure(Tcp, 3),
        &settings(Passes::One, Passes::One),
        &[("S TTT S", "U UUD U")],
    );
}

#[test]
fn http_explicit_failures_mark_down_at_once_and_200_marks_up_at_once() {
    let defaults = EmulationSettings::default();
    for protocol in [Http, Https] {
        table(
            &azure(protocol, 5),
            &defaults,
            &[
                ("S E", "U D"),
                ("S R", "U D"),
                ("S X", "U D"),
                ("S E S", "U D U"),
                ("S TTTTT S", "U UUUUD U"),
                ("E E S", "D D U"),
            ],
        );
    }
}

#[test]
fn http_only_timeouts_count_towards_the_threshold_and_an_answer_resets_the_count() {
    table(
        &azure(Http, 3),
        &EmulationSettings::default(),
        &[
            ("S TT", "U UU"),
            ("S TTT", "U UUD"),
            ("S TTSTT", "U UUUUU"),
            ("S TTETT", "U UUDDD"),
            ("S TTE STT", "U UUD UUU"),
            ("S TTLLT", "U UUUUD"),
        ],
    );
}

#[test]
fn http_explicit_failure_outcomes_all_decide_at_once_with_their_reason() {
    let explicit = [
        (Outcome::HttpStatus(404), Reason::HttpStatus(404)),
        (Outcome::HttpStatus(301), Reason::HttpStatus(301)),
        (Outcome::HttpStatus(204), Reason::HttpStatus(204)),
        (Outcome::Refused, Reason::ConnectionRefused),
        (
            Outcome::Reset {
                phase: crate::lb::outcome::Phase::Response,
            },
            Reason::ConnectionReset,
        ),
        (Outcome::TlsFailed, Reason::TlsHandshakeFailed),
        (Outcome::Closed, Reason::ConnectionClosed),
        (Outcome::Malformed, Reason::MalformedResponse),
    ];
    let spec = azure(Https, 5);
    for (outcome, reason) in explicit {
        let mut m = AzureMachine::new(&spec, &Default::default());
        m.observe(STEP, Verdict::Success);
        let t = m.observe(STEP * 2, judge(&spec, &outcome));
        assert_eq!(
            t,
            Some(Transition {
                from: LbState::Up,
                to: LbState::Down,
                reason: Some(reason),
                at: STEP * 2,
            }),
            "{outcome}"
        );
    }
}

#[test]
fn the_down_reason_is_the_failure_that_took_it_down_and_stays_until_up() {
    let spec = azure(Tcp, 2);
    let (_, transitions) = run(&spec, &EmulationSettings::default(), "S RT TTSS");
    let downs: Vec<_> = transitions
        .iter()
        .filter(|t| t.to == LbState::Down)
        .collect();
    assert_eq!(downs.len(), 1);
    assert_eq!(downs[0].reason, Some(Reason::ProbeTimeout));
    assert_eq!(downs[0].at, STEP * 3);
    let mut m = AzureMachine::new(&spec, &Default::default());
    for (i, v) in verdicts(&spec, "SRTR").into_iter().enumerate() {
        m.observe(STEP * (i as u32 + 1), v);
    }
    assert_eq!(
        m.status(),
        Status::new(LbState::Down, Some(Reason::ProbeTimeout))
    );
}

#[test]
fn deregistration_and_time_change_nothing_for_azure() {
    let mut m = AzureMachine::new(&azure(Tcp, 2), &Default::default());
    m.observe(STEP, Verdict::Success);
    assert_eq!(m.deregister(STEP * 2), None);
    assert_eq!(m.tick(Duration::from_secs(10_000)), None);
    assert_eq!(m.register(STEP * 3), None);
    assert_eq!(m.next_deadline(STEP), None);
    assert!(m.receives_new_flows(STEP * 4));
    assert!(m.is_registered());
}

/// Letters for counted TCP outcomes: successes and the three TCP failures.
fn tcp_letters() -> impl Strategy<Value = Vec<char>> {
    prop::collection::vec(
        prop_oneof![Just('S'), Just('T'), Just('R'), Just('X')],
        0..60,
    )
}

proptest! {
    /// TCP as run lengths: up -> down exactly when the trailing failure run reaches the
    /// threshold, down -> up exactly when the trailing success run reaches 1 (never up before)
    /// or the recovery count; nothing else moves it.
    #[test]
    fn tcp_transitions_happen_exactly_when_a_run_reaches_its_threshold(
        threshold in 1u32..=6,
        initial in prop_oneof![Just(Passes::One), Just(Passes::Threshold)],
        recovery in prop_oneof![Just(Passes::One), Just(Passes::Threshold)],
        letters in tcp_letters(),
    ) {
        let spec = azure(Tcp, threshold);
        let mut m = AzureMachine::new(&spec, &settings(initial, recovery).azure);
        let (mut fails, mut passes, mut was_up) = (0u32, 0u32, false);
        for (i, letter) in letters.iter().enumerate() {
            let at = STEP * (i as u32 + 1);
            let verdict = verdicts(&spec, &letter.to_string())[0];
            let before = m.status().state;
            let t = m.observe(at, verdict);
            if verdict.is_success() { passes += 1; fails = 0 } else { fails += 1; passes = 0 }
            let needed = if was_up { recovery.count(threshold) } else { initial.count(threshold) };
            let expected = match before {
                LbState::Up if fails == threshold => Some(LbState::Down),
                LbState::Down if passes == needed => Some(LbState::Up),
                _ => None,
            };
            prop_assert_eq!(t.map(|t| t.to), expected, "step {} of {:?}", i, letters);
            if let Some(t) = t {
                prop_assert_eq!(t.at, at);
                prop_assert_eq!(t.from, before);
                prop_assert_eq!(t.reason, verdict.reason());
                was_up = true;
            }
        }
    }

    /// HTTP: after the last 200 the backend is down iff an explicit failure followed it or at
    /// least `threshold` timeouts did; before any 200 it is down.
    #[test]
    fn http_state_is_decided_by_what_followed_the_last_200(
        threshold in 1u32..=6,
        letters in prop::collection::vec(
            prop_oneof![Just('S'), Just('T'), Just('E'), Just('R'), Just('X'), Just('L')], 0..60),
    ) {
        let spec = azure(Http, threshold);
        let mut m = AzureMachine::new(&spec, &Default::default());
        for (i, letter) in letters.iter().enumerate() {
            m.observe(STEP * (i as u32 + 1), verdicts(&spec, &letter.to_string())[0]);
            let seen: Vec<char> = letters[..=i].iter().copied().filter(|c| *c != 'L').collect();
            let expected = match seen.iter().rposition(|c| *c == 'S') {
                None => LbState::Down,
                Some(last) => {
                    let after = &seen[last + 1..];
                    let explicit = after.iter().any(|c| *c != 'T');
                    if explicit || after.len() as u32 >= threshold { LbState::Down } else { LbState::Up }
                }
            };
            prop_assert_eq!(m.status().state, expected, "after {:?}", &letters[..=i]);
        }
    }

    #[test]
    fn an_azure_backend_is_never_up_without_a_success(
        protocol in prop_oneof![Just(Tcp), Just(Http), Just(Https)],
        threshold in 1u32..=6,
        letters in prop::collection::vec(
            prop_oneof![Just('T'), Just('E'), Just('R'), Just('X'), Just('L')], 0..40),
    ) {
        let spec = azure(protocol, threshold);
        let mut m = AzureMachine::new(&spec, &Default::default());
        for (i, letter) in letters.iter().enumerate() {
            // A TCP probe that got an HTTP status connected, so it passed.
            let letter = if protocol == Tcp && *letter == 'E' { 'R' } else { *letter };
            prop_assert_eq!(m.observe(STEP * (i as u32 + 1), verdicts(&spec, &letter.to_string())[0]), None);
        }
        prop_assert_eq!(m.status(), INITIAL);
    }
}
