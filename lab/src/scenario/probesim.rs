//! `probesim` expectations: what probesim itself shows of a scenario. The nodes' agents probe
//! the cluster and stream to the lab's collector; the check reads the collector's current view
//! of the matching LB backends, polling until it holds or its `within` has passed.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use probesim_agent::event::Hop;
use probesim_collector::model::History;
use probesim_collector::report::Report;
use probesim_collector::store::{BackendNow, Filter, Store};
use tokio::time::Instant;

use super::checks::Checked;
use super::file::{Expectation, LbExpect, ProbesimCheck, Scenario};
use crate::agents::{AgentOptions, Agents};
use crate::cluster::Cluster;
use crate::collector::LabCollector;

/// probesim running on a scenario's cluster: an agent on every node, streaming to a collector.
#[derive(Debug)]
pub struct Probesim {
    pub collector: LabCollector,
    agents: Agents,
}

/// What probesim made of a scenario.
#[derive(Debug)]
pub struct Outcome {
    /// The collector's report over the whole run, and the history it was made from.
    pub report: Report,
    pub history: History,
    /// Probe results the agents reported, and how many the collector stored: equal unless the
    /// stream lost some (which it must not).
    pub results_reported: u64,
    pub results_stored: u64,
}

impl Probesim {
    /// Starts the collector (its database in `db_dir`, or a temporary one) and the agents, with
    /// the what-if versions the scenario's expectations name.
    pub async fn start(
        scenario: &Scenario,
        cluster: &Cluster,
        db_dir: Option<&Path>,
    ) -> Result<Probesim, String> {
        let collector = LabCollector::start(cluster, db_dir).await?;
        let defaults = AgentOptions::default();
        let options = AgentOptions {
            what_if: what_if_versions(scenario),
            collector: Some(collector.grpc_url()),
            source: scenario.probesim.source.clone(),
            node_proxy_interval: scenario
                .probesim
                .node_proxy_interval
                .or(defaults.node_proxy_interval),
            ..defaults
        };
        match Agents::start(cluster, &options) {
            Ok(agents) => Ok(Probesim { collector, agents }),
            Err(e) => {
                let _ = collector.stop().await;
                Err(format!("agents: {e}"))
            }
        }
    }

    /// Stops the agents (their streams deliver what is pending), then reads the collector's
    /// report. The collector keeps running (for the web UI) until [`LabCollector::stop`].
    pub async fn finish(self) -> Result<(LabCollector, Outcome), String> {
        let reported = self.agents.stop().await.results;
        let stored =
            probesim_collector::metrics::Metrics::get(&self.collector.store().metrics().results);
        let (history, report) = self.collector.report().await?;
        Ok((
            self.collector,
            Outcome {
                report,
                history,
                results_reported: reported,
                results_stored: stored,
            },
        ))
    }
}

/// The Kubernetes versions other than the cluster's that the expectations name.
pub fn what_if_versions(scenario: &Scenario) -> Vec<String> {
    let versions: BTreeSet<String> = scenario
        .expect
        .iter()
        .filter_map(|e| match &e.what {
            Expectation::Lb(lb) => lb.k8s_version.clone(),
            Expectation::Probesim(p) => p.k8s_version.clone(),
            _ => None,
        })
        .filter(|v| *v != scenario.kubernetes_version)
        .collect();
    versions.into_iter().collect()
}

/// How often the collector's view is read while a check waits for it.
pub const POLL: Duration = Duration::from_millis(250);

/// Whether the backends `check` names show its expectation within its time; `cluster_version`
/// is the scenario's Kubernetes version, for checks that name none.
pub async fn check(check: &ProbesimCheck, cluster_version: &str, store: &impl Store) -> Checked {
    let version = check.k8s_version.as_deref().unwrap_or(cluster_version);
    let deadline = Instant::now() + check.within;
    loop {
        let backends = matching(check, version, store);
        let seen = describe(&backends);
        let holds = !backends.is_empty() && backends.iter().all(|b| shows(b, check.expect));
        if holds || Instant::now() >= deadline {
            let what = format!(
                "probesim: {} port {} on {} from {} for {version}: expected {} within {}s",
                check.object,
                check
                    .port
                    .map_or_else(|| "any".to_owned(), |p| p.to_string()),
                check.node.as_deref().unwrap_or("every node"),
                check.source.map_or("every source", |s| s.mode().as_str()),
                expect_str(check.expect),
                check.within.as_secs(),
            );
            return Checked {
                passed: holds,
                summary: if backends.is_empty() {
                    format!("{what}; the collector has no such backend")
                } else {
                    format!("{what}; saw {seen}")
                },
            };
        }
        tokio::time::sleep(POLL).await;
    }
}

fn expect_str(expect: LbExpect) -> &'static str {
    match expect {
        LbExpect::Up => "up",
        LbExpect::Down => "down",
    }
}

/// The live LB backends of the check's rule, node and version (or standing for that version).
fn matching(check: &ProbesimCheck, version: &str, store: &impl Store) -> Vec<BackendNow> {
    store
        .backends_now(&Filter {
            node: check.node.clone(),
            ..Filter::default()
        })
        .into_iter()
        .filter(|b| {
            let row = &b.backend;
            let key = &row.key;
            row.removed_at.is_none()
                && key.hop == Hop::Lb
                && key.object.to_string() == check.object
                && check.port.is_none_or(|p| p == key.port)
                && check.source.is_none_or(|s| s.mode() == key.source)
                && (key.version.version == version || row.also_for.iter().any(|v| v == version))
        })
        .collect()
}

/// Every virtual prober agrees, in or out of rotation as expected.
fn shows(backend: &BackendNow, expect: LbExpect) -> bool {
    let now = &backend.now;
    now.probers == backend.backend.probers
        && now
            .unanimous()
            .is_some_and(|state| state.in_rotation() == (expect == LbExpect::Up))
}

fn describe(backends: &[BackendNow]) -> String {
    let parts: Vec<String> = backends
        .iter()
        .map(|b| {
            let states: Vec<String> = b
                .now
                .states
                .iter()
                .map(|(s, n)| format!("{n}×{}", s.as_str()))
                .collect();
            let reasons: Vec<&str> = b.now.reasons.iter().map(|(r, _)| *r).collect();
            format!(
                "{} {} from {} [{}{}]",
                b.backend.key.node,
                b.backend.key.target,
                b.backend.key.source.as_str(),
                states.join(" "),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!("; {}", reasons.join(", "))
                }
            )
        })
        .collect();
    parts.join(", ")
}
