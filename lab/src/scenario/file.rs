//! The scenario file: a cluster, its objects, how its pods' applications behave, what happens
//! when, and what must then be true.
//!
//! ```yaml
//! name: s1-aks-upgrade-nginx
//! description: ...
//! cloud: azure
//! kubernetesVersion: "1.24"
//! nodes: [{name: aks-nodepool1-0}, {name: aks-nodepool1-1}]
//! duration: 30s
//! objects: [ ...ordinary Kubernetes manifests... ]
//! apps: [{selector: {app: web}, ports: [{port: 80, routes: {"/": 404, "/healthz": 200}}]}]
//! actions: [{at: 10s, annotate: {object: Service/web/web, annotations: {k: v}}}]
//! expect: [{at: 12s, lb: {service: web/web, node: aks-nodepool1-0, expect: up}}]
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::duration;
use crate::apps::AppSpec;

/// Scenarios end by themselves; none may run longer than this.
pub const MAX_DURATION: Duration = Duration::from_secs(120);

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Which scenario of spec/scenarios.md it reproduces (`S1`...), if any.
    #[serde(default)]
    pub reproduces: Option<String>,
    pub cloud: ScenarioCloud,
    /// The cluster's Kubernetes version (`1.24`, `v1.24.9`).
    pub kubernetes_version: String,
    pub nodes: Vec<NodeEntry>,
    #[serde(with = "duration")]
    pub duration: Duration,
    #[serde(default)]
    pub objects: Vec<Value>,
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    #[serde(default)]
    pub actions: Vec<Timed<Action>>,
    #[serde(default)]
    pub expect: Vec<Timed<Expectation>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioCloud {
    Azure,
    Aws,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Something at a moment of the scenario, counted from when the cluster is up.
#[derive(Clone, Debug, Deserialize)]
pub struct Timed<T> {
    #[serde(with = "duration")]
    pub at: Duration,
    #[serde(flatten)]
    pub what: T,
}

/// `Kind/namespace/name` or `Kind/name` for cluster-scoped objects.
pub type ObjectPath = String;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Action {
    /// Creates or replaces these objects.
    Apply(Vec<Value>),
    /// Deletes an object as `kubectl delete` does (pods terminate gracefully).
    Delete(ObjectPath),
    /// `kubectl rollout restart deployment`: a new pod template, rolled out by the strategy.
    Rollout(ObjectPath),
    /// `kubectl scale`.
    Scale {
        deployment: ObjectPath,
        replicas: i32,
    },
    /// `kubectl annotate --overwrite`; a null value removes the annotation.
    Annotate {
        object: ObjectPath,
        annotations: BTreeMap<String, Option<String>>,
    },
    /// `kubectl cordon`.
    Cordon(String),
    /// `kubectl drain`: cordon, then delete the node's pods gracefully.
    Drain(String),
    /// Replaces how the matching pods' applications behave, now and for later pods.
    App(AppSpec),
    /// The control plane's tunnel to a node breaks or comes back (S7).
    Tunnel { node: String, up: bool },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Expectation {
    /// The cloud LB's probe of one backend, derived from the objects as the cloud would, sent
    /// from the LB's source address through the node's packet path: does the LB count it as
    /// a success (`up`) or a failure (`down`)?
    Lb(LbCheck),
    /// How many endpoints of a Service have each condition.
    Endpoints(EndpointsCheck),
    /// The API server's proxy to a node's kubelet (`/api/v1/nodes/NODE/proxy/healthz`).
    NodeProxy { node: String, status: u16 },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LbCheck {
    /// `Service/ns/name` or `Ingress/ns/name`.
    pub object: ObjectPath,
    /// The Service (or Ingress backend) port whose probe is checked; the first rule with a probe
    /// when absent.
    #[serde(default)]
    pub port: Option<i32>,
    /// For node targets: the node probed.
    #[serde(default)]
    pub node: Option<String>,
    /// For pod targets (ALB/NLB ip mode): the pods probed, by label.
    #[serde(default)]
    pub pods: Option<BTreeMap<String, String>>,
    /// Derive with this Kubernetes version instead of the cluster's (what-if).
    #[serde(default)]
    pub k8s_version: Option<String>,
    pub expect: LbExpect,
    /// What the report says about the probe, checked as a substring (e.g. `HTTP 404`).
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LbExpect {
    Up,
    Down,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointsCheck {
    /// `namespace/name` of the Service.
    pub service: String,
    #[serde(default)]
    pub ready: Option<usize>,
    #[serde(default)]
    pub serving: Option<usize>,
    #[serde(default)]
    pub terminating: Option<usize>,
}
