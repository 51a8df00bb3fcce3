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
use std::str::FromStr;
use std::time::Duration;

use probesim_agent::discovery::sources::SourcePolicy;
use probesim_agent::event::SourceMode;
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
    /// How probesim's agents run on the scenario's nodes.
    #[serde(default)]
    pub probesim: ProbesimSettings,
}

/// `probesim:` in a scenario: the agents' settings, as the DaemonSet would set them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbesimSettings {
    /// The agents' `--source` (`PROBESIM_SOURCE`): `node` (default), `lb-source`, both
    /// (`node+lb-source`), or entries per cloud or LB kind (`aws=node,alb=lb-source`).
    #[serde(default, deserialize_with = "source_policy")]
    pub source: SourcePolicy,
    /// How often the agents check the control plane's path to their node
    /// (`PROBESIM_NODE_PROXY_INTERVAL`, 10 s by default).
    #[serde(default, with = "duration::optional")]
    pub node_proxy_interval: Option<Duration>,
}

/// `--source`'s comma-separated entries, parsed as the agent parses them.
fn source_policy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SourcePolicy, D::Error> {
    let text = String::deserialize(d)?;
    let entries: Vec<&str> = text.split(',').collect();
    SourcePolicy::parse(&entries).map_err(serde::de::Error::custom)
}

/// Where the probes a `probesim` check looks at come from ([`SourceMode`]).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CheckSource {
    Node,
    LbSource,
    Syn,
    Observed,
}

impl CheckSource {
    pub fn mode(self) -> SourceMode {
        match self {
            CheckSource::Node => SourceMode::Node,
            CheckSource::LbSource => SourceMode::LbSource,
            CheckSource::Syn => SourceMode::Syn,
            CheckSource::Observed => SourceMode::Observed,
        }
    }
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
    /// What probesim itself shows: the LB view of the backends, as the nodes' agents emulate
    /// it and stream it to the collector, read from the collector's store.
    Probesim(ProbesimCheck),
}

/// How long after its `at` a `probesim` expectation may take to hold by default: the agents'
/// emulated LB needs its thresholds of probes, one LB interval apart, and the stream its batch.
pub const DEFAULT_PROBESIM_WITHIN: Duration = Duration::from_secs(12);

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbesimCheck {
    /// `Service/ns/name` or `Ingress/ns/name`: the object of the LB rule.
    pub object: ObjectPath,
    /// The Service port of the rule; every rule of the object when absent.
    #[serde(default)]
    pub port: Option<i32>,
    /// The node whose agent probes; every node when absent.
    #[serde(default)]
    pub node: Option<String>,
    /// The Kubernetes version the probe was derived for (a what-if version, or the
    /// cluster's); the cluster's when absent.
    #[serde(default)]
    pub k8s_version: Option<String>,
    /// Only the backends probed from this source; every source the agents run when absent.
    #[serde(default)]
    pub source: Option<CheckSource>,
    /// `up`: every matching backend is in rotation on every virtual prober; `down`: none is.
    pub expect: LbExpect,
    /// How long the collector may take to show it (the check polls until then).
    #[serde(default = "default_probesim_within", with = "duration")]
    pub within: Duration,
}

fn default_probesim_within() -> Duration {
    DEFAULT_PROBESIM_WITHIN
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
    /// Where the probe leaves from: the LB's source address (`lb`, the default), or the node's
    /// own address (`node`: what a plain check from the node sees).
    #[serde(default)]
    pub from: ProbeSource,
    /// What the report says about the probe, checked as a substring (e.g. `HTTP 404`).
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProbeSource {
    #[default]
    Lb,
    Node,
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

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario {path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("scenario {path}: {what}")]
    Invalid { path: String, what: String },
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: shown.clone(),
            source,
        })?;
        Scenario::parse(&text, &shown)
    }

    /// Parses and checks a scenario; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            serde_yaml_ng::from_str(text).map_err(|source| ScenarioError::Parse {
                path: path.to_owned(),
                source,
            })?;
        scenario.validate().map_err(|what| ScenarioError::Invalid {
            path: path.to_owned(),
            what,
        })?;
        Ok(scenario)
    }

    /// Whatever serde cannot check: limits, and references to nodes and objects.
    fn validate(&self) -> Result<(), String> {
        if self.duration > MAX_DURATION {
            return Err(format!(
                "duration: {:?} is longer than the limit of {MAX_DURATION:?}",
                self.duration
            ));
        }
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODES {
            return Err(format!(
                "nodes: between 1 and {MAX_NODES} nodes, not {}",
                self.nodes.len()
            ));
        }
        probesim_agent::lb::azure::version::CpaVersion::from_str(&self.kubernetes_version)
            .map_err(|e| format!("kubernetesVersion: {:?}: {e}", self.kubernetes_version))?;
        let nodes: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        let known_node = |field: &str, node: &str| {
            if nodes.contains(&node) {
                Ok(())
            } else {
                Err(format!(
                    "{field}: no node named {node:?} (nodes: {})",
                    nodes.join(", ")
                ))
            }
        };
        for (i, object) in self.objects.iter().enumerate() {
            check_object(object).map_err(|e| format!("objects[{i}]: {e}"))?;
        }
        for (i, action) in self.actions.iter().enumerate() {
            let at = |what: &str| format!("actions[{i}].{what}");
            if action.at > self.duration {
                return Err(format!(
                    "{}: {:?} is after the end ({:?})",
                    at("at"),
                    action.at,
                    self.duration
                ));
            }
            match &action.what {
                Action::Apply(objects) => {
                    for (j, o) in objects.iter().enumerate() {
                        check_object(o).map_err(|e| format!("{}[{j}]: {e}", at("apply")))?;
                    }
                }
                Action::Delete(p)
                | Action::Rollout(p)
                | Action::Scale { deployment: p, .. }
                | Action::Annotate { object: p, .. } => {
                    super::actions::parse_path(p).map_err(|e| format!("{}: {e}", at("object")))?;
                }
                Action::Cordon(node) | Action::Drain(node) | Action::Tunnel { node, .. } => {
                    known_node(&at("node"), node)?
                }
                Action::App(_) => {}
            }
        }
        // A check's node must be the scenario's, its version one the Azure tables know.
        let known_node_and_version = |field: &dyn Fn(&str) -> String,
                                      node: &Option<String>,
                                      version: &Option<String>|
         -> Result<(), String> {
            if let Some(node) = node {
                known_node(&field("node"), node)?;
            }
            if let Some(version) = version {
                probesim_agent::lb::azure::version::CpaVersion::from_str(version)
                    .map_err(|e| format!("{}: {version:?}: {e}", field("k8sVersion")))?;
            }
            Ok(())
        };
        for (i, expect) in self.expect.iter().enumerate() {
            if expect.at > self.duration {
                return Err(format!(
                    "expect[{i}].at: {:?} is after the end ({:?})",
                    expect.at, self.duration
                ));
            }
            match &expect.what {
                Expectation::Lb(check) => {
                    let field = |f: &str| format!("expect[{i}].lb.{f}");
                    known_node_and_version(&field, &check.node, &check.k8s_version)?;
                }
                Expectation::NodeProxy { node, .. } => {
                    known_node(&format!("expect[{i}].nodeProxy.node"), node)?
                }
                Expectation::Probesim(check) => {
                    let field = |f: &str| format!("expect[{i}].probesim.{f}");
                    known_node_and_version(&field, &check.node, &check.k8s_version)?;
                    super::actions::parse_path(&check.object)
                        .map_err(|e| format!("{}: {e}", field("object")))?;
                }
                Expectation::Endpoints(_) => {}
            }
        }
        Ok(())
    }
}

/// At most this many nodes: each is a namespace with a kubelet thread.
pub const MAX_NODES: usize = 16;

fn check_object(object: &Value) -> Result<(), String> {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    if crate::api::Resource::of(api_version, kind).is_none() {
        return Err(format!(
            "apiVersion {api_version:?} kind {kind:?} is not served by the lab"
        ));
    }
    if object["metadata"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return Err(format!("{kind}: metadata.name is required"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_of_the_repository_loads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("lab/scenarios") {
            let path = entry.expect("entry").path();
            let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                Some(scenario.name.as_str()),
                path.file_stem().and_then(|s| s.to_str())
            );
            names.push(scenario.reproduces.unwrap_or_default());
        }
        names.sort();
        assert_eq!(names, ["S1", "S2", "S3", "S4", "S5", "S6", "S7"]);
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let base = "name: x\ndescription: d\ncloud: azure\nkubernetesVersion: '1.24'\nnodes: [{name: n1}]\nduration: 10s\n";
        let err = Scenario::parse(
            &format!("{base}actions: [{{at: 1s, drain: n2}}]\n"),
            "t.yaml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "scenario t.yaml: actions[0].node: no node named \"n2\" (nodes: n1)"
        );
        let err = Scenario::parse(
            &format!(
                "{base}objects: [{{apiVersion: v1, kind: ConfigMap, metadata: {{name: c}}}}]\n"
            ),
            "t.yaml",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("objects[0]: apiVersion \"v1\" kind \"ConfigMap\" is not served"),
            "{err}"
        );
        let err = Scenario::parse(&base.replace("10s", "10m"), "t.yaml").unwrap_err();
        assert!(
            err.to_string()
                .contains("duration: 600s is longer than the limit"),
            "{err}"
        );
        let err =
            Scenario::parse(&base.replace("cloud: azure", "cloud: gcp"), "t.yaml").unwrap_err();
        assert!(err.to_string().contains("unknown variant `gcp`"), "{err}");
        let err = Scenario::parse(&format!("{base}probesim: {{source: gcp=node}}\n"), "t.yaml")
            .unwrap_err();
        assert!(
            err.to_string().contains("probesim") && err.to_string().contains("gcp=node"),
            "{err}"
        );
    }
}
