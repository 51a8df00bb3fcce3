//! Properties of the success rules over generated specs and outcomes.

use proptest::prelude::*;

use super::fail;
use crate::lb::outcome::Outcome;
use crate::lb::outcome::testing::{any_local, any_outcome, any_phase};
use crate::lb::verdict::testing::{any_lb, any_protocol, any_spec, spec, with_matcher};
use crate::lb::verdict::{Reason, Verdict, judge};
use crate::model::LbKind::{Alb, AzureLb, Clb, Nlb};
use crate::model::ProbeProtocol::{Http, Https, Ssl, Tcp};

proptest! {
    #[test]
    fn a_local_outcome_is_never_counted_whatever_the_spec(spec in any_spec(), local in any_local()) {
        prop_assert_eq!(judge(&spec, &Outcome::Local(local)), Verdict::NotCounted { local });
    }

    #[test]
    fn a_target_outcome_is_always_counted(spec in any_spec(), outcome in any_outcome()) {
        prop_assume!(!outcome.is_local());
        prop_assert!(judge(&spec, &outcome).is_counted());
    }

    #[test]
    fn tcp_probes_succeed_exactly_when_the_handshake_completed(lb in any_lb(), outcome in any_outcome()) {
        prop_assume!(!outcome.is_local());
        prop_assert_eq!(judge(&spec(lb, Tcp), &outcome).is_success(), outcome.connected());
    }

    #[test]
    fn ssl_probes_succeed_exactly_when_the_tls_handshake_completed(lb in any_lb(), outcome in any_outcome()) {
        prop_assume!(!outcome.is_local());
        prop_assert_eq!(judge(&spec(lb, Ssl), &outcome).is_success(), outcome.tls_established());
    }

    #[test]
    fn azure_and_clb_http_succeed_exactly_on_status_200(
        lb in prop_oneof![Just(AzureLb), Just(Clb)],
        protocol in prop_oneof![Just(Http), Just(Https)],
        outcome in any_outcome(),
    ) {
        prop_assume!(!outcome.is_local());
        let ok = matches!(outcome, Outcome::HttpStatus(200) | Outcome::GrpcStatus { http: 200, .. });
        prop_assert_eq!(judge(&spec(lb, protocol), &outcome).is_success(), ok);
    }

    #[test]
    fn alb_http_succeeds_exactly_when_the_matcher_matches(
        lo in 200u16..=499, len in 0u16..100, status in 100u16..=599,
    ) {
        let hi = (lo + len).min(499);
        let spec = with_matcher(spec(Alb, Http), &format!("{lo}-{hi}"));
        let verdict = judge(&spec, &Outcome::HttpStatus(status));
        if (lo..=hi).contains(&status) {
            prop_assert_eq!(verdict, Verdict::Success);
        } else {
            prop_assert_eq!(verdict, fail(Reason::TargetResponseCodeMismatch(u32::from(status))));
        }
    }

    #[test]
    fn timeouts_fail_with_the_no_answer_reason_in_every_phase(
        spec in any_spec(),
        phase in any_phase(),
    ) {
        let verdict = judge(&spec, &Outcome::Timeout { phase });
        let expected = match spec.lb {
            AzureLb | Clb => Reason::ProbeTimeout,
            Alb | Nlb => Reason::TargetTimeout,
        };
        prop_assert_eq!(verdict, fail(expected));
        prop_assert!(expected.is_no_answer());
    }

    #[test]
    fn aws_elbv2_failures_carry_only_the_three_target_reason_codes(
        lb in prop_oneof![Just(Alb), Just(Nlb)],
        protocol in any_protocol(),
        outcome in any_outcome(),
    ) {
        if let Some(reason) = judge(&spec(lb, protocol), &outcome).reason() {
            prop_assert!(matches!(
                reason,
                Reason::TargetResponseCodeMismatch(_) | Reason::TargetTimeout | Reason::TargetFailedHealthChecks
            ), "{:?}", reason);
        }
    }

    #[test]
    fn azure_and_clb_failures_never_borrow_aws_target_codes(
        lb in prop_oneof![Just(AzureLb), Just(Clb)],
        protocol in any_protocol(),
        outcome in any_outcome(),
    ) {
        if let Some(reason) = judge(&spec(lb, protocol), &outcome).reason() {
            prop_assert!(!reason.code().contains('.'), "{:?}", reason);
        }
    }
}
