//! A small language for the state machine tests: probe outcomes and states as letters, so that a
//! table row reads like a timeline.
//!
//! Outcomes: `S` success (the protocol's passing answer), `T` timeout, `R` refused, `X` reset,
//! `E` HTTP 503 (an explicit failure), `L` a local failure (not counted); spaces are ignored.
//! States: `D` down, `U` up, `I` initial, `H` healthy, `N` unhealthy, `G` draining, `Z` unused,
//! `V` unavailable, `S` in service, `O` out of service.

use std::time::Duration;

use super::{EmulationSettings, HealthMachine, LbState, Transition};
use crate::lb::outcome::{LocalFailure, Outcome, Phase};
use crate::lb::verdict::{Verdict, judge};
use crate::model::{ProbeProtocol, ProbeSpec};

/// Time between probes in the tests.
pub const STEP: Duration = Duration::from_secs(5);

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The outcome a letter stands for, for a probe of `protocol`.
pub fn outcome(letter: char, protocol: ProbeProtocol) -> Outcome {
    match letter {
        'S' => match protocol {
            ProbeProtocol::Tcp => Outcome::Connected,
            ProbeProtocol::Ssl => Outcome::TlsEstablished,
            ProbeProtocol::Grpc => Outcome::GrpcStatus {
                code: 12,
                http: 200,
            },
            ProbeProtocol::Http | ProbeProtocol::Https => Outcome::HttpStatus(200),
        },
        'T' => Outcome::Timeout {
            phase: Phase::Response,
        },
        'R' => Outcome::Refused,
        'X' => Outcome::Reset {
            phase: Phase::Response,
        },
        'E' => Outcome::HttpStatus(503),
        'L' => Outcome::Local(LocalFailure::EphemeralPortsExhausted),
        other => panic!("unknown outcome letter {other:?}"),
    }
}

pub fn state_letter(state: LbState) -> char {
    match state {
        LbState::Down => 'D',
        LbState::Up => 'U',
        LbState::Initial => 'I',
        LbState::Healthy => 'H',
        LbState::Unhealthy => 'N',
        LbState::Draining => 'G',
        LbState::Unused => 'Z',
        LbState::Unavailable => 'V',
        LbState::InService => 'S',
        LbState::OutOfService => 'O',
    }
}

/// The verdicts of `letters` for `spec`, judged as the engine would.
pub fn verdicts(spec: &ProbeSpec, letters: &str) -> Vec<Verdict> {
    letters
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| judge(spec, &outcome(c, spec.protocol)))
        .collect()
}

/// Feeds `letters` one per [`STEP`] starting at `STEP` into a fresh machine registered at 0;
/// returns the state letters after each probe and the transitions.
pub fn run(
    spec: &ProbeSpec,
    settings: &EmulationSettings,
    letters: &str,
) -> (String, Vec<Transition>) {
    let mut machine = HealthMachine::for_spec(spec, settings, Duration::ZERO);
    let mut states = String::new();
    let mut transitions = Vec::new();
    for (i, verdict) in verdicts(spec, letters).into_iter().enumerate() {
        let at = STEP * (i as u32 + 1);
        transitions.extend(machine.observe(at, verdict));
        states.push(state_letter(machine.state()));
    }
    (states, transitions)
}

/// Asserts the states after each probe of every row `(letters, expected states)`.
pub fn table(spec: &ProbeSpec, settings: &EmulationSettings, rows: &[(&str, &str)]) {
    for (letters, expected) in rows {
        let (states, _) = run(spec, settings, letters);
        let expected: String = expected.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(
            states, expected,
            "{} {} thresholds {}/{}: {letters}",
            spec.lb, spec.protocol, spec.healthy_threshold, spec.unhealthy_threshold
        );
    }
}
