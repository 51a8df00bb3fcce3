//! What the agent learns from its own Node: the cloud, the addresses to probe, and whether the
//! node is in a state the LB cares about (cordoned, tainted for removal).

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;

use crate::model::Cloud;

/// The taint the cluster autoscaler puts on a node it is about to remove; the AWS and Azure
/// controllers take such nodes out of their LBs.
pub const TAINT_TO_BE_DELETED: &str = "ToBeDeletedByClusterAutoscaler";

/// The cloud a node runs in, from its `spec.providerID` (`azure:///subscriptions/...`,
/// `aws:///eu-west-1a/i-...`); `None` for any other provider.
pub fn cloud_of(node: &Node) -> Option<Cloud> {
    let id = node.spec.as_ref()?.provider_id.as_deref()?;
    let scheme = id.split_once("://")?.0;
    match scheme {
        "azure" => Some(Cloud::Azure),
        "aws" => Some(Cloud::Aws),
        _ => None,
    }
}

/// The node's `InternalIP` addresses, in the order the node lists them; unparsable ones are
/// skipped (the caller warns).
pub fn internal_ips(node: &Node) -> Vec<IpAddr> {
    node.status
        .iter()
        .flat_map(|s| s.addresses.iter().flatten())
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect()
}

/// `spec.unschedulable`.
pub fn is_cordoned(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

/// The node's taints as `key=value:effect` strings, sorted.
pub fn taints(node: &Node) -> Vec<String> {
    let mut taints: Vec<String> = node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .map(|t| match t.value.as_deref() {
            Some(v) if !v.is_empty() => format!("{}={v}:{}", t.key, t.effect),
            _ => format!("{}:{}", t.key, t.effect),
        })
        .collect();
    taints.sort();
    taints
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeAddress, NodeSpec, NodeStatus, Taint};

    use super::*;

    fn node(provider: Option<&str>) -> Node {
        Node {
            spec: Some(NodeSpec {
                provider_id: provider.map(str::to_owned),
                ..NodeSpec::default()
            }),
            ..Node::default()
        }
    }

    #[test]
    fn the_cloud_comes_from_the_provider_id_scheme() {
        let azure = "azure:///subscriptions/s/resourceGroups/mc/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1/virtualMachines/0";
        assert_eq!(cloud_of(&node(Some(azure))), Some(Cloud::Azure));
        assert_eq!(
            cloud_of(&node(Some("aws:///eu-west-1a/i-0abc"))),
            Some(Cloud::Aws)
        );
        assert_eq!(cloud_of(&node(Some("gce://p/z/n"))), None);
        assert_eq!(cloud_of(&node(Some("no scheme"))), None);
        assert_eq!(cloud_of(&node(None)), None);
    }

    #[test]
    fn only_parsable_internal_ips_are_probed() {
        let mut n = node(None);
        n.status = Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "Hostname".into(),
                    address: "aks-1".into(),
                },
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: "10.224.0.4".into(),
                },
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: "fd00::4".into(),
                },
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: "garbage".into(),
                },
                NodeAddress {
                    type_: "ExternalIP".into(),
                    address: "20.1.2.3".into(),
                },
            ]),
            ..NodeStatus::default()
        });
        let ips: Vec<String> = internal_ips(&n).iter().map(|ip| ip.to_string()).collect();
        assert_eq!(ips, ["10.224.0.4", "fd00::4"]);
    }

    #[test]
    fn taints_read_as_kubectl_shows_them() {
        let mut n = node(None);
        let spec = n.spec.get_or_insert_with(NodeSpec::default);
        spec.unschedulable = Some(true);
        spec.taints = Some(vec![
            Taint {
                key: TAINT_TO_BE_DELETED.into(),
                value: Some("1700000000".into()),
                effect: "NoSchedule".into(),
                ..Taint::default()
            },
            Taint {
                key: "node.kubernetes.io/unschedulable".into(),
                effect: "NoSchedule".into(),
                ..Taint::default()
            },
        ]);
        assert!(is_cordoned(&n));
        assert_eq!(
            taints(&n),
            [
                "ToBeDeletedByClusterAutoscaler=1700000000:NoSchedule",
                "node.kubernetes.io/unschedulable:NoSchedule"
            ]
        );
    }
}
