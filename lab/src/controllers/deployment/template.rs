//! What a Deployment asks for: its defaulted parameters, its pod-template-hash, and the pods it
//! creates from its template.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::controllers::objects::name_of;

/// The label that ties a pod to its template (and, upstream, to its ReplicaSet).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// `spec.replicas` when unset (API default).
pub const DEFAULT_REPLICAS: i32 = 1;
/// `maxSurge` and `maxUnavailable` when unset (API defaults).
pub const DEFAULT_MAX_SURGE: &str = "25%";
pub const DEFAULT_MAX_UNAVAILABLE: &str = "25%";
/// `spec.progressDeadlineSeconds` when unset (API default).
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// The alphabet of `rand.SafeEncodeString`, which upstream uses for pod-template-hash.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    RollingUpdate,
    Recreate,
}

/// A Deployment's spec with the API server's defaults and its fenceposts resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub replicas: i32,
    pub strategy: Strategy,
    /// Pods allowed above `replicas` during a rollout.
    pub max_surge: i32,
    /// Pods allowed below `replicas` during a rollout (`deploymentutil.MaxUnavailable`).
    pub max_unavailable: i32,
    pub min_ready_seconds: i32,
    /// `None` when the deadline is disabled (`math.MaxInt32`).
    pub progress_deadline_seconds: Option<i32>,
    pub paused: bool,
}

impl Params {
    pub fn of(deployment: &Deployment) -> Params {
        let spec = deployment.spec.as_ref();
        let replicas = spec
            .and_then(|s| s.replicas)
            .unwrap_or(DEFAULT_REPLICAS)
            .max(0);
        let strategy = spec.and_then(|s| s.strategy.as_ref());
        let kind = match strategy.and_then(|s| s.type_.as_deref()) {
            Some("Recreate") => Strategy::Recreate,
            _ => Strategy::RollingUpdate,
        };
        let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
        let surge_spec = rolling
            .and_then(|r| r.max_surge.clone())
            .unwrap_or_else(|| IntOrString::String(DEFAULT_MAX_SURGE.to_owned()));
        let unavailable_spec = rolling
            .and_then(|r| r.max_unavailable.clone())
            .unwrap_or_else(|| IntOrString::String(DEFAULT_MAX_UNAVAILABLE.to_owned()));
        let (max_surge, max_unavailable) = match kind {
            Strategy::Recreate => (0, 0),
            Strategy::RollingUpdate => {
                let (surge, unavailable) = fenceposts(&surge_spec, &unavailable_spec, replicas);
                (surge, unavailable.min(replicas))
            }
        };
        let deadline = spec
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        Params {
            replicas,
            strategy: kind,
            max_surge,
            max_unavailable,
            min_ready_seconds: spec.and_then(|s| s.min_ready_seconds).unwrap_or(0).max(0),
            progress_deadline_seconds: (deadline != i32::MAX).then_some(deadline),
            paused: spec.and_then(|s| s.paused).unwrap_or(false),
        }
    }
}

/// `deploymentutil.ResolveFenceposts`: surge rounds up, unavailable rounds down, and both zero
/// would deadlock a rollout, so unavailable becomes 1.
pub fn fenceposts(surge: &IntOrString, unavailable: &IntOrString, replicas: i32) -> (i32, i32) {
    let surge = scaled(surge, replicas, true);
    let unavailable = scaled(unavailable, replicas, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// `intstr.GetScaledValueFromIntOrPercent`; a malformed percentage counts as 0.
fn scaled(value: &IntOrString, total: i32, round_up: bool) -> i32 {
    match value {
        IntOrString::Int(n) => (*n).max(0),
        IntOrString::String(s) => {
            let Some(percent) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return s.parse::<i32>().unwrap_or(0).max(0);
            };
            let product = percent * i64::from(total);
            let result = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(result.max(0)).unwrap_or(i32::MAX)
        }
    }
}

/// The template's pod-template-hash: FNV-1a (32 bits) over the template, written with the
/// alphabet upstream uses. Upstream hashes Go's printing of the struct; the lab hashes canonical
/// JSON (sorted keys, no nulls), so the values differ from a real cluster's but look and behave
/// alike: equal templates, equal hashes.
pub fn template_hash(deployment: &Deployment) -> String {
    let template = deployment
        .spec
        .as_ref()
        .map(|s| serde_json::to_value(&s.template).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let mut canonical = String::new();
    write_canonical(&template, &mut canonical);
    let mut hash: u32 = 0x811c_9dc5;
    for byte in canonical.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string()
        .bytes()
        .map(|digit| char::from(SAFE_ALPHABET[usize::from(digit) % SAFE_ALPHABET.len()]))
        .collect()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> =
                map.iter().filter(|(_, v)| !v.is_null()).collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The ReplicaSet name upstream would give this template; pods are named after it.
pub fn replica_set_name(deployment: &Deployment, hash: &str) -> String {
    format!("{}-{hash}", name_of(&deployment.metadata))
}

/// A pod as the ReplicaSet controller creates it from the template (`GetPodFromTemplate`), owned
/// by the Deployment itself since the lab keeps no ReplicaSet objects.
pub fn new_pod(deployment: &Deployment, hash: &str) -> Pod {
    let template = deployment
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let mut labels: BTreeMap<String, String> = template_meta.labels.unwrap_or_default();
    labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
    let owner = OwnerReference {
        api_version: "apps/v1".to_owned(),
        kind: "Deployment".to_owned(),
        name: name_of(&deployment.metadata).to_owned(),
        uid: deployment.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", replica_set_name(deployment, hash))),
            namespace: deployment.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}
