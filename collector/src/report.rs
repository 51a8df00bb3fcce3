//! What `probesim-collector report` says: the [`Report`] value that analysis builds from a
//! [`crate::model::History`], and its three views (text, markdown, JSON). The JSON shape is a
//! contract documented in `collector/REPORT.md`; text and markdown say the same in words.

pub mod error;
mod json;
mod markdown;
mod text;
pub(crate) mod words;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use probesim_agent::event::SourceMode;
use probesim_agent::model::{LbKind, TargetKind};
use serde::Serialize;

pub use error::ReportError;
use json::{opt_secs, opt_source, opt_time, secs, source, time};

/// How a report is rendered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Sentences for a terminal.
    #[default]
    Text,
    /// The same sentences with headings and tables, for issues and wikis.
    Markdown,
    /// The stable shape of `collector/REPORT.md`.
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Text, Format::Markdown, Format::Json];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Format, ReportError> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| ReportError::Format(s.to_owned()))
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text::render(report),
        Format::Markdown => markdown::render(report),
        Format::Json => json::render(report),
    }
}

/// Everything the report says about a time range.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    #[serde(serialize_with = "opt_time")]
    pub from: Option<SystemTime>,
    #[serde(serialize_with = "opt_time")]
    pub to: Option<SystemTime>,
    /// One entry per Service that has backends or lifecycle events in the range, by
    /// `namespace/name`.
    pub services: Vec<ServiceReport>,
    /// Intervals in which the API server answered but could not reach a node's kubelet (S7).
    pub node_proxy: Vec<NodeProxyOutage>,
    /// Intervals in which an agent dropped data: what the report says there is incomplete.
    pub gaps: Vec<GapReport>,
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Clients fail, or would fail after the announced change.
    Error,
    /// Clients may fail (a window, a partial outage).
    Warning,
    Info,
}

/// What a finding is about; the kinds of spec/scenarios.md S1, S3, S4, S6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A what-if version's probes take backends out that the current probes keep (S1).
    WhatIfFailure,
    /// The current probes take backends out.
    BackendsOut,
    /// The Service has no ready endpoints (S3).
    NoReadyEndpoints,
    /// The first hop from the pod outwards that fails (S3).
    FirstFailingHop,
    /// A terminating pod stopped accepting while the LB could still send it new requests (S4).
    DrainExposure,
    /// A node stayed in rotation while it could not serve (S6).
    NodeWindow,
}

/// One sentence for the user, and what to do about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    pub message: String,
    pub advice: Option<String>,
}

/// min/median/max of one latency over virtual probers (the median of an even count is the
/// lower middle value: a latency some prober really had).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub count: usize,
    #[serde(rename = "min_s", serialize_with = "secs")]
    pub min: Duration,
    #[serde(rename = "median_s", serialize_with = "secs")]
    pub median: Duration,
    #[serde(rename = "max_s", serialize_with = "secs")]
    pub max: Duration,
}

impl Stats {
    /// The stats of `samples`; `None` when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let count = samples.len();
        Some(Stats {
            count,
            min: samples[0],
            median: samples[(count - 1) / 2],
            max: samples[count - 1],
        })
    }
}

/// The three latencies of design.md, each over the virtual probers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Latencies {
    /// Pod Ready -> the LB marks it healthy.
    pub registration: Option<Stats>,
    /// Backend stopped answering -> the LB marks it down.
    pub detection: Option<Stats>,
    /// Backend stopped accepting -> the LB stops sending new requests.
    pub drain_exposure: Option<Stats>,
}

/// What one Service's backends went through.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceReport {
    /// `namespace/name`.
    pub service: String,
    /// The objects LBs are configured from (`Service/ns/name`, `Ingress/ns/name`).
    pub objects: Vec<String>,
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// The source whose figures speak for the Service: `latencies`, the drain and node-window
    /// findings and `first_failing_hop` (see `analysis::primary_source`); `null` without
    /// backends.
    #[serde(serialize_with = "opt_source")]
    pub source: Option<SourceMode>,
    /// The Service's latencies over all its backends (every rollout in the range) probed from
    /// `source`: a pod probed from two sources counts once.
    pub latencies: Latencies,
    /// The same, per source (`observed`: what the real LB did), in source order.
    pub latencies_by_source: Vec<SourceLatencies>,
    pub versions: Vec<VersionReport>,
    /// The latest `service-endpoints` event in the range.
    pub endpoints: Option<EndpointsReport>,
    /// Hops in path order (pod, cluster-ip, node-port, lb), those probed only.
    pub hops: Vec<HopReport>,
    /// `pod`, `cluster-ip`, `node-port` or `lb`.
    pub first_failing_hop: Option<String>,
    pub backends: Vec<BackendReport>,
    /// preStop and grace period verdicts, one per terminating pod.
    pub pods: Vec<PodDrainReport>,
    pub node_windows: Vec<NodeWindowReport>,
}

/// The latencies of a Service's backends probed from one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLatencies {
    #[serde(serialize_with = "source")]
    pub source: SourceMode,
    pub latencies: Latencies,
}

/// Where a backend (or a group) stands at the end of the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    /// Every virtual prober has it in rotation.
    In,
    /// No virtual prober has it in rotation.
    Out,
    /// Some probers do, some do not (independent LB nodes disagree).
    Mixed,
    /// Nothing in the range says.
    Unknown,
}

/// The LB probes of one rule under one Kubernetes version (the cluster's, or a what-if), from
/// one source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VersionReport {
    pub version: String,
    pub what_if: bool,
    pub lb: LbKind,
    /// The Service port of the LB rule.
    pub port: i32,
    /// Where the probes come from: `node`, `lb-source`, `syn` (emulated), or `observed` (the
    /// real LB's own probes: what it really did).
    #[serde(serialize_with = "source")]
    pub source: SourceMode,
    /// `HTTP GET / :32271, every 5s, timeout 5s, threshold 2`.
    pub probe: String,
    pub target_kind: TargetKind,
    pub backends: usize,
    pub in_rotation: usize,
    pub out_of_rotation: usize,
    pub mixed: usize,
    pub unknown: usize,
    /// When the first backend still out at the end went out.
    #[serde(serialize_with = "opt_time")]
    pub out_since: Option<SystemTime>,
    /// Why backends are out, as the cloud would say (`HTTP status 404, not 200`).
    pub reasons: Vec<String>,
}

/// The Service's ready endpoint count, as Kubernetes said last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointsReport {
    pub ready: Option<u32>,
    pub total: Option<u32>,
    pub selector: Option<String>,
    #[serde(serialize_with = "time")]
    pub at: SystemTime,
}

/// The backends of one hop at the end of the range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HopReport {
    /// `pod`, `cluster-ip`, `node-port` or `lb`.
    pub hop: String,
    #[serde(serialize_with = "source")]
    pub source: SourceMode,
    pub backends: usize,
    pub passing: usize,
    pub failing: usize,
    pub unknown: usize,
    /// What the failing ones saw (outcome kinds or the cloud's reason).
    pub reasons: Vec<String>,
}

/// One backend: what it is, where it stands, its latencies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackendReport {
    pub agent: String,
    pub node: String,
    pub target: String,
    pub target_kind: TargetKind,
    pub pod: Option<String>,
    pub hop: String,
    #[serde(serialize_with = "source")]
    pub source: SourceMode,
    pub lb: LbKind,
    pub port: i32,
    pub version: String,
    pub what_if: bool,
    pub probers: u32,
    pub rotation: Rotation,
    /// The cloud's reason for the last change out of rotation, while out.
    pub reason: Option<String>,
    /// The first failed probe of the last failure run that lasts to the end of the range.
    #[serde(serialize_with = "opt_time")]
    pub failing_since: Option<SystemTime>,
    pub latencies: Latencies,
}

/// Whether a terminating pod's preStop and grace period cover the LB's drain (S4).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PodDrainReport {
    /// `namespace/name`.
    pub pod: String,
    pub node: Option<String>,
    pub lb: LbKind,
    /// The source of the LB backend the drain is measured on (one verdict per pod and source).
    #[serde(serialize_with = "source")]
    pub source: SourceMode,
    /// The delete request: `deletionTimestamp - grace_period_s` (see REPORT.md).
    #[serde(serialize_with = "time")]
    pub terminating_at: SystemTime,
    pub grace_period_s: Option<u32>,
    /// The preStop hook as Kubernetes shows it (`sleep 15`).
    pub pre_stop: Option<String>,
    /// After Terminating: when the pod stopped accepting (first failed probe).
    #[serde(rename = "stopped_accepting_after_s", serialize_with = "opt_secs")]
    pub stopped_accepting_after: Option<Duration>,
    /// After Terminating: when each virtual prober's LB stops sending new requests.
    pub lb_stops_sending_after: Option<Stats>,
    /// Stopped accepting -> LB stops sending, per prober (zero when the LB stopped first).
    pub exposure: Option<Stats>,
    /// Whether no prober's LB sends new requests after the pod stopped accepting; `None` when
    /// either moment is unknown.
    pub covered: Option<bool>,
    /// How much later the pod should have stopped accepting (the maximum exposure).
    #[serde(rename = "pre_stop_short_by_s", serialize_with = "opt_secs")]
    pub pre_stop_short_by: Option<Duration>,
    /// How much the grace period falls short of the LB's last new request plus the shutdown
    /// headroom.
    #[serde(rename = "grace_short_by_s", serialize_with = "opt_secs")]
    pub grace_short_by: Option<Duration>,
    /// A preStop sleep that would cover the drain (whole seconds, rounded up).
    pub needed_pre_stop_s: Option<u64>,
    /// A terminationGracePeriodSeconds that would cover it.
    pub needed_grace_period_s: Option<u64>,
    /// Why a moment is unknown, when one is.
    pub note: Option<String>,
}

/// A node that stayed in rotation while it could not serve (S6).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeWindowReport {
    pub node: String,
    pub lb: LbKind,
    pub port: i32,
    #[serde(serialize_with = "source")]
    pub source: SourceMode,
    /// When the node stopped being able to serve.
    #[serde(serialize_with = "time")]
    pub from: SystemTime,
    /// What says it could not serve (`HTTP status 503 from the probe`, `node deleted`).
    pub cause: String,
    /// From `from` until each virtual prober's LB took it out.
    pub in_rotation: Stats,
    /// Some prober still had it in rotation at the end of the range: the window is longer.
    pub open: bool,
}

/// The control plane's path to a node's kubelet broken while the API server answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeProxyOutage {
    pub node: String,
    #[serde(serialize_with = "time")]
    pub from: SystemTime,
    /// `None`: still broken at the end of the range.
    #[serde(serialize_with = "opt_time")]
    pub to: Option<SystemTime>,
    /// What the agent's check got (`HTTP 503: ...`).
    pub error: Option<String>,
}

/// An interval in which an agent dropped data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GapReport {
    pub agent: String,
    #[serde(serialize_with = "time")]
    pub from: SystemTime,
    #[serde(serialize_with = "time")]
    pub to: SystemTime,
    pub results: u64,
    pub transitions: u64,
    pub lifecycle: u64,
}

#[cfg(test)]
mod tests;
