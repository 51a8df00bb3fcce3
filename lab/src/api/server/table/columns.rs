//! The columns kube-apiserver prints for each kind between NAME and AGE
//! (pkg/printers/internalversion/printers.go), computed the same way.

use serde_json::{Value, json};

use super::Column;
use crate::api::resource::Resource;

type Cells = fn(&Value) -> Vec<Value>;

const fn column(name: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        wide: false,
    }
}

const fn wide(name: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        wide: true,
    }
}

const POD: &[Column] = &[
    column("Ready"),
    column("Status"),
    Column {
        name: "Restarts",
        kind: "integer",
        wide: false,
    },
    wide("IP"),
    wide("Node"),
];
const NODE: &[Column] = &[
    column("Status"),
    column("Roles"),
    column("Version"),
    wide("Internal-IP"),
];
const SERVICE: &[Column] = &[
    column("Type"),
    column("Cluster-IP"),
    column("External-IP"),
    column("Port(s)"),
    wide("Selector"),
];
const ENDPOINT_SLICE: &[Column] = &[column("AddressType"), column("Ports"), column("Endpoints")];
const DEPLOYMENT: &[Column] = &[
    column("Ready"),
    column("Up-to-date"),
    column("Available"),
    wide("Containers"),
    wide("Images"),
];
const INGRESS: &[Column] = &[
    column("Class"),
    column("Hosts"),
    column("Address"),
    column("Ports"),
];
const INGRESS_CLASS: &[Column] = &[column("Controller"), column("Parameters")];
const NETWORK_POLICY: &[Column] = &[column("Pod-Selector")];
const NAMESPACE: &[Column] = &[column("Status")];

/// The middle columns of `resource` and the function that fills them.
pub fn of(resource: Resource) -> (&'static [Column], Cells) {
    match resource {
        Resource::Pod => (POD, pod),
        Resource::Node => (NODE, node),
        Resource::Service => (SERVICE, service),
        Resource::EndpointSlice => (ENDPOINT_SLICE, endpoint_slice),
        Resource::Deployment => (DEPLOYMENT, deployment),
        Resource::Ingress => (INGRESS, ingress),
        Resource::IngressClass => (INGRESS_CLASS, ingress_class),
        Resource::NetworkPolicy => (NETWORK_POLICY, network_policy),
        Resource::Namespace => (NAMESPACE, namespace),
    }
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// `values` joined by commas, or `empty`.
fn joined<'a>(values: impl Iterator<Item = &'a str>, empty: &str) -> String {
    let values: Vec<&str> = values.filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        empty.to_owned()
    } else {
        values.join(",")
    }
}

/// `a=b,c=d` of a label map, as kubectl prints selectors.
fn labels(map: &Value) -> String {
    let pairs: Vec<String> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    if pairs.is_empty() {
        "<none>".to_owned()
    } else {
        pairs.join(",")
    }
}

fn pod(pod: &Value) -> Vec<Value> {
    let status = &pod["status"];
    let total = items(&pod["spec"]["containers"]).len();
    let mut reason = match (text(&status["reason"]), text(&status["phase"])) {
        ("", "") => "Pending",
        ("", phase) => phase,
        (reason, _) => reason,
    }
    .to_owned();
    let (mut ready, mut restarts) = (0, 0);
    for container in items(&status["containerStatuses"]).iter().rev() {
        restarts += container["restartCount"].as_i64().unwrap_or(0);
        let state = &container["state"];
        if let Some(waiting) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = waiting.to_owned();
        } else if state["terminated"].is_object() {
            let terminated = &state["terminated"];
            reason = match text(&terminated["reason"]) {
                "" if terminated["signal"].as_i64().unwrap_or(0) != 0 => {
                    format!("Signal:{}", terminated["signal"])
                }
                "" => format!("ExitCode:{}", terminated["exitCode"].as_i64().unwrap_or(0)),
                r => r.to_owned(),
            };
        } else if container["ready"] == true && state["running"].is_object() {
            ready += 1;
        }
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        reason = if status["reason"] == "NodeLost" {
            "Unknown".to_owned()
        } else {
            "Terminating".to_owned()
        };
    }
    vec![
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        json!(status["podIP"].as_str().unwrap_or("<none>")),
        json!(pod["spec"]["nodeName"].as_str().unwrap_or("<none>")),
    ]
}

fn node(node: &Value) -> Vec<Value> {
    let ready = items(&node["status"]["conditions"])
        .iter()
        .find(|c| c["type"] == "Ready");
    let mut status = match ready {
        Some(c) if c["status"] == "True" => "Ready".to_owned(),
        Some(_) => "NotReady".to_owned(),
        None => "Unknown".to_owned(),
    };
    if node["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    let roles = node["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"));
    let internal = items(&node["status"]["addresses"])
        .iter()
        .filter(|a| a["type"] == "InternalIP")
        .map(|a| text(&a["address"]));
    vec![
        json!(status),
        json!(joined(roles, "<none>")),
        json!(text(&node["status"]["nodeInfo"]["kubeletVersion"])),
        json!(joined(internal, "<none>")),
    ]
}

fn service(service: &Value) -> Vec<Value> {
    let spec = &service["spec"];
    let kind = spec["type"].as_str().unwrap_or("ClusterIP");
    let external = if kind == "LoadBalancer" {
        let ingress = items(&service["status"]["loadBalancer"]["ingress"])
            .iter()
            .map(|i| {
                i["ip"]
                    .as_str()
                    .or(i["hostname"].as_str())
                    .unwrap_or_default()
            });
        joined(ingress, "<pending>")
    } else {
        joined(items(&spec["externalIPs"]).iter().map(text), "<none>")
    };
    let ports = items(&spec["ports"]).iter().map(|p| {
        let protocol = p["protocol"].as_str().unwrap_or("TCP");
        match p["nodePort"].as_i64() {
            Some(node_port) => format!("{}:{node_port}/{protocol}", p["port"]),
            None => format!("{}/{protocol}", p["port"]),
        }
    });
    let ports: Vec<String> = ports.collect();
    vec![
        json!(kind),
        json!(spec["clusterIP"].as_str().unwrap_or("<none>")),
        json!(external),
        json!(joined(ports.iter().map(String::as_str), "<none>")),
        json!(labels(&spec["selector"])),
    ]
}

fn endpoint_slice(slice: &Value) -> Vec<Value> {
    let ports: Vec<String> = items(&slice["ports"])
        .iter()
        .map(|p| p["port"].to_string())
        .collect();
    let addresses: Vec<&str> = items(&slice["endpoints"])
        .iter()
        .flat_map(|e| items(&e["addresses"]).iter().map(text))
        .collect();
    // kubectl shows three addresses and counts the rest.
    let mut shown = addresses
        .iter()
        .take(3)
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    if addresses.len() > 3 {
        shown.push_str(&format!(" + {} more...", addresses.len() - 3));
    }
    vec![
        json!(text(&slice["addressType"])),
        json!(joined(ports.iter().map(String::as_str), "<unset>")),
        json!(if shown.is_empty() {
            "<unset>".to_owned()
        } else {
            shown
        }),
    ]
}

fn deployment(deployment: &Value) -> Vec<Value> {
    let (spec, status) = (&deployment["spec"], &deployment["status"]);
    let count = |v: &Value| v.as_i64().unwrap_or(0);
    let containers = items(&spec["template"]["spec"]["containers"]);
    vec![
        json!(format!(
            "{}/{}",
            count(&status["readyReplicas"]),
            spec["replicas"].as_i64().unwrap_or(1)
        )),
        json!(count(&status["updatedReplicas"])),
        json!(count(&status["availableReplicas"])),
        json!(joined(
            containers.iter().map(|c| text(&c["name"])),
            "<none>"
        )),
        json!(joined(
            containers.iter().map(|c| text(&c["image"])),
            "<none>"
        )),
    ]
}

fn ingress(ingress: &Value) -> Vec<Value> {
    let spec = &ingress["spec"];
    let hosts = items(&spec["rules"]).iter().map(|r| text(&r["host"]));
    let address = items(&ingress["status"]["loadBalancer"]["ingress"])
        .iter()
        .map(|i| {
            i["ip"]
                .as_str()
                .or(i["hostname"].as_str())
                .unwrap_or_default()
        });
    let ports = if items(&spec["tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        json!(spec["ingressClassName"].as_str().unwrap_or("<none>")),
        json!(joined(hosts, "*")),
        json!(joined(address, "")),
        json!(ports),
    ]
}

fn ingress_class(class: &Value) -> Vec<Value> {
    vec![json!(text(&class["spec"]["controller"])), json!("<none>")]
}

fn network_policy(policy: &Value) -> Vec<Value> {
    vec![json!(labels(&policy["spec"]["podSelector"]["matchLabels"]))]
}

fn namespace(namespace: &Value) -> Vec<Value> {
    vec![json!(
        namespace["status"]["phase"].as_str().unwrap_or("Active")
    )]
}
