//! The lab clusters the agent tests run on: built-in scenarios without their timeline, and the
//! wait for their pods to serve.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use probesim_lab::api::Store;
use probesim_lab::scenario::{Scenario, embedded};

/// Between looks at the pods' readiness.
const READY_POLL: Duration = Duration::from_millis(200);

/// The built-in scenario whose name starts with `prefix`.
pub fn scenario(prefix: &str) -> Scenario {
    let (name, text) = embedded::SCENARIOS
        .iter()
        .find(|(n, _)| n.starts_with(prefix))
        .expect("a built-in scenario");
    Scenario::parse(text, name).expect("valid scenario")
}

/// The cluster of the built-in scenario `prefix` on Kubernetes `version`, without its timed
/// actions and expectations.
pub fn cluster_of(prefix: &str, version: &str) -> Scenario {
    let mut scenario = scenario(prefix);
    scenario.kubernetes_version = version.into();
    scenario.actions.clear();
    scenario.expect.clear();
    scenario
}

/// Waits until `count` pods of `namespace` are Ready; fails the test after `within`.
pub async fn pods_ready(store: &Store, namespace: &str, count: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let ready = store
            .list_typed::<Pod>(Some(namespace))
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        if ready >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{namespace}: {count} pods not ready within {within:?}"
        );
        tokio::time::sleep(READY_POLL).await;
    }
}
