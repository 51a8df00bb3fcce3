//! What the API server adds to objects it admits, for the scenario's manifests: ClusterIPs,
//! NodePorts and health-check node ports of Services, the namespaces they live in, and the
//! Node objects of the lab's nodes.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::api::{Resource, Store};

/// AKS' default service CIDR ([`crate::net::topology::SERVICE_CIDR`]): ClusterIPs are 10.0.x.y,
/// 10.0.0.10 is kube-dns.
pub const SERVICE_CIDR_PREFIX: [u8; 2] = [10, 0];
/// Kubernetes' default NodePort range.
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Allocates what a Service lacks: a ClusterIP, NodePorts for NodePort and LoadBalancer
/// Services, and a healthCheckNodePort for LoadBalancer Services with externalTrafficPolicy Local,
/// none of them taken by another Service.
pub fn allocate_service(store: &Store, svc: &mut Value) {
    let (existing, _) = store.list(Resource::Service, None);
    let mut ips: BTreeSet<String> = BTreeSet::new();
    let mut ports: BTreeSet<u64> = BTreeSet::new();
    for other in &existing {
        if other["metadata"]["name"] == svc["metadata"]["name"]
            && other["metadata"]["namespace"] == svc["metadata"]["namespace"]
        {
            continue;
        }
        if let Some(ip) = other["spec"]["clusterIP"].as_str() {
            ips.insert(ip.to_owned());
        }
        ports.extend(
            other["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["nodePort"].as_u64()),
        );
        ports.extend(other["spec"]["healthCheckNodePort"].as_u64());
    }
    let spec = &mut svc["spec"];
    let kind = spec["type"].as_str().unwrap_or("ClusterIP").to_owned();
    if spec["clusterIP"].as_str().is_none_or(str::is_empty) {
        let [a, b] = SERVICE_CIDR_PREFIX;
        let ip = (1u32..65_534)
            .map(|n| format!("{a}.{b}.{}.{}", n / 256, n % 256))
            .find(|ip| !ips.contains(ip) && !ip.ends_with(".0.10") && !ip.ends_with(".0"));
        if let Some(ip) = ip {
            spec["clusterIP"] = json!(ip);
            spec["clusterIPs"] = json!([ip]);
        }
    }
    let mut next_port = || {
        let port = NODE_PORT_RANGE
            .clone()
            .map(u64::from)
            .find(|p| !ports.contains(p));
        if let Some(p) = port {
            ports.insert(p);
        }
        port
    };
    if kind == "NodePort" || kind == "LoadBalancer" {
        for port in spec["ports"].as_array_mut().into_iter().flatten() {
            if port["nodePort"].as_u64().is_none() {
                port["nodePort"] = json!(next_port());
            }
        }
    }
    if kind == "LoadBalancer"
        && spec["externalTrafficPolicy"].as_str() == Some("Local")
        && spec["healthCheckNodePort"].as_u64().is_none()
    {
        spec["healthCheckNodePort"] = json!(next_port());
    }
}

/// The Namespace objects for every namespace the objects use.
pub fn namespaces(objects: &[Value]) -> Vec<Value> {
    let names: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o["kind"] != "Namespace")
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .chain(["default", "kube-system"])
        .collect();
    names
        .into_iter()
        .map(|name| {
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                   "status": {"phase": "Active"}})
        })
        .collect()
}

/// The Node object of a lab node, as the cloud's kubelet registers it.
pub fn node_object(
    cloud: super::file::ScenarioCloud,
    index: usize,
    name: &str,
    ip: &str,
    pod_cidr: &str,
    k8s_version: &str,
    extra_labels: &std::collections::BTreeMap<String, String>,
) -> Value {
    let zone_letter = ["a", "b", "c"][index % 3];
    let (provider_id, zone, instance_type) = match cloud {
        super::file::ScenarioCloud::Azure => (
            format!(
                "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_lab/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-vmss/virtualMachines/{index}"
            ),
            format!("eastus-{}", index % 3 + 1),
            "Standard_D2s_v3",
        ),
        super::file::ScenarioCloud::Aws => (
            format!("aws:///us-east-1{zone_letter}/i-0{index:016x}"),
            format!("us-east-1{zone_letter}"),
            "m5.large",
        ),
    };
    let mut labels = json!({
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": zone, "node.kubernetes.io/instance-type": instance_type,
    });
    for (k, v) in extra_labels {
        labels[k] = json!(v);
    }
    let version = if k8s_version.starts_with('v') {
        k8s_version.to_owned()
    } else {
        format!("v{k8s_version}")
    };
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "providerID": provider_id},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}],
            "nodeInfo": {"kubeletVersion": version, "kubeProxyVersion": version,
                         "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "containerd://1.7.0"},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_load_balancer_gets_node_ports_and_a_health_check_node_port_not_taken() {
        let store = Store::new();
        store
            .apply(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "x"},
                          "spec": {"type": "NodePort", "clusterIP": "10.0.0.1", "ports": [{"port": 80, "nodePort": 30000}]}}))
            .unwrap();
        let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b", "namespace": "x"},
                             "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                                      "ports": [{"port": 80}, {"port": 443, "nodePort": 30569}]}});
        allocate_service(&store, &mut svc);
        assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30001);
        assert_eq!(svc["spec"]["ports"][1]["nodePort"], 30569);
        assert_eq!(svc["spec"]["healthCheckNodePort"], 30002);
        assert_eq!(svc["spec"]["clusterIP"], "10.0.0.2");
    }
}
