//! From a [`History`] to a [`Report`]: latencies over the virtual probers, what each Service's
//! LB probes say now and under what-if versions, the first failing hop, the windows in which
//! nodes stayed in rotation while they could not serve, and preStop verdicts.
//!
//! Pure: no clock, no I/O. How each moment is taken is documented where it is computed
//! ([`onset`], [`lifecycle`], [`drain`], [`nodes`]) and in `collector/REPORT.md`.

pub mod control_plane;
pub mod drain;
pub mod hops;
pub mod latency;
pub mod lifecycle;
pub mod nodes;
pub mod onset;
pub mod rotation;
mod service;
pub mod versions;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use probesim_agent::event::SourceMode;
use probesim_agent::lb::health::{
    DEFAULT_CLB_PROPAGATION_LAG, DEFAULT_NLB_PROPAGATION_LAG, DEFAULT_PROPAGATION_LAG, LbState,
};
use probesim_agent::model::{LbKind, ObjectRef};

use crate::model::{BackendHistory, History};
use crate::report::{GapReport, Report, ReportError, Rotation};
use onset::Run;
use rotation::Prober;

/// How long after a pod's endpoint leaves (terminating, not ready, removed) the AWS Load
/// Balancer Controller starts deregistering its target, when the agent's machines did not
/// deregister it themselves. The controller acts "within seconds" at its next reconcile
/// (spec/aws-elb.md section 5); no figure is documented, so none is added.
pub const DEFAULT_DEREGISTRATION_REACTION: Duration = Duration::ZERO;

/// Time a pod needs after its preStop hook to finish in-flight requests before the kubelet's
/// SIGKILL at the end of the grace period. Kubernetes gives 2 s beyond an overrunning preStop;
/// requests that started just before the LB stopped sending need their own duration, commonly
/// a few seconds for web backends.
pub const DEFAULT_SHUTDOWN_HEADROOM: Duration = Duration::from_secs(5);

/// Emulated sources, the one closest to the LB first: probes from the LB's address cross the
/// node's packet path as the LB's do (kube-proxy, NetworkPolicy), the node's own address skips
/// part of it, SYN probes see only the handshake.
pub const EMULATED_SOURCES: [SourceMode; 3] =
    [SourceMode::LbSource, SourceMode::Node, SourceMode::Syn];

/// The source whose figures speak for a Service: its pooled latencies, drain and node-window
/// findings, first failing hop.
///
/// One source, not all: a pod probed from the node's and the LB's address is one pod, and
/// pooling both would count its drain, registration and windows twice. Per-source figures stay
/// in the report (`latencies_by_source`, and a `source` on every backend, version, hop, pod and
/// window row), and `observed` results (the real LB's) get findings of their own beside the
/// emulation's, marked as observed: they are what the LB did, worth saying apart and never
/// averaged with an emulation. The emulation closest to the LB ([`EMULATED_SOURCES`]) is taken;
/// `observed` only when nothing is emulated.
pub fn primary_source(sources: impl IntoIterator<Item = SourceMode>) -> Option<SourceMode> {
    let sources: Vec<SourceMode> = sources.into_iter().collect();
    EMULATED_SOURCES
        .into_iter()
        .chain([SourceMode::Observed])
        .find(|s| sources.contains(s))
}

/// Whether findings are given for results from `source`: the primary source's and the
/// observed ones.
pub fn speaks(source: SourceMode, primary: Option<SourceMode>) -> bool {
    source == SourceMode::Observed || Some(source) == primary
}

/// A Service named on the command line: `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceFilter {
    pub namespace: String,
    pub name: String,
}

impl ServiceFilter {
    pub fn matches(&self, service: &ObjectRef) -> bool {
        service.namespace == self.namespace && service.name == self.name
    }
}

impl FromStr for ServiceFilter {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<ServiceFilter, ReportError> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(ServiceFilter {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(ReportError::Service(s.to_owned())),
        }
    }
}

impl fmt::Display for ServiceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What analysis assumes where the clouds do not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisConfig {
    /// Only this Service.
    pub service: Option<ServiceFilter>,
    /// How long an ALB keeps sending new requests after a deregistration starts.
    pub alb_propagation_lag: Duration,
    pub nlb_propagation_lag: Duration,
    pub clb_propagation_lag: Duration,
    /// Endpoint leaves -> deregistration, where the agent's machines did not deregister.
    pub deregistration_reaction: Duration,
    /// Time after the LB's last new request that the grace period should leave.
    pub shutdown_headroom: Duration,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            service: None,
            alb_propagation_lag: DEFAULT_PROPAGATION_LAG,
            nlb_propagation_lag: DEFAULT_NLB_PROPAGATION_LAG,
            clb_propagation_lag: DEFAULT_CLB_PROPAGATION_LAG,
            deregistration_reaction: DEFAULT_DEREGISTRATION_REACTION,
            shutdown_headroom: DEFAULT_SHUTDOWN_HEADROOM,
        }
    }
}

/// Longest lag or reaction time accepted: AWS's longest deregistration delay (3600 s).
pub const MAX_CONFIGURED_DELAY: Duration = Duration::from_secs(3600);

impl AnalysisConfig {
    pub fn propagation_lag(&self, lb: LbKind) -> Duration {
        match lb {
            LbKind::Alb => self.alb_propagation_lag,
            LbKind::Nlb => self.nlb_propagation_lag,
            LbKind::Clb => self.clb_propagation_lag,
            LbKind::AzureLb => Duration::ZERO,
        }
    }

    pub fn validate(&self) -> Result<(), ReportError> {
        let fields = [
            ("alb_propagation_lag", self.alb_propagation_lag),
            ("nlb_propagation_lag", self.nlb_propagation_lag),
            ("clb_propagation_lag", self.clb_propagation_lag),
            ("deregistration_reaction", self.deregistration_reaction),
            ("shutdown_headroom", self.shutdown_headroom),
        ];
        match fields.iter().find(|(_, d)| *d > MAX_CONFIGURED_DELAY) {
            Some((field, d)) => Err(ReportError::Config {
                field,
                value: format!("{d:?}"),
                why: "must be at most 3600 s",
            }),
            None => Ok(()),
        }
    }
}

/// A backend with what analysis derives from it once: its probers and failure runs.
#[derive(Clone, Debug)]
pub struct Backend<'a> {
    pub history: &'a BackendHistory,
    pub probers: Vec<Prober<'a>>,
    pub runs: Vec<Run>,
}

impl<'a> Backend<'a> {
    pub fn new(history: &'a BackendHistory, range: &History) -> Backend<'a> {
        let mut probers = rotation::probers(history, range);
        let runs = onset::runs(&history.rollups);
        // A prober without changes on a backend older than the range: its first counted
        // second says whether it was serving.
        let first = history
            .rollups
            .iter()
            .find(|r| r.successes + r.failures > 0);
        let assumed = first.and_then(|r| {
            if r.failures == 0 {
                Some(rotation::serving_state(history.key.lb))
            } else if r.successes == 0 {
                Some(rotation::initial_state(history.key.lb))
            } else {
                None
            }
        });
        for p in probers.iter_mut().filter(|p| p.start.is_none()) {
            p.start = assumed;
        }
        Backend {
            history,
            probers,
            runs,
        }
    }

    /// Whether the backend is still part of its LB at the end of the range: probed, not
    /// deregistered (every prober draining or unused), its pod not Terminating.
    pub fn is_live(&self, moments: &lifecycle::Moments) -> bool {
        let removed = self.history.removed_at.is_some();
        let deregistered = !self.probers.is_empty()
            && self
                .probers
                .iter()
                .all(|p| matches!(p.last_state(), Some(LbState::Draining | LbState::Unused)));
        let terminating = self
            .history
            .key
            .pod
            .as_ref()
            .and_then(|p| moments.pods.get(p))
            .is_some_and(|p| p.terminating.is_some());
        !(removed || deregistered || terminating)
    }

    /// Where the backend stands at the end of the range, across its probers; the rollups
    /// decide when no prober's state is known.
    pub fn rotation(&self) -> Rotation {
        let states: Vec<LbState> = self.probers.iter().filter_map(|p| p.last_state()).collect();
        let inside = states.iter().filter(|s| s.in_rotation()).count();
        match (inside, states.len()) {
            (_, 0) => match self.last_counted() {
                Some((0, _)) => Rotation::Out,
                Some((_, 0)) => Rotation::In,
                Some(_) => Rotation::Mixed,
                None => Rotation::Unknown,
            },
            (0, _) => Rotation::Out,
            (i, n) if i == n => Rotation::In,
            _ => Rotation::Mixed,
        }
    }

    /// Successes and failures of the last counted second.
    fn last_counted(&self) -> Option<(u64, u64)> {
        let r = self
            .history
            .rollups
            .iter()
            .rev()
            .find(|r| r.successes + r.failures > 0)?;
        Some((r.successes, r.failures))
    }

    /// Whether the last counted second holds failures; `None` without rollups.
    pub fn failing(&self) -> Option<bool> {
        self.last_counted().map(|(_, f)| f > 0)
    }

    /// The first failed probe of a failure run still going at the end of the range.
    pub fn failing_since(&self) -> Option<SystemTime> {
        let run = self.runs.last().filter(|r| r.end.is_none())?;
        Some(if run.after_success {
            onset::onset(run, self.history).at
        } else {
            onset::second(run.start)
        })
    }

    /// When the backend went out for good: the earliest last exit of the probers that are
    /// out, else (never in rotation) its failing run's start.
    pub fn out_since(&self) -> Option<SystemTime> {
        let exits = self.probers.iter().filter_map(|p| {
            let last = p.changes.last()?;
            (last.from.in_rotation() && !last.to.in_rotation()).then_some(last.at)
        });
        exits.min().or_else(|| self.failing_since())
    }
}

/// Analyses everything in `history` (of the Service in `config.service`, if set).
pub fn analyze(history: &History, config: &AnalysisConfig) -> Report {
    let moments = lifecycle::Moments::new(&history.lifecycle);
    let backends: Vec<Backend<'_>> = history
        .backends
        .iter()
        .filter(|b| {
            config
                .service
                .as_ref()
                .is_none_or(|f| f.matches(&b.key.service))
        })
        .map(|b| Backend::new(b, history))
        .collect();
    let mut names: Vec<String> = backends
        .iter()
        .map(|b| {
            format!(
                "{}/{}",
                b.history.key.service.namespace, b.history.key.service.name
            )
        })
        .collect();
    // A Service without backends is worth a word only when it has no ready endpoints (S3).
    names.extend(
        moments
            .endpoints
            .iter()
            .filter(|(_, e)| e.ready == Some(0))
            .map(|(name, _)| name)
            .filter(|name| {
                config
                    .service
                    .as_ref()
                    .is_none_or(|f| f.to_string() == **name)
            })
            .cloned(),
    );
    names.sort();
    names.dedup();
    let range_end = range_end(history);
    let services = names
        .into_iter()
        .map(|name| {
            let mine: Vec<&Backend<'_>> = backends
                .iter()
                .filter(|b| {
                    let s = &b.history.key.service;
                    format!("{}/{}", s.namespace, s.name) == name
                })
                .collect();
            service::report(&name, &mine, &moments, config, range_end)
        })
        .collect();
    Report {
        from: history.from,
        to: history.to,
        services,
        node_proxy: control_plane::outages(&history.lifecycle),
        gaps: history
            .gaps
            .iter()
            .map(|g| GapReport {
                agent: g.agent.to_string(),
                from: g.from,
                to: g.to,
                results: g.dropped.results,
                transitions: g.dropped.transitions,
                lifecycle: g.dropped.lifecycle,
            })
            .collect(),
    }
}

/// The end of what the range knows: its `to`, else the latest second or change in it.
fn range_end(history: &History) -> SystemTime {
    history.to.unwrap_or_else(|| {
        let rollups = history
            .backends
            .iter()
            .filter_map(|b| b.rollups.last())
            .map(|r| onset::second(r.second + 1));
        let changes = history
            .backends
            .iter()
            .flat_map(|b| b.changes.iter().map(|c| c.at));
        rollups
            .chain(changes)
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH)
    })
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
