//! One lab cluster per test, one test at a time: the cluster is up and its pods serve before the
//! test's body runs, and it is removed after.

use std::sync::Mutex;
use std::time::Duration;

use probesim_lab::cluster::Cluster;
use probesim_lab::net::can_run_network_test;
use probesim_lab::scenario::Scenario;

use crate::cluster::pods_ready;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long a cluster's pods may take to get Ready.
pub const PODS_READY_WITHIN: Duration = Duration::from_secs(40);

/// Runs `body` on `scenario`'s cluster once `ready.1` pods of namespace `ready.0` are Ready (the
/// agents start on a cluster whose pods serve, as a DaemonSet usually does), then takes the
/// cluster down. Says why and returns when the lab cannot run (fails under CI=true).
pub fn in_lab(
    test: &str,
    scenario: &Scenario,
    ready: (&str, usize),
    body: impl AsyncFnOnce(Cluster) -> Cluster,
) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !can_run_network_test(test) {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let cluster = Cluster::up(scenario).await.expect("cluster up");
        pods_ready(cluster.store(), ready.0, ready.1, PODS_READY_WITHIN).await;
        let cluster = body(cluster).await;
        cluster.down().await;
    });
}
