//! Plays a scenario on a running cluster: actions and expectations at their moments, then the
//! report with the ground truth.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use probesim_collector::store::SqliteStore;
use serde::Serialize;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::actions::{self, Targets};
use super::checks::{self, Checked};
use super::file::{Expectation, ProbeSource, Scenario};
use crate::cluster::Cluster;
use crate::truth::{Fact, Happening};

/// How long a node-proxy check waits for the API server.
const API_TIMEOUT: Duration = Duration::from_secs(5);

/// What a run did and saw.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    pub actions: Vec<Played>,
    pub expectations: Vec<CheckedAt>,
    pub ground_truth: Vec<Fact>,
    /// Stopped early (Ctrl-C, SIGTERM).
    pub interrupted: bool,
}

#[derive(Debug, Serialize)]
pub struct Played {
    pub at_s: f64,
    pub ok: bool,
    pub said: String,
}

#[derive(Debug, Serialize)]
pub struct CheckedAt {
    pub at_s: f64,
    #[serde(flatten)]
    pub checked: Checked,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&probesim_agent::clock::rfc3339(*t))
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.interrupted
            && self.actions.iter().all(|a| a.ok)
            && self.expectations.iter().all(|e| e.checked.passed)
    }
}

enum Step {
    Act(usize),
    Check(usize),
}

/// Plays `scenario` from now on; stops early when `stop` is cancelled. `probesim` is the store
/// of the collector the scenario's agents stream to, for its `probesim` expectations (they fail
/// without one).
pub async fn play(
    scenario: &Scenario,
    cluster: Arc<Cluster>,
    probesim: Option<SqliteStore>,
    stop: CancellationToken,
) -> Report {
    let start = Instant::now();
    let started_at = SystemTime::now();
    let mut steps: Vec<(Duration, Step)> = scenario
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.at, Step::Act(i)))
        .chain(
            scenario
                .expect
                .iter()
                .enumerate()
                .map(|(i, e)| (e.at, Step::Check(i))),
        )
        .collect();
    steps.sort_by_key(|(at, _)| *at);
    let mut played = Vec::new();
    let mut checks = Vec::new();
    let mut interrupted = false;
    for (at, step) in steps {
        tokio::select! {
            () = sleep_until(start + at) => {}
            () = stop.cancelled() => { interrupted = true; break; }
        }
        match step {
            Step::Act(i) => {
                let action = &scenario.actions[i].what;
                let tunnel = |node: &str, up: bool| cluster.set_tunnel(node, up);
                let targets = Targets {
                    store: cluster.store(),
                    apps: cluster.apps(),
                    tunnel: &tunnel,
                };
                let result = actions::play(action, targets);
                let (ok, said) = match result {
                    Ok(said) => (true, said),
                    Err(why) => (false, format!("failed: {why}")),
                };
                cluster
                    .truth()
                    .record(Happening::Action, "scenario", said.clone());
                played.push(Played {
                    at_s: at.as_secs_f64(),
                    ok,
                    said,
                });
            }
            Step::Check(i) => {
                let expectation = scenario.expect[i].what.clone();
                if let Expectation::Probesim(wanted) = expectation {
                    let (version, store) = (scenario.kubernetes_version.clone(), probesim.clone());
                    let task = tokio::spawn(async move {
                        match store {
                            Some(store) => super::probesim::check(&wanted, &version, &store).await,
                            None => Checked {
                                passed: false,
                                summary: "probesim: no collector in this run".to_owned(),
                            },
                        }
                    });
                    checks.push((at, task));
                    continue;
                }
                // Checks run beside the schedule: a probe of a black hole takes its whole timeout.
                let (cluster, scenario) = (cluster.clone(), scenario.clone());
                let task =
                    tokio::task::spawn_blocking(move || check(&expectation, &scenario, &cluster));
                checks.push((at, task));
            }
        }
    }
    if !interrupted {
        tokio::select! {
            () = sleep_until(start + scenario.duration) => {}
            () = stop.cancelled() => interrupted = true,
        }
    }
    let mut expectations = Vec::new();
    for (at, task) in checks {
        let checked = task.await.unwrap_or_else(|e| Checked {
            passed: false,
            summary: format!("the check failed to run: {e}"),
        });
        expectations.push(CheckedAt {
            at_s: at.as_secs_f64(),
            checked,
        });
    }
    Report {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        started_at,
        actions: played,
        expectations,
        ground_truth: cluster.truth().facts(),
        interrupted,
    }
}

fn check(expectation: &Expectation, scenario: &Scenario, cluster: &Cluster) -> Checked {
    match expectation {
        Expectation::Lb(lb) => {
            let node_ip = |node: &str| cluster.node_ip(node);
            let from = lb.from;
            let node = lb.node.clone();
            let probe = |req| cluster.probe_from(from, node.as_deref(), req);
            let mut checked = checks::lb(
                lb,
                scenario.cloud,
                &scenario.kubernetes_version,
                cluster.store(),
                &node_ip,
                &probe,
            );
            if from == ProbeSource::Node {
                checked.summary = format!("from the node's address: {}", checked.summary);
            }
            checked
        }
        Expectation::Endpoints(e) => checks::endpoints(e, cluster.store()),
        Expectation::Probesim(_) => Checked {
            passed: false,
            summary: "probesim expectations are checked against the collector".to_owned(),
        },
        Expectation::NodeProxy { node, status } => {
            let path = format!("/api/v1/nodes/{node}/proxy/healthz");
            match http_status(cluster.api_addr(), &path) {
                Ok(got) => Checked {
                    passed: got == *status,
                    summary: format!("API server GET {path}: {got} (expected {status})"),
                },
                Err(e) => Checked {
                    passed: false,
                    summary: format!("API server GET {path}: {e}"),
                },
            }
        }
    }
}

/// The status code of a plain HTTP GET (the lab's API server speaks HTTP/1.1 without TLS).
fn http_status(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect_timeout(&addr, API_TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(API_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

/// The report for people: the timeline, then the expectations.
pub fn print(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "scenario {}: {}",
        report.scenario,
        report.description.trim()
    )?;
    writeln!(out, "\nground truth:")?;
    for fact in &report.ground_truth {
        writeln!(out, "  {fact}")?;
    }
    writeln!(out, "\nexpectations:")?;
    for e in &report.expectations {
        let mark = if e.checked.passed { "PASS" } else { "FAIL" };
        writeln!(out, "  {mark} at {:>5.1}s  {}", e.at_s, e.checked.summary)?;
    }
    let failed_actions: Vec<&Played> = report.actions.iter().filter(|a| !a.ok).collect();
    for a in &failed_actions {
        writeln!(out, "  FAIL action at {:.1}s: {}", a.at_s, a.said)?;
    }
    let passed = report
        .expectations
        .iter()
        .filter(|e| e.checked.passed)
        .count();
    writeln!(
        out,
        "\n{}: {passed} of {} expectations met{}",
        if report.passed() { "PASSED" } else { "FAILED" },
        report.expectations.len(),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    )
}
