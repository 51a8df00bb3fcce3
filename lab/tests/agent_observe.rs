//! The passive observer inside the agents' daemons, with the lab's LB probing the nodes through
//! their packet path as the cloud's does:
//!
//! - Azure: S1's cluster on 1.24, the LB probing one node from 168.63.129.16;
//! - AWS, the agents observing the LB's subnet (`--observe-lb-network`): S6's Classic LB
//!   health-checking every node with `User-Agent: ELB-HealthChecker/1.0` ([`clb`]); S4's ALB in
//!   ip mode health-checking a pod with `User-Agent: ELB-HealthChecker/2.0` ([`alb`]).
//!
//! The agents report those probes as an observed twin of the emulated LB backend, declared
//! before its results, with the outcomes the LB got and the LB view that follows from them.

#[path = "agent_observe/alb.rs"]
mod alb;
#[path = "agent_observe/clb.rs"]
mod clb;
#[path = "agent/cluster.rs"]
mod cluster;
#[path = "agent/lab.rs"]
mod lab;
#[path = "agent/seen.rs"]
mod seen;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use cluster::cluster_of;
use lab::in_lab;
use probesim_agent::daemon::observed::{Network, OBSERVED_ID_OFFSET};
use probesim_agent::event::{Backend, Event, Hop, SourceMode};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::probe::ProbeRequest;
use probesim_lab::agents::{AgentOptions, Agents};
use probesim_lab::cluster::Cluster;
use probesim_lab::scenario::file::ProbeSource;
use seen::{Id, Seen, eventually, lb_backends};

/// Long enough for the agents to declare every backend.
const SETTLE: Duration = Duration::from_secs(40);
/// Probes the lab's LB sends to each backend: Azure's 1.24 probe is down after two failures in
/// a row; S6's Classic LB is in service after two passes and out of service after two failures.
const PROBES: usize = 3;
/// Between the lab LB's probes (the clouds probe every 5 s or more; the observer needs no more
/// than one).
const PROBE_GAP: Duration = Duration::from_millis(300);
/// The lab's AWS LB subnet, holding the address its LB probes from (`AWS_PROBE_SOURCE`), as
/// `--observe-lb-network` names it.
const AWS_LB_NETWORK: Network = (Ipv4Addr::new(10, 224, 255, 0), 24);
/// How long observed results may take to reach the twin's LB view.
const OBSERVED_WITHIN: Duration = Duration::from_secs(10);

fn lb_backend(b: &Backend, source: SourceMode) -> bool {
    b.key.hop == Hop::Lb && b.key.source == source
}

/// An emulated LB backend of a node and its observed twin.
struct Pair {
    node: String,
    emulated: Arc<Backend>,
    twin: Arc<Backend>,
}

impl Pair {
    /// The LB backend of `node` that `f` picks and its twin, checked to be one.
    fn of(seen: &Seen, node: &str, f: impl Fn(&Backend) -> bool) -> Pair {
        let of_node = |source: SourceMode| {
            seen.live(|b| lb_backend(b, source) && f(b))
                .into_iter()
                .find(|(id, _)| id.0 == node)
                .map(|(_, b)| b.clone())
        };
        let emulated = of_node(SourceMode::Node).expect("the node's emulated LB backend");
        let twin = of_node(SourceMode::Observed).expect("the node's observed twin");
        assert_eq!(twin.id, emulated.id + OBSERVED_ID_OFFSET, "{node}");
        assert_eq!(twin.key.target, emulated.key.target, "{node}");
        assert_eq!(twin.spec, emulated.spec, "{node}");
        assert_eq!(twin.probers, 1, "{node}");
        Pair {
            node: node.to_owned(),
            emulated,
            twin,
        }
    }

    fn emulated_id(&self) -> Id {
        (self.node.clone(), self.emulated.id)
    }

    fn twin_id(&self) -> Id {
        (self.node.clone(), self.twin.id)
    }
}

/// The lab's LB probes `backend` of `node` `PROBES` times as the cloud's does; the outcomes.
async fn probe_as_the_lb(cluster: &Cluster, node: &str, backend: &Backend) -> Vec<Outcome> {
    let request = ProbeRequest::for_spec(&backend.spec, backend.key.target);
    let mut sent = Vec::new();
    for _ in 0..PROBES {
        let request = request.clone();
        let m = tokio::task::block_in_place(|| {
            cluster.probe_from(ProbeSource::Lb, Some(node), request)
        });
        sent.push(m.outcome);
        tokio::time::sleep(PROBE_GAP).await;
    }
    sent
}

/// Checks what `node`'s agent reported of `twin`, in order: declared before its results, one
/// result per probe with the outcome the LB got, and its LB view after the declaration.
fn assert_twin_reported(agents: &Agents, pair: &Pair, sent: &[Outcome]) {
    let (node, twin) = (&pair.node, pair.twin.id);
    let events: Vec<(usize, Event)> = agents
        .events()
        .into_iter()
        .filter(|r| r.node == *node)
        .map(|r| r.event)
        .enumerate()
        .collect();
    let declared = events
        .iter()
        .find(|(_, e)| matches!(e, Event::Backend(b) if b.id == twin))
        .map(|(i, _)| *i)
        .expect("declared");
    let results: Vec<(usize, Outcome)> = events
        .iter()
        .filter_map(|(i, e)| match e {
            Event::Result(r) if r.backend == twin => Some((*i, r.measurement.outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(
        results.len(),
        sent.len(),
        "one result per probe: {results:?}"
    );
    assert!(
        results
            .iter()
            .zip(sent)
            .all(|((i, o), sent)| *i > declared && o == sent),
        "{node}: declared at {declared}: {results:?}, the LB got {sent:?}"
    );
    let transitions = events
        .iter()
        .filter(|(i, e)| *i > declared && matches!(e, Event::Transition(t) if t.backend == twin))
        .count();
    assert!(
        transitions >= 1,
        "{node}: the twin's LB view reported no state"
    );
}

#[test]
fn the_real_lbs_probes_of_a_node_are_reported_as_an_observed_twin_with_their_outcomes_and_view() {
    let test = "the_real_lbs_probes_of_a_node_are_reported_as_an_observed_twin";
    // After the upgrade: Azure's probe is HTTP GET / and gets 404.
    let s1 = cluster_of("s1", "1.24");
    in_lab(test, &s1, ("ingress-basic", 2), async |cluster| {
        let options = AgentOptions {
            observe: true,
            ..AgentOptions::default()
        };
        let agents = Agents::start(&cluster, &options).expect("agents");
        let node = cluster.node_names().first().cloned().expect("a node");
        let port_80 = |b: &Backend| b.key.port == 80;
        let seen = eventually(
            &agents,
            SETTLE,
            "emulated and observed LB backends",
            |seen| {
                [SourceMode::Node, SourceMode::Observed]
                    .iter()
                    .all(|s| !seen.live(|b| lb_backend(b, *s) && port_80(b)).is_empty())
            },
        )
        .await;
        let pair = Pair::of(&seen, &node, port_80);
        assert_eq!(pair.emulated.spec.path.as_deref(), Some("/"));
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
        let sent = probe_as_the_lb(&cluster, &node, &pair.emulated).await;
        assert!(
            sent.iter().all(|o| *o == Outcome::HttpStatus(404)),
            "the lab LB got {sent:?}"
        );

        let twin_id = pair.twin_id();
        let seen = eventually(
            &agents,
            OBSERVED_WITHIN,
            "the observed twin down with HTTP 404",
            |seen| seen.all_in(&twin_id, LbState::Down),
        )
        .await;
        assert_eq!(
            seen.probers(&twin_id).expect("the twin's prober"),
            vec![(LbState::Down, Some(Reason::HttpStatus(404)))]
        );
        assert_twin_reported(&agents, &pair, &sent);

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
        cluster
    });
}
