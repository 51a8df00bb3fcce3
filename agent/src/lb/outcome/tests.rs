use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::lb::outcome::testing::{any_local, any_outcome, every_outcome_shape};

#[test]
fn kinds_are_stable_short_names_listed_in_kinds() {
    let cases = [
        (Outcome::Connected, "connected"),
        (Outcome::TlsEstablished, "tls_established"),
        (Outcome::Refused, "refused"),
        (
            Outcome::Reset {
                phase: Phase::Response,
            },
            "reset",
        ),
        (Outcome::Closed, "closed"),
        (
            Outcome::Timeout {
                phase: Phase::Connect,
            },
            "timeout",
        ),
        (Outcome::Unreachable, "unreachable"),
        (Outcome::HttpStatus(503), "http_status"),
        (Outcome::TlsFailed, "tls_failed"),
        (Outcome::Malformed, "malformed"),
        (Outcome::GrpcStatus { code: 0, http: 200 }, "grpc_status"),
        (
            Outcome::Local(LocalFailure::EphemeralPortsExhausted),
            "local_ports_exhausted",
        ),
        (
            Outcome::Local(LocalFailure::ProcessFdLimit),
            "local_process_fd_limit",
        ),
        (
            Outcome::Local(LocalFailure::SystemFdLimit),
            "local_system_fd_limit",
        ),
        (Outcome::Local(LocalFailure::NoRoute), "local_no_route"),
        (Outcome::Local(LocalFailure::Cancelled), "local_cancelled"),
        (Outcome::Local(LocalFailure::Other), "local_other"),
    ];
    for (outcome, kind) in cases {
        assert_eq!(outcome.kind(), kind, "{outcome:?}");
    }
    let listed: HashSet<&str> = Outcome::KINDS.into_iter().collect();
    let produced: HashSet<&str> = cases.iter().map(|(o, _)| o.kind()).collect();
    assert_eq!(listed, produced);
    assert_eq!(listed.len(), Outcome::KINDS.len(), "KINDS has duplicates");
}

#[test]
fn every_outcome_shape_has_a_kind_from_kinds() {
    for outcome in every_outcome_shape() {
        assert!(Outcome::KINDS.contains(&outcome.kind()), "{outcome:?}");
    }
}

#[test]
fn local_failures_are_our_side_and_everything_else_is_the_targets() {
    for outcome in every_outcome_shape() {
        let expected = if matches!(outcome, Outcome::Local(_)) {
            Side::Local
        } else {
            Side::Target
        };
        assert_eq!(outcome.side(), expected, "{outcome:?}");
        assert_eq!(outcome.is_local(), expected == Side::Local);
    }
    assert_eq!(Side::Target.as_str(), "target");
    assert_eq!(Side::Local.as_str(), "local");
}

#[test]
fn only_timeouts_and_resets_carry_a_phase() {
    for outcome in every_outcome_shape() {
        let has_phase = matches!(outcome, Outcome::Timeout { .. } | Outcome::Reset { .. });
        assert_eq!(outcome.phase().is_some(), has_phase, "{outcome:?}");
    }
}

#[test]
fn a_reset_or_a_silence_is_never_a_completed_handshake() {
    let not_connected = [
        Outcome::Refused,
        Outcome::Reset {
            phase: Phase::Response,
        },
        Outcome::Timeout { phase: Phase::Tls },
        Outcome::Unreachable,
        Outcome::Local(LocalFailure::Cancelled),
    ];
    for outcome in not_connected {
        assert!(!outcome.connected(), "{outcome:?}");
        assert!(!outcome.tls_established(), "{outcome:?}");
    }
    for outcome in [Outcome::Connected, Outcome::Closed, Outcome::TlsFailed] {
        assert!(outcome.connected(), "{outcome:?}");
        assert!(!outcome.tls_established(), "{outcome:?}");
    }
    for outcome in [
        Outcome::TlsEstablished,
        Outcome::HttpStatus(404),
        Outcome::Malformed,
        Outcome::GrpcStatus {
            code: 14,
            http: 200,
        },
    ] {
        assert!(outcome.connected(), "{outcome:?}");
        assert!(outcome.tls_established(), "{outcome:?}");
    }
}

#[test]
fn display_names_the_status_phase_and_side() {
    assert_eq!(Outcome::HttpStatus(301).to_string(), "HTTP 301");
    assert_eq!(
        Outcome::Timeout {
            phase: Phase::Response
        }
        .to_string(),
        "timeout during response"
    );
    assert_eq!(
        Outcome::Reset { phase: Phase::Tls }.to_string(),
        "connection reset during tls"
    );
    assert_eq!(
        Outcome::GrpcStatus {
            code: 12,
            http: 200
        }
        .to_string(),
        "gRPC status 12 (HTTP 200)"
    );
    assert_eq!(
        Outcome::Local(LocalFailure::EphemeralPortsExhausted).to_string(),
        "local: ephemeral ports exhausted"
    );
}

#[test]
fn an_outcome_stays_small_enough_to_produce_millions_per_second() {
    assert!(std::mem::size_of::<Outcome>() <= 8);
}

proptest! {
    #[test]
    fn a_local_outcome_is_never_connected_and_always_local_side(local in any_local()) {
        let outcome = Outcome::Local(local);
        prop_assert!(!outcome.connected());
        prop_assert!(outcome.kind().starts_with("local_"));
        prop_assert_eq!(outcome.side(), Side::Local);
    }

    #[test]
    fn kinds_of_target_outcomes_never_look_local(outcome in any_outcome()) {
        prop_assert_eq!(outcome.kind().starts_with("local_"), outcome.is_local());
    }
}
