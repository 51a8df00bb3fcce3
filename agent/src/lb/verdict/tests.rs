use super::*;
use crate::lb::outcome::Phase;
use crate::lb::outcome::testing::every_outcome_shape;
use crate::lb::verdict::testing::{spec, with_matcher};
use crate::model::LbKind::{Alb, AzureLb, Clb, Nlb};
use crate::model::ProbeProtocol::{Grpc, Http, Https, Ssl, Tcp};

mod properties;

const S: Verdict = Verdict::Success;

fn fail(reason: Reason) -> Verdict {
    Verdict::Failure { reason }
}

fn timeout(phase: Phase) -> Outcome {
    Outcome::Timeout { phase }
}

fn reset(phase: Phase) -> Outcome {
    Outcome::Reset { phase }
}

fn grpc(code: u32) -> Outcome {
    Outcome::GrpcStatus { code, http: 200 }
}

/// Runs `(outcome, expected)` rows against one spec, naming the spec in failures.
fn table(spec: &ProbeSpec, rows: &[(Outcome, Verdict)]) {
    for (outcome, expected) in rows {
        assert_eq!(
            judge(spec, outcome),
            *expected,
            "{} {} matcher {:?}: {outcome}",
            spec.lb,
            spec.protocol,
            spec.matcher.as_ref().map(|m| m.as_str()),
        );
    }
}

#[test]
fn azure_tcp_succeeds_on_a_completed_handshake_and_names_each_failure() {
    table(
        &spec(AzureLb, Tcp),
        &[
            (Outcome::Connected, S),
            (Outcome::Refused, fail(Reason::ConnectionRefused)),
            (reset(Phase::Connect), fail(Reason::ConnectionReset)),
            (timeout(Phase::Connect), fail(Reason::ProbeTimeout)),
            (Outcome::Unreachable, fail(Reason::HostUnreachable)),
        ],
    );
}

#[test]
fn azure_http_accepts_only_200_and_every_other_status_including_redirects_fails() {
    let azure = spec(AzureLb, Http);
    table(&azure, &[(Outcome::HttpStatus(200), S)]);
    for status in [100, 201, 204, 301, 302, 304, 307, 308, 404, 500, 503] {
        table(
            &azure,
            &[(
                Outcome::HttpStatus(status),
                fail(Reason::HttpStatus(status)),
            )],
        );
    }
}

#[test]
fn azure_http_names_connection_failures_and_keeps_timeouts_apart_as_no_answer() {
    table(
        &spec(AzureLb, Http),
        &[
            (Outcome::Refused, fail(Reason::ConnectionRefused)),
            (reset(Phase::Response), fail(Reason::ConnectionReset)),
            (timeout(Phase::Connect), fail(Reason::ProbeTimeout)),
            (timeout(Phase::Response), fail(Reason::ProbeTimeout)),
            (Outcome::Unreachable, fail(Reason::HostUnreachable)),
            (Outcome::Closed, fail(Reason::ConnectionClosed)),
            (Outcome::Malformed, fail(Reason::MalformedResponse)),
            (Outcome::Connected, fail(Reason::MalformedResponse)),
        ],
    );
    assert!(Reason::ProbeTimeout.is_no_answer());
    assert!(Reason::HostUnreachable.is_no_answer());
    for explicit in [
        Reason::ConnectionRefused,
        Reason::ConnectionReset,
        Reason::ConnectionClosed,
        Reason::MalformedResponse,
        Reason::TlsHandshakeFailed,
        Reason::HttpStatus(404),
    ] {
        assert!(!explicit.is_no_answer(), "{explicit:?}");
    }
}

#[test]
fn azure_https_fails_on_tls_errors_and_tls_stalls_count_as_timeouts() {
    table(
        &spec(AzureLb, Https),
        &[
            (Outcome::HttpStatus(200), S),
            (Outcome::TlsFailed, fail(Reason::TlsHandshakeFailed)),
            (reset(Phase::Tls), fail(Reason::ConnectionReset)),
            (timeout(Phase::Tls), fail(Reason::ProbeTimeout)),
            (Outcome::HttpStatus(404), fail(Reason::HttpStatus(404))),
        ],
    );
}

#[test]
fn azure_and_clb_ignore_a_matcher_because_they_accept_200_only() {
    for lb in [AzureLb, Clb] {
        let lenient = with_matcher(spec(lb, Http), "200-399");
        table(
            &lenient,
            &[(Outcome::HttpStatus(301), fail(Reason::HttpStatus(301)))],
        );
    }
}

#[test]
fn alb_http_default_matcher_is_200_and_mismatches_carry_the_status() {
    table(
        &spec(Alb, Http),
        &[
            (Outcome::HttpStatus(200), S),
            (
                Outcome::HttpStatus(201),
                fail(Reason::TargetResponseCodeMismatch(201)),
            ),
            (
                Outcome::HttpStatus(302),
                fail(Reason::TargetResponseCodeMismatch(302)),
            ),
            (
                Outcome::HttpStatus(503),
                fail(Reason::TargetResponseCodeMismatch(503)),
            ),
        ],
    );
}

#[test]
fn alb_http_uses_its_matcher_so_a_listed_redirect_status_passes() {
    table(
        &with_matcher(spec(Alb, Https), "200,301-302"),
        &[
            (Outcome::HttpStatus(200), S),
            (Outcome::HttpStatus(301), S),
            (Outcome::HttpStatus(302), S),
            (
                Outcome::HttpStatus(303),
                fail(Reason::TargetResponseCodeMismatch(303)),
            ),
        ],
    );
}

#[test]
fn alb_maps_timeouts_to_target_timeout_and_connection_errors_to_failed_health_checks() {
    let fhc = fail(Reason::TargetFailedHealthChecks);
    table(
        &spec(Alb, Https),
        &[
            (timeout(Phase::Connect), fail(Reason::TargetTimeout)),
            (timeout(Phase::Tls), fail(Reason::TargetTimeout)),
            (timeout(Phase::Response), fail(Reason::TargetTimeout)),
            (Outcome::Refused, fhc),
            (reset(Phase::Response), fhc),
            (reset(Phase::Tls), fhc),
            (Outcome::Malformed, fhc),
            (Outcome::Closed, fhc),
            (Outcome::TlsFailed, fhc),
            (Outcome::Unreachable, fhc),
        ],
    );
}

#[test]
fn alb_grpc_default_matcher_is_12_and_judges_the_grpc_status_not_the_http_one() {
    table(
        &spec(Alb, Grpc),
        &[
            (grpc(12), S),
            (
                Outcome::GrpcStatus {
                    code: 12,
                    http: 503,
                },
                S,
            ),
            (grpc(0), fail(Reason::TargetResponseCodeMismatch(0))),
            (
                Outcome::HttpStatus(200),
                fail(Reason::TargetResponseCodeMismatch(200)),
            ),
            (timeout(Phase::Response), fail(Reason::TargetTimeout)),
            (Outcome::Malformed, fail(Reason::TargetFailedHealthChecks)),
        ],
    );
}

#[test]
fn alb_grpc_with_matcher_0_passes_serving_and_fails_unimplemented() {
    table(
        &with_matcher(spec(Alb, Grpc), "0"),
        &[
            (grpc(0), S),
            (grpc(12), fail(Reason::TargetResponseCodeMismatch(12))),
            (
                grpc(70_000),
                fail(Reason::TargetResponseCodeMismatch(70_000)),
            ),
        ],
    );
}

#[test]
fn nlb_tcp_succeeds_on_connect_with_aws_reason_codes_for_failures() {
    table(
        &spec(Nlb, Tcp),
        &[
            (Outcome::Connected, S),
            (Outcome::Refused, fail(Reason::TargetFailedHealthChecks)),
            (timeout(Phase::Connect), fail(Reason::TargetTimeout)),
        ],
    );
}

#[test]
fn nlb_http_default_matcher_is_200_to_399_so_redirects_pass() {
    let nlb = spec(Nlb, Http);
    for status in [200, 204, 301, 302, 399] {
        table(&nlb, &[(Outcome::HttpStatus(status), S)]);
    }
    for status in [199, 400, 404, 500, 503] {
        table(
            &nlb,
            &[(
                Outcome::HttpStatus(status),
                fail(Reason::TargetResponseCodeMismatch(u32::from(status))),
            )],
        );
    }
    table(
        &with_matcher(spec(Nlb, Https), "200-599"),
        &[(Outcome::HttpStatus(503), S)],
    );
}

#[test]
fn clb_rules_tcp_connect_http_200_only_ssl_handshake() {
    table(
        &spec(Clb, Tcp),
        &[
            (Outcome::Connected, S),
            (Outcome::Refused, fail(Reason::ConnectionRefused)),
            (timeout(Phase::Connect), fail(Reason::ProbeTimeout)),
        ],
    );
    table(
        &spec(Clb, Http),
        &[
            (Outcome::HttpStatus(200), S),
            (Outcome::HttpStatus(302), fail(Reason::HttpStatus(302))),
            (Outcome::HttpStatus(404), fail(Reason::HttpStatus(404))),
        ],
    );
    table(
        &spec(Clb, Ssl),
        &[
            (Outcome::TlsEstablished, S),
            (Outcome::TlsFailed, fail(Reason::TlsHandshakeFailed)),
            (Outcome::Connected, fail(Reason::TlsHandshakeFailed)),
            (Outcome::Closed, fail(Reason::TlsHandshakeFailed)),
            (timeout(Phase::Tls), fail(Reason::ProbeTimeout)),
            (reset(Phase::Tls), fail(Reason::ConnectionReset)),
            (Outcome::Refused, fail(Reason::ConnectionRefused)),
        ],
    );
}

#[test]
fn lbs_without_grpc_checks_judge_a_grpc_spec_on_the_http_status() {
    table(
        &spec(AzureLb, Grpc),
        &[
            (Outcome::HttpStatus(200), S),
            (
                Outcome::GrpcStatus {
                    code: 12,
                    http: 200,
                },
                S,
            ),
        ],
    );
    table(
        &spec(Nlb, Grpc),
        &[(
            Outcome::HttpStatus(404),
            fail(Reason::TargetResponseCodeMismatch(404)),
        )],
    );
}

#[test]
fn every_local_failure_is_not_counted_for_every_lb_and_protocol() {
    for lb in [AzureLb, Alb, Nlb, Clb] {
        for protocol in [Tcp, Http, Https, Grpc, Ssl] {
            for outcome in every_outcome_shape() {
                let verdict = judge(&spec(lb, protocol), &outcome);
                match outcome {
                    Outcome::Local(local) => {
                        assert_eq!(verdict, Verdict::NotCounted { local }, "{lb} {protocol}")
                    }
                    _ => assert!(verdict.is_counted(), "{lb} {protocol} {outcome}"),
                }
            }
        }
    }
}

#[test]
fn verdict_helpers_and_kinds() {
    let f = fail(Reason::TargetTimeout);
    let n = Verdict::NotCounted {
        local: LocalFailure::Cancelled,
    };
    assert!(S.is_success() && !S.is_failure() && S.is_counted() && S.reason().is_none());
    assert!(f.is_failure() && f.is_counted() && f.reason() == Some(Reason::TargetTimeout));
    assert!(!n.is_counted() && !n.is_success() && !n.is_failure());
    assert_eq!(
        [S.kind(), f.kind(), n.kind()],
        ["success", "failure", "not_counted"]
    );
}

#[test]
fn reason_codes_are_aws_exact_and_listed_in_codes() {
    let all = [
        Reason::ProbeTimeout,
        Reason::HostUnreachable,
        Reason::ConnectionRefused,
        Reason::ConnectionReset,
        Reason::ConnectionClosed,
        Reason::TlsHandshakeFailed,
        Reason::MalformedResponse,
        Reason::HttpStatus(404),
        Reason::GrpcStatus(12),
        Reason::AwaitingFirstSuccess,
        Reason::ElbRegistrationInProgress,
        Reason::ElbInitialHealthChecking,
        Reason::TargetResponseCodeMismatch(404),
        Reason::TargetTimeout,
        Reason::TargetFailedHealthChecks,
        Reason::TargetDeregistrationInProgress,
        Reason::TargetNotRegistered,
        Reason::TargetHealthCheckDisabled,
        Reason::InstanceRegistrationInProgress,
        Reason::InstanceFailedHealthChecks,
        Reason::InstanceDeregistrationInProgress,
        Reason::InstanceNotRegistered,
    ];
    let codes: Vec<&str> = all.iter().map(|r| r.code()).collect();
    assert_eq!(codes, Reason::CODES);
    assert_eq!(Reason::TargetTimeout.code(), "Target.Timeout");
    assert_eq!(
        Reason::TargetResponseCodeMismatch(404).to_string(),
        "Health checks failed with these codes: [404]"
    );
    assert_eq!(
        Reason::InstanceFailedHealthChecks.to_string(),
        "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
    );
    assert_eq!(Reason::HttpStatus(404).status(), Some(404));
    assert_eq!(Reason::TargetResponseCodeMismatch(12).status(), Some(12));
    assert_eq!(Reason::TargetTimeout.status(), None);
}
