//! Spec builders shared by the tests of the verdicts and the state machines.

use proptest::prelude::*;

use crate::lb::matcher::{ALB_GRPC_RANGE, ALB_HTTP_RANGE, Matcher, MatcherKind, NLB_HTTP_RANGE};
use crate::model::{LbKind, ProbePort, ProbeProtocol, ProbeSpec, TargetKind, WireDetails};

/// A spec as the derivations produce it, with the LB's default matcher left unset.
pub fn spec(lb: LbKind, protocol: ProbeProtocol) -> ProbeSpec {
    ProbeSpec {
        lb,
        protocol,
        port: ProbePort::Number(30080),
        path: protocol.is_http_like().then(|| "/healthz".to_owned()),
        interval_s: 5,
        timeout_s: 5,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: None,
        target: TargetKind::Node,
        wire: WireDetails::for_lb(lb),
        deregistration_delay_s: None,
    }
}

/// `spec` with a matcher, parsed against the range its LB allows.
pub fn with_matcher(mut spec: ProbeSpec, text: &str) -> ProbeSpec {
    let (kind, range) = match (spec.lb, spec.protocol) {
        (_, ProbeProtocol::Grpc) => (MatcherKind::Grpc, ALB_GRPC_RANGE),
        (LbKind::Nlb, _) => (MatcherKind::Http, NLB_HTTP_RANGE),
        _ => (MatcherKind::Http, ALB_HTTP_RANGE),
    };
    spec.matcher = Some(Matcher::parse(kind, text, range).expect("test matcher parses"));
    spec
}

pub fn any_lb() -> impl Strategy<Value = LbKind> {
    prop_oneof![
        Just(LbKind::AzureLb),
        Just(LbKind::Alb),
        Just(LbKind::Nlb),
        Just(LbKind::Clb),
    ]
}

pub fn any_protocol() -> impl Strategy<Value = ProbeProtocol> {
    prop_oneof![
        Just(ProbeProtocol::Tcp),
        Just(ProbeProtocol::Http),
        Just(ProbeProtocol::Https),
        Just(ProbeProtocol::Grpc),
        Just(ProbeProtocol::Ssl),
    ]
}

/// Any LB with any protocol, thresholds 1-10 (hand-written specs may go below the clouds' 2).
pub fn any_spec() -> impl Strategy<Value = ProbeSpec> {
    (
        any_lb(),
        any_protocol(),
        1u32..=10,
        1u32..=10,
        prop::option::of(0u32..=600),
    )
        .prop_map(|(lb, protocol, healthy, unhealthy, delay)| ProbeSpec {
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
            deregistration_delay_s: delay,
            ..spec(lb, protocol)
        })
}
