//! Outcome generators shared by the tests of the verdicts and the state machines.

use proptest::prelude::*;

use super::{LocalFailure, Outcome, Phase};

pub fn any_phase() -> impl Strategy<Value = Phase> {
    prop_oneof![
        Just(Phase::Connect),
        Just(Phase::Tls),
        Just(Phase::Response)
    ]
}

pub fn any_local() -> impl Strategy<Value = LocalFailure> {
    prop_oneof![
        Just(LocalFailure::EphemeralPortsExhausted),
        Just(LocalFailure::ProcessFdLimit),
        Just(LocalFailure::SystemFdLimit),
        Just(LocalFailure::NoRoute),
        Just(LocalFailure::Cancelled),
        Just(LocalFailure::Other),
    ]
}

/// Any outcome, with statuses drawn from the whole range a prober can report.
pub fn any_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Connected),
        Just(Outcome::TlsEstablished),
        Just(Outcome::Refused),
        any_phase().prop_map(|phase| Outcome::Reset { phase }),
        Just(Outcome::Closed),
        any_phase().prop_map(|phase| Outcome::Timeout { phase }),
        Just(Outcome::Unreachable),
        (100u16..=599).prop_map(Outcome::HttpStatus),
        Just(Outcome::TlsFailed),
        Just(Outcome::Malformed),
        (0u32..=120, 100u16..=599).prop_map(|(code, http)| Outcome::GrpcStatus { code, http }),
        any_local().prop_map(Outcome::Local),
    ]
}

/// One outcome of each variant and phase, for exhaustive loops.
pub fn every_outcome_shape() -> Vec<Outcome> {
    let phases = [Phase::Connect, Phase::Tls, Phase::Response];
    let locals = [
        LocalFailure::EphemeralPortsExhausted,
        LocalFailure::ProcessFdLimit,
        LocalFailure::SystemFdLimit,
        LocalFailure::NoRoute,
        LocalFailure::Cancelled,
        LocalFailure::Other,
    ];
    let mut all = vec![
        Outcome::Connected,
        Outcome::TlsEstablished,
        Outcome::Refused,
        Outcome::Closed,
        Outcome::Unreachable,
        Outcome::TlsFailed,
        Outcome::Malformed,
    ];
    all.extend(phases.map(|phase| Outcome::Reset { phase }));
    all.extend(phases.map(|phase| Outcome::Timeout { phase }));
    all.extend(
        [100, 200, 204, 301, 302, 399, 400, 404, 499, 500, 503, 599].map(Outcome::HttpStatus),
    );
    all.extend([0, 1, 5, 12, 14, 99, 100].map(|code| Outcome::GrpcStatus { code, http: 200 }));
    all.push(Outcome::GrpcStatus { code: 0, http: 503 });
    all.extend(locals.map(Outcome::Local));
    all
}
