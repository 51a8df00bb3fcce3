//! The scenario's timed actions, played against the lab's store as kubectl would.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::admit;
use super::file::Action;
use crate::api::{Resource, Store};
use crate::apps::Apps;

/// What the actions act on.
#[derive(Clone, Copy)]
pub struct Targets<'a> {
    pub store: &'a Store,
    pub apps: &'a Apps,
    /// Breaks or restores the control plane's tunnel to a node.
    pub tunnel: &'a dyn Fn(&str, bool) -> Result<(), String>,
}

impl std::fmt::Debug for Targets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Targets").finish_non_exhaustive()
    }
}

/// Plays one action; `Ok` says what was done, `Err` why it could not be.
pub fn play(action: &Action, t: Targets<'_>) -> Result<String, String> {
    match action {
        Action::Apply(objects) => {
            let mut names = Vec::new();
            for object in objects {
                names.push(apply(t.store, object.clone())?);
            }
            Ok(format!("applied {}", names.join(", ")))
        }
        Action::Delete(path) => {
            let (resource, ns, name) = parse_path(path)?;
            t.store
                .delete_gracefully(resource, &ns, &name, None)
                .map_err(|e| e.to_string())?;
            Ok(format!("deleted {path}"))
        }
        Action::Rollout(path) => {
            let (resource, ns, name) = parse_path(path)?;
            if resource != Resource::Deployment {
                return Err(format!("rollout: {path} is not a Deployment"));
            }
            let now = probesim_agent::clock::rfc3339(SystemTime::now());
            t.store
                .modify(resource, &ns, &name, |d| {
                    d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = json!(now);
                })
                .map_err(|e| e.to_string())?;
            Ok(format!("rollout restart {path}"))
        }
        Action::Scale {
            deployment,
            replicas,
        } => {
            let (resource, ns, name) = parse_path(deployment)?;
            t.store
                .modify(resource, &ns, &name, |d| {
                    d["spec"]["replicas"] = json!(replicas)
                })
                .map_err(|e| e.to_string())?;
            Ok(format!("scaled {deployment} to {replicas}"))
        }
        Action::Annotate {
            object,
            annotations,
        } => {
            let (resource, ns, name) = parse_path(object)?;
            t.store
                .modify(resource, &ns, &name, |o| annotate(o, annotations))
                .map_err(|e| e.to_string())?;
            let list: Vec<String> = annotations
                .iter()
                .map(|(k, v)| {
                    v.as_ref()
                        .map_or_else(|| format!("{k}-"), |v| format!("{k}={v}"))
                })
                .collect();
            Ok(format!("annotated {object} {}", list.join(" ")))
        }
        Action::Cordon(node) => {
            cordon(t.store, node)?;
            Ok(format!("cordoned node {node}"))
        }
        Action::Drain(node) => {
            cordon(t.store, node)?;
            let (pods, _) = t.store.list(Resource::Pod, None);
            let mut evicted = 0;
            for pod in pods
                .iter()
                .filter(|p| p["spec"]["nodeName"].as_str() == Some(node.as_str()))
            {
                let daemon = pod["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|r| r["kind"] == "DaemonSet"));
                if daemon {
                    continue;
                }
                let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
                let name = pod["metadata"]["name"].as_str().unwrap_or("");
                if t.store
                    .delete_gracefully(Resource::Pod, ns, name, None)
                    .is_ok()
                {
                    evicted += 1;
                }
            }
            Ok(format!("drained node {node}: {evicted} pods evicted"))
        }
        Action::App(spec) => {
            let pods = t.apps.set(spec.clone());
            Ok(format!(
                "application of {:?} changed in {} running pods",
                spec.selector,
                pods.len()
            ))
        }
        Action::Tunnel { node, up } => {
            (t.tunnel)(node, *up)?;
            Ok(format!(
                "control-plane tunnel to {node} {}",
                if *up { "restored" } else { "broken" }
            ))
        }
    }
}

/// Creates or replaces an object as `kubectl apply` would, allocating what the API server
/// allocates; returns its path.
pub fn apply(store: &Store, mut object: Value) -> Result<String, String> {
    let kind = object["kind"].as_str().unwrap_or("").to_owned();
    if kind == "Service" {
        admit::allocate_service(store, &mut object);
    }
    let stored = store.apply(object).map_err(|e| e.to_string())?;
    let meta = &stored["metadata"];
    Ok(match meta["namespace"].as_str() {
        Some(ns) => format!("{kind}/{ns}/{}", meta["name"].as_str().unwrap_or("")),
        None => format!("{kind}/{}", meta["name"].as_str().unwrap_or("")),
    })
}

fn annotate(object: &mut Value, annotations: &BTreeMap<String, Option<String>>) {
    if !object["metadata"]["annotations"].is_object() {
        object["metadata"]["annotations"] = json!({});
    }
    if let Some(map) = object["metadata"]["annotations"].as_object_mut() {
        for (k, v) in annotations {
            match v {
                Some(v) => map.insert(k.clone(), json!(v)),
                None => map.remove(k),
            };
        }
    }
}

fn cordon(store: &Store, node: &str) -> Result<(), String> {
    store
        .modify(Resource::Node, "", node, |n| {
            n["spec"]["unschedulable"] = json!(true)
        })
        .map(drop)
        .map_err(|e| e.to_string())
}

/// `Kind/namespace/name` or `Kind/name` (cluster-scoped).
pub fn parse_path(path: &str) -> Result<(Resource, String, String), String> {
    let parts: Vec<&str> = path.split('/').collect();
    let kind = parts.first().copied().unwrap_or("");
    let resource = Resource::ALL
        .into_iter()
        .find(|r| r.kind() == kind)
        .ok_or_else(|| format!("{path:?}: unknown kind {kind:?}"))?;
    match (resource.namespaced(), parts.as_slice()) {
        (true, [_, ns, name]) => Ok((resource, (*ns).to_owned(), (*name).to_owned())),
        (false, [_, name]) => Ok((resource, String::new(), (*name).to_owned())),
        (true, _) => Err(format!("{path:?}: expected {kind}/NAMESPACE/NAME")),
        (false, _) => Err(format!("{path:?}: expected {kind}/NAME")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_kind_namespace_and_name() {
        assert_eq!(
            parse_path("Service/web/nginx").unwrap(),
            (Resource::Service, "web".into(), "nginx".into())
        );
        assert_eq!(
            parse_path("Node/aks-0").unwrap(),
            (Resource::Node, String::new(), "aks-0".into())
        );
        assert!(
            parse_path("Service/nginx")
                .unwrap_err()
                .contains("Service/NAMESPACE/NAME")
        );
        assert!(parse_path("Gizmo/x").unwrap_err().contains("unknown kind"));
    }

    #[test]
    fn annotate_sets_and_removes() {
        let store = Store::new();
        apply(&store, json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n", "annotations": {"a": "1"}},
                             "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})).unwrap();
        let apps = Apps::default();
        let tunnel = |_: &str, _: bool| Ok(());
        let targets = Targets {
            store: &store,
            apps: &apps,
            tunnel: &tunnel,
        };
        let action = Action::Annotate {
            object: "Service/n/s".into(),
            annotations: BTreeMap::from([("a".into(), None), ("b".into(), Some("2".into()))]),
        };
        let said = play(&action, targets).unwrap();
        assert_eq!(said, "annotated Service/n/s a- b=2");
        let svc = store.get(Resource::Service, "n", "s").unwrap();
        assert_eq!(svc["metadata"]["annotations"], json!({"b": "2"}));
        assert!(
            svc["spec"]["ports"][0]["nodePort"].is_u64(),
            "allocated on apply"
        );
    }
}
