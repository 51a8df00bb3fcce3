//! Every built-in scenario, played in a real lab cluster with probesim on it (an agent on every
//! node streaming over gRPC to a collector): each reproduces its failure, its expectations hold
//! (the ground truth's and probesim's own), and the collector stored every probe result the
//! agents reported. Scenarios run one at a time (they are timed; two at once on a small machine
//! would make their timings lie).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use probesim_agent::event::{Hop, SourceMode};

use probesim_collector::report::ServiceReport;
use probesim_lab::cluster::Cluster;
use probesim_lab::net::can_run_network_test;
use probesim_lab::scenario::probesim::{Outcome, Probesim};
use probesim_lab::scenario::run::{Report, play};
use probesim_lab::scenario::{Scenario, embedded};
use probesim_lab::truth::Happening;
use tokio_util::sync::CancellationToken;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(prefix: &str) -> Option<(Report, Outcome)> {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !can_run_network_test(prefix) {
        return None;
    }
    let (name, text) = embedded::SCENARIOS
        .iter()
        .find(|(n, _)| n.starts_with(prefix))
        .expect("a built-in scenario");
    let scenario = Scenario::parse(text, name).expect("valid scenario");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (report, outcome) = runtime.block_on(async {
        let cluster = Arc::new(Cluster::up(&scenario).await.expect("cluster up"));
        let probesim = Probesim::start(&scenario, &cluster, None)
            .await
            .expect("probesim's agents and collector");
        let store = Some(probesim.collector.store().clone());
        let report = play(&scenario, cluster.clone(), store, CancellationToken::new()).await;
        let (collector, outcome) = probesim.finish().await.expect("probesim's report");
        collector.stop().await.expect("collector stopped");
        Arc::try_unwrap(cluster)
            .expect("cluster no longer shared")
            .down()
            .await;
        (report, outcome)
    });
    let mut text = Vec::new();
    probesim_lab::scenario::run::print(&report, &mut text).expect("print");
    eprintln!("{}", String::from_utf8_lossy(&text));
    eprintln!(
        "probesim's report:\n{}",
        probesim_collector::report::render(
            &outcome.report,
            probesim_collector::report::Format::Text
        )
    );
    assert!(
        report.passed(),
        "{name} failed:\n{}",
        String::from_utf8_lossy(&text)
    );
    assert_eq!(
        outcome.results_stored, outcome.results_reported,
        "{name}: the collector stored a different number of probe results than the agents reported"
    );
    Some((report, outcome))
}

/// probesim's report on one Service.
fn service<'r>(outcome: &'r Outcome, name: &str) -> &'r ServiceReport {
    outcome
        .report
        .services
        .iter()
        .find(|s| s.service == name)
        .unwrap_or_else(|| panic!("no Service {name} in probesim's report"))
}

/// The facts about one pod, in order.
fn pod_story(report: &Report, pod: &str) -> Vec<Happening> {
    report
        .ground_truth
        .iter()
        .filter(|f| f.object == pod)
        .map(|f| f.what)
        .collect()
}

#[test]
fn s1_aks_upgrade_to_1_24_takes_ingress_nginx_offline_until_the_probe_path_is_set() {
    run("s1");
}

#[test]
fn s2_a_network_policy_drops_probes_from_168_63_129_16_but_not_the_nodes_own() {
    let Some((_, outcome)) = run("s2") else {
        return;
    };
    // The agents probe from both addresses. On the pod's node only the LB's is dropped; from
    // the other node kube-proxy forwards with that node's address, which the policy drops too.
    let web = service(&outcome, "shop/web");
    let detections = |node: &str, source: SourceMode| -> usize {
        web.backends
            .iter()
            .filter(|b| b.hop == "lb" && b.node == node && b.source == source)
            .filter_map(|b| b.latencies.detection.as_ref())
            .map(|d| d.count)
            .sum()
    };
    let seen = [
        ("aks-nodepool1-0", SourceMode::LbSource),
        ("aks-nodepool1-0", SourceMode::Node),
        ("aks-nodepool1-1", SourceMode::LbSource),
        ("aks-nodepool1-1", SourceMode::Node),
    ]
    .map(|(node, source)| (node, source, detections(node, source) > 0));
    assert_eq!(
        seen,
        [
            ("aks-nodepool1-0", SourceMode::LbSource, true),
            ("aks-nodepool1-0", SourceMode::Node, false),
            ("aks-nodepool1-1", SourceMode::LbSource, true),
            ("aks-nodepool1-1", SourceMode::Node, true),
        ],
        "which readings saw the policy take the backend out"
    );
    let sources: Vec<SourceMode> = web.versions.iter().map(|v| v.source).collect();
    assert_eq!(sources, [SourceMode::Node, SourceMode::LbSource]);
    assert_eq!(
        web.source,
        Some(SourceMode::LbSource),
        "the LB's address speaks"
    );
}

#[test]
fn s3_the_first_hop_that_fails_shows_in_the_lbs_view() {
    let Some((_, outcome)) = run("s3") else {
        return;
    };
    for (name, hop) in [
        ("shop/wrong-target-port", "pod"),
        ("shop/no-endpoints", "cluster-ip"),
        ("shop/local", "lb"),
    ] {
        assert_eq!(
            service(&outcome, name).first_failing_hop.as_deref(),
            Some(hop),
            "probesim's first failing hop of {name}"
        );
    }
}

#[test]
fn s4_an_alb_rollout_replaces_every_pod_and_old_pods_drain_in_kubelet_order() {
    let Some((report, outcome)) = run("s4") else {
        return;
    };
    let old: Vec<String> = report
        .ground_truth
        .iter()
        .filter(|f| f.what == Happening::PodTerminating)
        .map(|f| f.object.clone())
        .collect();
    assert_eq!(old.len(), 3, "the rollout replaced three pods: {old:?}");
    for pod in &old {
        let story = pod_story(&report, pod);
        let order = [
            Happening::PodReady,
            Happening::PodTerminating,
            Happening::PreStopDone,
            Happening::Sigterm,
            Happening::StoppedAccepting,
            Happening::Stopped,
            Happening::PodDeleted,
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|h| {
                story
                    .iter()
                    .position(|s| s == h)
                    .unwrap_or_else(|| panic!("{pod}: no {h:?} in {story:?}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{pod}: {story:?}"
        );
    }
    let ready = report
        .ground_truth
        .iter()
        .filter(|f| f.what == Happening::PodReady)
        .count();
    assert_eq!(ready, 6, "three pods, then three new ones");

    // probesim's verdicts: one per old pod, its "stopped accepting" within one probe period
    // (interval 10 s / 10 virtual probers) of the ground truth.
    let web = service(&outcome, "shop/web");
    assert_eq!(web.pods.len(), 3, "{:?}", web.pods);
    for pod in &old {
        let truth_at = |what: Happening| {
            report
                .ground_truth
                .iter()
                .find(|f| f.object == *pod && f.what == what)
                .map(|f| f.at)
                .unwrap_or_else(|| panic!("{pod}: no {what:?}"))
        };
        let truly = truth_at(Happening::StoppedAccepting)
            .duration_since(truth_at(Happening::PodTerminating))
            .expect("stopped after Terminating");
        let name = pod.trim_start_matches("Pod/");
        let verdict = web
            .pods
            .iter()
            .find(|p| p.pod == name)
            .unwrap_or_else(|| panic!("no verdict for {name}: {:?}", web.pods));
        let said = verdict
            .stopped_accepting_after
            .unwrap_or_else(|| panic!("{name}: no stopped-accepting moment: {verdict:?}"));
        let off = said.abs_diff(truly);
        assert!(
            off <= Duration::from_millis(1_100),
            "{name}: probesim says stopped accepting {said:?} after Terminating, the truth {truly:?}"
        );
        assert!(verdict.covered.is_some(), "{name}: a verdict: {verdict:?}");
    }
    let registration = web.latencies.registration.as_ref().expect("registration");
    assert!(registration.count >= 3, "{registration:?}");
}

#[test]
fn s5_only_the_grpc_target_group_loses_the_gateway_pods() {
    let Some((_, outcome)) = run("s5") else {
        return;
    };
    // Both target groups have their own timelines: the gRPC one fails once the app answers
    // UNAVAILABLE, the HTTP one never does.
    let totals = |object: &str| {
        let (mut ok, mut failed) = (0, 0);
        for b in &outcome.history.backends {
            if b.key.object.to_string() == object && b.key.hop == Hop::Lb {
                for r in &b.rollups {
                    ok += r.successes;
                    failed += r.failures;
                }
            }
        }
        (ok, failed)
    };
    let (grpc_ok, grpc_failed) = totals("Ingress/istio-system/gateway-grpc");
    let (http_ok, http_failed) = totals("Ingress/istio-system/gateway-http");
    assert!(
        grpc_ok > 0 && grpc_failed > 0,
        "gRPC: {grpc_ok} passed, {grpc_failed} failed"
    );
    assert!(
        http_ok > 0 && http_failed == 0,
        "HTTP: {http_ok} passed, {http_failed} failed"
    );
}

#[test]
fn s6_a_local_service_moves_nodes_with_its_pod() {
    let Some((_, outcome)) = run("s6") else {
        return;
    };
    let windows = &service(&outcome, "shop/web").node_windows;
    assert!(
        windows
            .iter()
            .any(|w| w.node == "ip-10-224-0-4.ec2.internal"),
        "the node the pod left stays in the CLB's rotation without a serving pod: {windows:?}"
    );
}

#[test]
fn s7_the_node_proxy_fails_while_the_tunnel_is_down() {
    let Some((_, outcome)) = run("s7") else {
        return;
    };
    let outages = &outcome.report.node_proxy;
    assert!(
        outages
            .iter()
            .any(|o| o.node == "aks-nodepool1-0" && o.to.is_some()),
        "probesim reports the broken path to aks-nodepool1-0, and its end: {outages:?}"
    );
    assert!(
        outages.iter().all(|o| o.node == "aks-nodepool1-0"),
        "only that node: {outages:?}"
    );
}
