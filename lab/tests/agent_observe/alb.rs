//! The observer's AWS path with an ALB in ip mode (S4): the ALB health-checks the pods
//! themselves (HTTP GET of the target group's path, `User-Agent: ELB-HealthChecker/2.0`) from
//! its subnet, through the node's uplink. A pod's twin goes healthy with the ALB's passes and
//! unhealthy once success codes the pods do not answer make them fail, as the emulation does.

use std::time::Duration;

use probesim_agent::event::{Backend, SourceMode};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{ELBV2_USER_AGENT, LbKind, TargetKind};
use probesim_lab::agents::{AgentOptions, Agents};
use probesim_lab::api::Resource;
use serde_json::json;

use super::{
    AWS_LB_NETWORK, OBSERVED_WITHIN, Pair, SETTLE, assert_twin_reported, cluster_of, eventually,
    in_lab, lb_backend, probe_as_the_lb,
};

/// S4's Ingress, whose annotations configure the ALB's target group.
const INGRESS: (&str, &str) = ("shop", "web");
const SUCCESS_CODES: &str = "alb.ingress.kubernetes.io/success-codes";
/// Success codes the pods' health check (200) does not answer with.
const WRONG_CODES: &str = "204";
/// How long S4's emulated ALB (a check every 10 s, unhealthy after 2) may take to decide.
const EMULATED_WITHIN: Duration = Duration::from_secs(45);

fn alb(b: &Backend) -> bool {
    b.spec.lb == LbKind::Alb
}

#[test]
fn an_albs_health_checks_of_a_pod_are_an_observed_twin_healthy_then_unhealthy_on_wrong_codes() {
    let test = "an_albs_health_checks_of_a_pod_are_an_observed_twin";
    let s4 = cluster_of("s4", "1.30");
    in_lab(test, &s4, (INGRESS.0, 3), async |cluster| {
        let options = AgentOptions {
            observe: true,
            observe_lb_networks: vec![AWS_LB_NETWORK],
            ..AgentOptions::default()
        };
        let agents = Agents::start(&cluster, &options).expect("agents");
        let seen = eventually(
            &agents,
            SETTLE,
            "a pod's emulated ALB backend and its observed twin",
            |seen| {
                [SourceMode::Node, SourceMode::Observed]
                    .iter()
                    .all(|s| !seen.live(|b| lb_backend(b, *s) && alb(b)).is_empty())
            },
        )
        .await;
        let node = seen
            .live(|b| lb_backend(b, SourceMode::Observed) && alb(b))
            .first()
            .map(|(id, _)| id.0.clone())
            .expect("a node with a twin");
        let pair = Pair::of(&seen, &node, alb);
        let spec = &pair.emulated.spec;
        assert_eq!(spec.target, TargetKind::Pod);
        assert_eq!(spec.path.as_deref(), Some("/healthz/ready"));
        assert_eq!(spec.wire.user_agent.as_deref(), Some(ELBV2_USER_AGENT));
        assert_eq!(spec.unhealthy_threshold, 2);
        let twin_id = pair.twin_id();

        // The ALB checks the pod: 200, healthy after the first pass.
        let passes = probe_as_the_lb(&cluster, &node, &pair.emulated).await;
        assert!(
            passes.iter().all(|o| *o == Outcome::HttpStatus(200)),
            "the lab LB got {passes:?}"
        );
        let seen = eventually(&agents, OBSERVED_WITHIN, "the twin healthy", |seen| {
            seen.probers(&twin_id) == Some(vec![(LbState::Healthy, None)])
        })
        .await;
        assert!(!seen.removed.contains(&twin_id));

        // The target group's success codes are changed to one the pods do not answer with: the
        // twin follows the new spec, and the ALB's checks of it fail.
        cluster
            .store()
            .modify(Resource::Ingress, INGRESS.0, INGRESS.1, |ingress| {
                ingress["metadata"]["annotations"][SUCCESS_CODES] = json!(WRONG_CODES);
            })
            .expect("annotate");
        let seen = eventually(&agents, SETTLE, "the twin on the new codes", |seen| {
            seen.backends
                .get(&twin_id)
                .is_some_and(|t| t.spec != pair.twin.spec)
        })
        .await;
        let changed = seen.backends.get(&twin_id).expect("the twin").clone();
        let failures = probe_as_the_lb(&cluster, &node, &changed).await;
        assert!(
            failures.iter().all(|o| *o == Outcome::HttpStatus(200)),
            "the lab LB got {failures:?}"
        );
        let unhealthy = (
            LbState::Unhealthy,
            Some(Reason::TargetResponseCodeMismatch(200)),
        );
        eventually(&agents, OBSERVED_WITHIN, "the twin unhealthy", |seen| {
            seen.probers(&twin_id) == Some(vec![unhealthy])
        })
        .await;
        let sent: Vec<Outcome> = passes.into_iter().chain(failures).collect();
        assert_twin_reported(&agents, &pair, &sent);

        // What probesim predicts agrees with what the ALB decided.
        let emulated_id = pair.emulated_id();
        eventually(
            &agents,
            EMULATED_WITHIN,
            "the emulated backend unhealthy too",
            |seen| {
                seen.probers(&emulated_id)
                    .is_some_and(|p| p.iter().all(|s| *s == unhealthy))
            },
        )
        .await;
        agents.stop().await;
        cluster
    });
}
