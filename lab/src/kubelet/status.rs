//! Pod status as the kubelet writes it, and what it reads from a pod's spec. Pure.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::api::store::timestamp;

/// Sets a pod condition; `lastTransitionTime` moves only when the status changes.
pub fn set_condition(pod: &mut Value, kind: &str, status: bool, reason: Option<&str>) {
    let status = if status { "True" } else { "False" };
    let now = timestamp(SystemTime::now());
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = pod["status"]["conditions"].as_array_mut() else {
        return;
    };
    match conditions.iter_mut().find(|c| c["type"] == kind) {
        Some(c) if c["status"] == status => {}
        Some(c) => {
            c["status"] = json!(status);
            c["lastTransitionTime"] = json!(now);
            c["reason"] = json!(reason);
        }
        None => conditions.push(json!({
            "type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now,
            "reason": reason,
        })),
    }
    if let Some(c) = conditions.iter_mut().find(|c| c["type"] == kind)
        && reason.is_none()
        && let Some(map) = c.as_object_mut()
    {
        map.remove("reason");
    }
}

/// Marks the pod's containers ready or not (`ContainersReady`, `Ready`, containerStatuses).
pub fn set_ready(pod: &mut Value, ready: bool) {
    let reason = (!ready).then_some("ContainersNotReady");
    set_condition(pod, "ContainersReady", ready, reason);
    set_condition(pod, "Ready", ready, reason);
    if let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() {
        for s in statuses {
            s["ready"] = json!(ready);
        }
    }
}

/// The status of a pod whose containers are being created on `host_ip`.
pub fn set_starting(pod: &mut Value, host_ip: &str, pod_ip: &str) {
    pod["status"]["phase"] = json!("Pending");
    pod["status"]["hostIP"] = json!(host_ip);
    pod["status"]["hostIPs"] = json!([{"ip": host_ip}]);
    pod["status"]["podIP"] = json!(pod_ip);
    pod["status"]["podIPs"] = json!([{"ip": pod_ip}]);
    pod["status"]["startTime"] = json!(timestamp(SystemTime::now()));
    set_condition(pod, "PodScheduled", true, None);
    set_condition(pod, "Initialized", true, None);
    set_ready(pod, false);
    let statuses: Vec<Value> = containers(pod)
        .iter()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "ready": false, "restartCount": 0,
                   "started": false, "state": {"waiting": {"reason": "ContainerCreating"}}})
        })
        .collect();
    pod["status"]["containerStatuses"] = json!(statuses);
}

/// The status of a pod whose containers run.
pub fn set_running(pod: &mut Value) {
    pod["status"]["phase"] = json!("Running");
    let now = timestamp(SystemTime::now());
    if let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() {
        for s in statuses {
            s["started"] = json!(true);
            s["state"] = json!({"running": {"startedAt": now}});
        }
    }
}

fn containers(pod: &Value) -> Vec<Value> {
    pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The TCP ports the pod's containers declare.
pub fn container_ports(pod: &Value) -> Vec<u16> {
    containers(pod)
        .iter()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["protocol"].as_str().unwrap_or("TCP") == "TCP")
        .filter_map(|p| p["containerPort"].as_u64())
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}

/// The readiness probe of the pod's first container that has one.
pub fn readiness_probe(pod: &Value) -> Option<Value> {
    containers(pod)
        .iter()
        .map(|c| c["readinessProbe"].clone())
        .find(Value::is_object)
}

/// How long the pod's preStop hook takes: a `sleep` action, or an exec hook that runs `sleep N`
/// (the usual `["/bin/sh", "-c", "sleep 30"]`). Other hooks take no time in the lab.
pub fn pre_stop(pod: &Value) -> Duration {
    containers(pod)
        .iter()
        .map(|c| &c["lifecycle"]["preStop"])
        .map(|hook| {
            if let Some(secs) = hook["sleep"]["seconds"].as_u64() {
                return Duration::from_secs(secs);
            }
            let command = hook["exec"]["command"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let words: Vec<String> = command
                .iter()
                .filter_map(Value::as_str)
                .flat_map(|part| {
                    part.split_whitespace()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            words
                .windows(2)
                .find(|w| w[0] == "sleep" || w[0].ends_with("/sleep"))
                .and_then(|w| w[1].parse::<f64>().ok())
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .unwrap_or_default()
        })
        .max()
        .unwrap_or_default()
}

/// The key by which the lab names a pod: `namespace/name`.
pub fn pod_key(pod: &Value) -> String {
    format!(
        "{}/{}",
        pod["metadata"]["namespace"].as_str().unwrap_or("default"),
        pod["metadata"]["name"].as_str().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_stop_hooks_are_read_from_sleep_and_exec_forms() {
        let sleep = json!({"spec": {"containers": [{"lifecycle": {"preStop": {"sleep": {"seconds": 30}}}}]}});
        assert_eq!(pre_stop(&sleep), Duration::from_secs(30));
        let exec = json!({"spec": {"containers": [{"lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 15"]}}}}]}});
        assert_eq!(pre_stop(&exec), Duration::from_secs(15));
        let other = json!({"spec": {"containers": [{"lifecycle": {"preStop": {"exec": {"command": ["/wait-shutdown"]}}}}]}});
        assert_eq!(pre_stop(&other), Duration::ZERO);
    }

    #[test]
    fn a_condition_keeps_its_transition_time_until_it_changes() {
        let mut pod = json!({});
        set_starting(&mut pod, "10.224.0.4", "10.244.0.2");
        assert_eq!(pod["status"]["conditions"][0]["type"], "PodScheduled");
        set_ready(&mut pod, true);
        let ready = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready["status"], "True");
        assert!(ready.get("reason").is_none());
        set_ready(&mut pod, true);
        let again = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready, again);
    }
}
