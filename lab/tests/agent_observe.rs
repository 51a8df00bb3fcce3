//! The passive observer inside the agents' daemons: S1's cluster on 1.24, agents observing their
//! node's uplink, and the lab's LB probing one node as Azure's LB does (from 168.63.129.16,
//! through the node's packet path). The agents report those probes as an observed twin of the
//! emulated LB backend, declared before its results, with the outcomes the LB got and the LB
//! view that follows from them.

#[path = "agent/seen.rs"]
mod seen;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use probesim_agent::daemon::observed::OBSERVED_ID_OFFSET;
use probesim_agent::event::{Event, Hop, SourceMode};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::probe::ProbeRequest;
use probesim_lab::agents::{AgentOptions, Agents};
use probesim_lab::api::Store;
use probesim_lab::cluster::Cluster;
use probesim_lab::net::can_run_network_test;
use probesim_lab::scenario::file::ProbeSource;
use probesim_lab::scenario::{Scenario, embedded};
use seen::{eventually, lb_backends};

const NAMESPACE: &str = "ingress-basic";
/// Long enough for a cluster to come up, pods to get ready and every backend to be declared.
const SETTLE: Duration = Duration::from_secs(40);
/// Probes the lab's LB sends: Azure's 1.24 probe is down after two failures in a row.
const PROBES: usize = 3;
/// Between the lab LB's probes (Azure probes every 5 s; the observer needs no more than one).
const PROBE_GAP: Duration = Duration::from_millis(300);

/// S1's cluster on 1.24 (after the upgrade: Azure's probe is HTTP GET / and gets 404).
fn s1_on_1_24() -> Scenario {
    let (name, text) = embedded::SCENARIOS
        .iter()
        .find(|(n, _)| n.starts_with("s1"))
        .expect("s1");
    let mut scenario = Scenario::parse(text, name).expect("valid scenario");
    scenario.kubernetes_version = "1.24".into();
    scenario.actions.clear();
    scenario.expect.clear();
    scenario
}

async fn pods_ready(store: &Store) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let ready = store
            .list_typed::<Pod>(Some(NAMESPACE))
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        if ready >= 2 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "S1's pods not ready within {SETTLE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn the_real_lbs_probes_of_a_node_are_reported_as_an_observed_twin_with_their_outcomes_and_view() {
    let test = "the_real_lbs_probes_of_a_node_are_reported_as_an_observed_twin";
    if !can_run_network_test(test) {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let cluster = Cluster::up(&s1_on_1_24()).await.expect("cluster up");
        pods_ready(cluster.store()).await;
        let options = AgentOptions {
            observe: true,
            ..AgentOptions::default()
        };
        let agents = Agents::start(&cluster, &options).expect("agents");
        let node = cluster.node_names().first().cloned().expect("a node");
        let lb_port_80 = |b: &probesim_agent::event::Backend, source: SourceMode| {
            b.key.hop == Hop::Lb && b.key.port == 80 && b.key.source == source
        };
        let seen = eventually(
            &agents,
            SETTLE,
            "emulated and observed LB backends",
            |seen| {
                !seen.live(|b| lb_port_80(b, SourceMode::Node)).is_empty()
                    && !seen
                        .live(|b| lb_port_80(b, SourceMode::Observed))
                        .is_empty()
            },
        )
        .await;
        let (emulated_id, emulated) = seen
            .live(|b| lb_port_80(b, SourceMode::Node))
            .into_iter()
            .find(|(id, _)| id.0 == node)
            .map(|(id, b)| (id.clone(), b.clone()))
            .expect("the node's emulated LB backend");
        assert_eq!(emulated.spec.path.as_deref(), Some("/"));
        let twin = seen
            .live(|b| lb_port_80(b, SourceMode::Observed))
            .into_iter()
            .find(|(id, _)| id.0 == node)
            .map(|(_, b)| b.clone())
            .expect("the node's observed twin");
        assert_eq!(twin.id, emulated_id.1 + OBSERVED_ID_OFFSET);
        assert_eq!(twin.key.target, emulated.key.target);
        assert_eq!(twin.probers, 1);
        for n in cluster.node_names() {
            let mut sources: Vec<SourceMode> = lb_backends(&seen, 80, "1.24")
                .into_iter()
                .filter(|(id, _)| id.0 == n)
                .map(|(_, b)| b.key.source)
                .collect();
            sources.sort();
            assert_eq!(sources, [SourceMode::Node, SourceMode::Observed], "{n}");
        }
        assert!(
            seen.live(|b| b.key.source == SourceMode::Observed && b.key.hop != Hop::Lb)
                .is_empty(),
            "hops have no observed twin"
        );

        // The lab's LB probes the node as Azure's does.
        let request = ProbeRequest::for_spec(&emulated.spec, emulated.key.target);
        let mut sent = Vec::new();
        for _ in 0..PROBES {
            let request = request.clone();
            let m = tokio::task::block_in_place(|| {
                cluster.probe_from(ProbeSource::Lb, Some(&node), request)
            });
            sent.push(m.outcome);
            tokio::time::sleep(PROBE_GAP).await;
        }
        assert!(
            sent.iter().all(|o| *o == Outcome::HttpStatus(404)),
            "the lab LB got {sent:?}"
        );

        let twin_id = (node.clone(), twin.id);
        let seen = eventually(
            &agents,
            Duration::from_secs(10),
            "the observed twin down with HTTP 404",
            |seen| seen.all_in(&twin_id, LbState::Down),
        )
        .await;
        assert_eq!(
            seen.probers(&twin_id).expect("the twin's prober"),
            vec![(LbState::Down, Some(Reason::HttpStatus(404)))]
        );

        let events: Vec<(usize, Event)> = agents
            .events()
            .into_iter()
            .filter(|r| r.node == node)
            .map(|r| r.event)
            .enumerate()
            .collect();
        let declared = events
            .iter()
            .find(|(_, e)| matches!(e, Event::Backend(b) if b.id == twin.id))
            .map(|(i, _)| *i)
            .expect("declared");
        let results: Vec<(usize, Outcome)> = events
            .iter()
            .filter_map(|(i, e)| match e {
                Event::Result(r) if r.backend == twin.id => Some((*i, r.measurement.outcome)),
                _ => None,
            })
            .collect();
        assert_eq!(results.len(), PROBES, "one result per probe: {results:?}");
        assert!(
            results
                .iter()
                .all(|(i, o)| *i > declared && *o == Outcome::HttpStatus(404)),
            "declared at {declared}: {results:?}"
        );
        let transitions = events
            .iter()
            .filter(|(i, e)| {
                *i > declared && matches!(e, Event::Transition(t) if t.backend == twin.id)
            })
            .count();
        assert!(transitions >= 1, "the twin's LB view reported no state");

        let metrics = agents.metrics(&node).expect("metrics");
        assert!(metrics.contains("source=\"observed\""), "{metrics}");
        assert!(
            metrics.contains(&format!("probesim_observer_probes_total {PROBES}")),
            "{metrics}"
        );
        assert!(
            metrics.contains("probesim_observer_packets_skipped_total 0"),
            "{metrics}"
        );
        agents.stop().await;
        cluster.down().await;
    });
}
