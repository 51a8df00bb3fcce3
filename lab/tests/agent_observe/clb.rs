//! The observer's AWS path: S6's Classic LB health-checks the healthCheckNodePort of every node
//! (HTTP GET /healthz, `User-Agent: ELB-HealthChecker/1.0`) from the LB's subnet; kube-proxy
//! answers 200 on the node running the Service's pod and 503 on the other. The agents observe
//! the subnet, as `--observe-lb-network` has them do, and tell the health checks from a
//! client's traffic by the user agent.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use probesim_agent::daemon::observed::Network;
use probesim_agent::event::SourceMode;
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{CLB_USER_AGENT, LbKind, ProbeProtocol, WireDetails};
use probesim_agent::probe::ProbeRequest;
use probesim_lab::agents::{AgentOptions, Agents};
use probesim_lab::cluster::AWS_PROBE_SOURCE;
use probesim_lab::net::Ipv4Cidr;
use probesim_lab::net::topology::NODE_SUBNET;
use probesim_lab::scenario::file::ProbeSource;

use super::{
    AWS_LB_NETWORK, OBSERVED_WITHIN, PROBES, Pair, SETTLE, assert_twin_reported, cluster_of,
    eventually, in_lab, lb_backend, probe_as_the_lb,
};

/// S6's namespace, with the Service's one pod.
const NAMESPACE: &str = "shop";
/// A client's request through the LB: traffic from the LB's subnet that is no health check.
const CLIENT_USER_AGENT: &str = "curl/8.5.0";
/// How long S6's emulated Classic LB (a check every 5 s, thresholds of 2) may take to decide.
const EMULATED_WITHIN: Duration = Duration::from_secs(30);

#[test]
fn an_aws_lbs_health_checks_from_its_subnet_are_observed_twins_in_and_out_of_service_with_them() {
    let test = "an_aws_lbs_health_checks_from_its_subnet_are_observed_twins";
    observed_from(test, AWS_LB_NETWORK, Counters::Exact);
}

#[test]
fn an_aws_lb_in_the_nodes_own_subnet_is_observed_with_the_nodes_answers_told_from_its_probes() {
    // An NLB or ALB sharing the nodes' subnet: the node's own address is inside the observed
    // network too, and so is the agents' traffic to the control plane.
    let test = "an_aws_lb_in_the_nodes_own_subnet_is_observed";
    let nodes_subnet = (NODE_SUBNET.network(), NODE_SUBNET.prefix_len());
    observed_from(test, nodes_subnet, Counters::AtLeast);
}

/// How the observer's counters can be checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counters {
    /// Only the lab LB's connections come from the observed network.
    Exact,
    /// The node's own connections within the network are followed too (and end as client
    /// traffic, or as unmapped probes, whenever they close).
    AtLeast,
}

/// S6's cluster with agents observing `network` while the lab's LB health-checks both nodes.
fn observed_from(test: &str, network: Network, counters: Counters) {
    // As written (1.30), without the move of the pod: it stays on the first node.
    let s6 = cluster_of("s6", "1.30");
    in_lab(test, &s6, (NAMESPACE, 1), async |cluster| {
        assert!(Ipv4Cidr::new(network.0, network.1).contains(AWS_PROBE_SOURCE));
        let options = AgentOptions {
            observe: true,
            observe_lb_networks: vec![network],
            ..AgentOptions::default()
        };
        let agents = Agents::start(&cluster, &options).expect("agents");
        let nodes = cluster.node_names();
        let serving = cluster
            .store()
            .list_typed::<Pod>(Some(NAMESPACE))
            .into_iter()
            .find_map(|p| p.spec?.node_name)
            .expect("the pod's node");
        let idle = nodes
            .iter()
            .find(|n| **n != serving)
            .cloned()
            .expect("a node without the pod");

        let seen = eventually(
            &agents,
            SETTLE,
            "an emulated LB backend and its observed twin on every node",
            |seen| {
                nodes.iter().all(|n| {
                    [SourceMode::Node, SourceMode::Observed].iter().all(|s| {
                        seen.live(|b| lb_backend(b, *s))
                            .iter()
                            .any(|(id, _)| id.0 == *n)
                    })
                })
            },
        )
        .await;
        for n in &nodes {
            let count = |source: SourceMode| {
                seen.live(|b| lb_backend(b, source))
                    .iter()
                    .filter(|(id, _)| id.0 == *n)
                    .count()
            };
            // A Classic LB has one health check.
            assert_eq!(
                (count(SourceMode::Node), count(SourceMode::Observed)),
                (1, 1),
                "{n}"
            );
        }
        let (on_serving_node, on_idle_node) = (
            Pair::of(&seen, &serving, |_| true),
            Pair::of(&seen, &idle, |_| true),
        );
        for Pair { emulated, .. } in [&on_serving_node, &on_idle_node] {
            assert_eq!(emulated.spec.lb, LbKind::Clb);
            assert_eq!(emulated.spec.protocol, ProbeProtocol::Http);
            assert_eq!(emulated.spec.path.as_deref(), Some("/healthz"));
            assert_eq!(emulated.spec.unhealthy_threshold, 2);
            assert_eq!(
                emulated.spec.wire.user_agent.as_deref(),
                Some(CLB_USER_AGENT)
            );
        }

        // The lab's LB health-checks both nodes from its subnet, as the Classic LB does.
        let on_serving = probe_as_the_lb(&cluster, &serving, &on_serving_node.emulated).await;
        let on_idle = probe_as_the_lb(&cluster, &idle, &on_idle_node.emulated).await;
        assert!(
            on_serving.iter().all(|o| *o == Outcome::HttpStatus(200)),
            "the lab LB got {on_serving:?} from {serving}"
        );
        assert!(
            on_idle.iter().all(|o| *o == Outcome::HttpStatus(503)),
            "the lab LB got {on_idle:?} from {idle}"
        );
        // A client's request from the same subnet to the same port is no health check.
        let emulated = &on_serving_node.emulated;
        let mut client = ProbeRequest::for_spec(&emulated.spec, emulated.key.target);
        client.wire = Arc::new(WireDetails {
            user_agent: Some(CLIENT_USER_AGENT.to_owned()),
            ..emulated.spec.wire.clone()
        });
        let answer = tokio::task::block_in_place(|| {
            cluster.probe_from(ProbeSource::Lb, Some(&serving), client)
        });
        assert_eq!(answer.outcome, Outcome::HttpStatus(200));

        let (serving_twin, idle_twin) = (on_serving_node.twin_id(), on_idle_node.twin_id());
        let failed = (
            LbState::OutOfService,
            Some(Reason::InstanceFailedHealthChecks),
        );
        let seen = eventually(
            &agents,
            OBSERVED_WITHIN,
            "the twins in service where the pod serves, failed elsewhere",
            |seen| {
                seen.probers(&serving_twin) == Some(vec![(LbState::InService, None)])
                    && seen.probers(&idle_twin) == Some(vec![failed])
            },
        )
        .await;
        assert!(seen.removed.is_empty());
        assert_twin_reported(&agents, &on_serving_node, &on_serving);
        assert_twin_reported(&agents, &on_idle_node, &on_idle);

        for (node, not_probes) in [(&serving, 1), (&idle, 0)] {
            let metrics = agents.metrics(node).expect("metrics");
            let counter = |name: &str| {
                metrics
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("probesim_observer_{name}_total ")))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("{node}: no {name}\n{metrics}"))
            };
            let got = [
                counter("probes"),
                counter("connections_not_probes"),
                counter("probes_unmapped"),
            ];
            let lab_lb = [PROBES as u64, not_probes, 0];
            match counters {
                Counters::Exact => assert_eq!(got, lab_lb, "{node}\n{metrics}"),
                Counters::AtLeast => assert!(
                    got.iter().zip(lab_lb).all(|(got, lab_lb)| *got >= lab_lb),
                    "{node}: {got:?}\n{metrics}"
                ),
            }
            assert_eq!(counter("packets_skipped"), 0, "{node}");
        }

        // What probesim predicts agrees with what the LB decided.
        let (serving_emulated, idle_emulated) =
            (on_serving_node.emulated_id(), on_idle_node.emulated_id());
        eventually(
            &agents,
            EMULATED_WITHIN,
            "the emulated backends in the twins' states",
            |seen| {
                seen.all_in(&serving_emulated, LbState::InService)
                    && seen
                        .probers(&idle_emulated)
                        .is_some_and(|p| p.iter().all(|s| *s == failed))
            },
        )
        .await;
        agents.stop().await;
        cluster
    });
}
