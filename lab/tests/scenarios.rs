//! Every built-in scenario, played in a real lab cluster with probesim on it (an agent on every
//! node streaming over gRPC to a collector): each reproduces its failure, its expectations hold
//! (the ground truth's and probesim's own), and the collector stored every probe result the
//! agents reported. Scenarios run one at a time (they are timed; two at once on a small machine
//! would make their timings lie).

use std::sync::{Arc, Mutex};

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
    assert!(
        outcome.results_reported > 0,
        "{name}: the agents reported no probe result"
    );
    assert_eq!(
        outcome.results_stored, outcome.results_reported,
        "{name}: the collector stored a different number of probe results than the agents reported"
    );
    Some((report, outcome))
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
    run("s2");
}

#[test]
fn s3_the_first_hop_that_fails_shows_in_the_lbs_view() {
    run("s3");
}

#[test]
fn s4_an_alb_rollout_replaces_every_pod_and_old_pods_drain_in_kubelet_order() {
    let Some((report, _)) = run("s4") else { return };
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
}

#[test]
fn s5_only_the_grpc_target_group_loses_the_gateway_pods() {
    run("s5");
}

#[test]
fn s6_a_local_service_moves_nodes_with_its_pod() {
    run("s6");
}

#[test]
fn s7_the_node_proxy_fails_while_the_tunnel_is_down() {
    run("s7");
}
