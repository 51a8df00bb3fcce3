//! S3: the Service reaches no pod; the report walks inside out and names the first failing hop.

use probesim_agent::event::{Hop, LifecycleKind};
use probesim_agent::lb::health::LbState::{Down, Up};
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{LbKind, ProbeProtocol};

use super::super::testing::*;
use super::{only_service, report};
use crate::report::{FindingKind, Severity};

const SVC: &str = "default/web";

fn tcp() -> probesim_agent::model::ProbeSpec {
    spec(LbKind::AzureLb, ProbeProtocol::Tcp, None, 80)
}

fn passing(hop: Hop) -> B {
    B::new(SVC, "node-1", hop, tcp(), 1).seconds(0, 30, 1, 0, "")
}

fn failing(hop: Hop, kind: &str) -> B {
    B::new(SVC, "node-1", hop, tcp(), 1).seconds(0, 30, 0, 1, kind)
}

fn lb_out() -> B {
    failing(Hop::Lb, "timeout")
}

#[test]
fn s3_selector_matching_no_pod_says_no_ready_endpoints_and_the_pod_to_service_hop() {
    let endpoints = event(
        LifecycleKind::ServiceEndpoints,
        ("Service", "default", "web"),
        None,
        1.0,
        &[("ready", "0"), ("total", "0"), ("selector", "app=web-1")],
    );
    let h = history(
        vec![
            failing(Hop::ClusterIp, "refused").build(),
            failing(Hop::NodePort, "timeout").build(),
            lb_out().build(),
        ],
        vec![endpoints],
    );
    let r = report(&h);
    let s = only_service(&r);
    let f = s
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::NoReadyEndpoints)
        .unwrap();
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.message,
        "Service default/web has no ready endpoints: selector app=web-1 matches no pod; the \
         first failing hop is pod → Service"
    );
    assert_eq!(s.first_failing_hop.as_deref(), Some("cluster-ip"));
    assert_eq!(s.endpoints.as_ref().unwrap().ready, Some(0));
    let hops: Vec<&str> = s.hops.iter().map(|h| h.hop.as_str()).collect();
    assert_eq!(hops, ["cluster-ip", "node-port", "lb"]);
}

#[test]
fn s3_service_known_only_from_its_endpoint_count_is_reported() {
    let endpoints = event(
        LifecycleKind::ServiceEndpoints,
        ("Service", "default", "web"),
        None,
        1.0,
        &[("ready", "0"), ("total", "2"), ("selector", "app=web")],
    );
    let r = report(&history(Vec::new(), vec![endpoints]));
    let s = only_service(&r);
    assert_eq!(
        s.findings[0].message,
        "Service default/web has no ready endpoints: none of its 2 endpoints is ready"
    );
}

#[test]
fn s3_first_failing_hop_table() {
    // (hops probed with their end state, first failing hop, words of the finding)
    let cases: [(&str, Vec<B>, Option<&str>, &str); 4] = [
        (
            "targetPort differs from the container port",
            vec![
                failing(Hop::Pod, "refused"),
                failing(Hop::ClusterIp, "refused"),
                lb_out(),
            ],
            Some("pod"),
            "the first failing hop is the pod itself (pod IP:targetPort) (1 of 1 failing: \
             connection refused)",
        ),
        (
            "NodePort fails while the Service passes",
            vec![
                passing(Hop::Pod),
                passing(Hop::ClusterIp),
                failing(Hop::NodePort, "timeout"),
                lb_out(),
            ],
            Some("node-port"),
            "the first failing hop is Service → NodePort (1 of 1 failing: timeout); pod, \
             cluster-ip pass",
        ),
        (
            "only the LB's probe fails",
            vec![passing(Hop::Pod), passing(Hop::NodePort), lb_out()],
            Some("lb"),
            "the first failing hop is NodePort → LB probe (1 of 1 failing: timeout); pod, \
             node-port pass",
        ),
        (
            "everything passes",
            vec![
                passing(Hop::Pod),
                passing(Hop::Lb).change(0, Down, Up, None, 0.1),
            ],
            None,
            "",
        ),
    ];
    for (name, backends, first, words) in cases {
        let h = history(backends.into_iter().map(B::build).collect(), Vec::new());
        let r = report(&h);
        let s = only_service(&r);
        assert_eq!(s.first_failing_hop.as_deref(), first, "{name}");
        let hop_finding = s
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::FirstFailingHop);
        match first {
            Some(_) => assert_eq!(hop_finding.unwrap().message, words, "{name}"),
            None => assert!(hop_finding.is_none(), "{name}: {:#?}", s.findings),
        }
    }
}

#[test]
fn s3_lb_hop_out_by_its_change_counts_as_failing_though_its_last_second_passed() {
    let lb = B::new(SVC, "node-1", Hop::Lb, tcp(), 1)
        .seconds(0, 10, 1, 0, "")
        .change(0, Down, Up, None, 0.1)
        .change(0, Up, Down, Some(Reason::ProbeTimeout), 5.0);
    let h = history(vec![passing(Hop::NodePort).build(), lb.build()], Vec::new());
    assert_eq!(
        only_service(&report(&h)).first_failing_hop.as_deref(),
        Some("lb")
    );
}

#[test]
fn services_known_only_from_healthy_endpoint_counts_are_left_out() {
    let endpoints = event(
        LifecycleKind::ServiceEndpoints,
        ("Service", "kube-system", "dns"),
        None,
        1.0,
        &[("ready", "2"), ("total", "2")],
    );
    assert!(
        report(&history(Vec::new(), vec![endpoints]))
            .services
            .is_empty()
    );
}
