//! `/version` and API discovery: what kubectl and kube-rs read to resolve `po`, `svc`, `deploy`.

use serde_json::{Value, json};

use crate::api::resource::Resource;

/// Verbs of every served resource (no `deletecollection`: not served).
const VERBS: [&str; 7] = [
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Resources whose writes leave `status` alone and whose `/status` writes change only `status`,
/// as in Kubernetes.
pub fn has_status(resource: Resource) -> bool {
    matches!(
        resource,
        Resource::Pod
            | Resource::Deployment
            | Resource::Node
            | Resource::Service
            | Resource::Namespace
            | Resource::Ingress
    )
}

/// A Kubernetes version as `/version` tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Version {
    pub git_version: String,
    pub major: String,
    pub minor: String,
}

impl Version {
    /// `v1.30.4`, `v1.29.2-eks-5e0fdde`: `None` when it is not `vMAJOR.MINOR.PATCH[-SUFFIX]`.
    pub fn parse(git_version: &str) -> Option<Version> {
        let numbers = git_version.strip_prefix('v')?;
        let numbers = numbers.split_once('-').map_or(numbers, |(n, _)| n);
        let parts: Vec<&str> = numbers.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return None;
        };
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (numeric(major) && numeric(minor) && numeric(patch)).then(|| Version {
            git_version: git_version.to_owned(),
            major: (*major).to_owned(),
            // EKS and GKE builds report `minor` with a `+` (e.g. "29+").
            minor: if git_version.contains('-') {
                format!("{minor}+")
            } else {
                (*minor).to_owned()
            },
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "major": self.major,
            "minor": self.minor,
            "gitVersion": self.git_version,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2024-01-01T00:00:00Z",
            "goVersion": "go1.22.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        })
    }
}

/// What kubectl's `Accept` names when it wants the OpenAPI v2 document in protobuf.
pub const OPENAPI_V2_PROTOBUF_ACCEPT: &str = "com.github.proto-openapi.spec.v2";
/// The `Content-Type` kube-apiserver answers it with (Go's mime parser refuses the `@` of the
/// name kubectl asks with).
pub const OPENAPI_V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2`: a document without paths or definitions, in protobuf (gnostic's
/// `openapi_v2.Document`) when asked, else JSON. kubectl validates manifests against the schema
/// of their kind and skips kinds the document lacks, so `kubectl create -f` and `apply -f` work
/// with validation on, as the lab keeps no schemas.
pub fn openapi_v2(version: &Version, protobuf: bool) -> Vec<u8> {
    if !protobuf {
        let document = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": version.git_version},
            "paths": {},
            "definitions": {},
        });
        return serde_json::to_vec(&document).unwrap_or_default();
    }
    // Length-delimited fields: swagger = 1, info = 2 (title = 1, version = 2), paths = 8,
    // definitions = 9. Every length here is below 128, a one-byte varint.
    let field = |number: u8, bytes: &[u8]| {
        let length = u8::try_from(bytes.len()).unwrap_or(0).min(127);
        let mut out = vec![number << 3 | 2, length];
        out.extend_from_slice(&bytes[..usize::from(length)]);
        out
    };
    let info = [
        field(1, b"Kubernetes"),
        field(2, version.git_version.as_bytes()),
    ]
    .concat();
    [
        field(1, b"2.0"),
        field(2, &info),
        field(8, &[]),
        field(9, &[]),
    ]
    .concat()
}

/// `/openapi/v3`: the discovery document, with no group version.
pub fn openapi_v3() -> Value {
    json!({"paths": {}})
}

/// `/api`
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for group in Resource::ALL.map(Resource::group) {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

fn group(name: &str) -> Value {
    let version = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
    json!({"name": name, "versions": [version], "preferredVersion": version})
}

/// `/apis`
pub fn group_list() -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": groups().into_iter().map(group).collect::<Vec<_>>(),
    })
}

/// `/apis/GROUP`
pub fn api_group(name: &str) -> Value {
    let mut value = group(name);
    value["kind"] = json!("APIGroup");
    value["apiVersion"] = json!("v1");
    value
}

/// `/api/v1`, `/apis/GROUP/v1`: the resources of `group` with their subresources.
pub fn resource_list(group: &str) -> Value {
    let mut resources = Vec::new();
    for resource in Resource::ALL.into_iter().filter(|r| r.group() == group) {
        let mut entry = json!({
            "name": resource.plural(),
            "singularName": resource.kind().to_lowercase(),
            "namespaced": resource.namespaced(),
            "kind": resource.kind(),
            "verbs": VERBS,
        });
        if !resource.short_names().is_empty() {
            entry["shortNames"] = json!(resource.short_names());
        }
        if matches!(
            resource,
            Resource::Pod | Resource::Service | Resource::Deployment
        ) {
            entry["categories"] = json!(["all"]);
        }
        resources.push(entry);
        if has_status(resource) {
            resources.push(json!({
                "name": format!("{}/status", resource.plural()),
                "singularName": "",
                "namespaced": resource.namespaced(),
                "kind": resource.kind(),
                "verbs": ["get", "patch", "update"],
            }));
        }
        if resource == Resource::Deployment {
            resources.push(json!({
                "name": "deployments/scale",
                "singularName": "",
                "namespaced": true,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if resource == Resource::Node {
            resources.push(json!({
                "name": "nodes/proxy",
                "singularName": "",
                "namespaced": false,
                "kind": "NodeProxyOptions",
                "verbs": ["create", "delete", "get", "patch", "update"],
            }));
        }
    }
    let group_version = match group {
        "" => "v1".to_owned(),
        group => format!("{group}/v1"),
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_like_the_clouds_report_them() {
        let aks = Version::parse("v1.30.4").unwrap();
        assert_eq!((aks.major.as_str(), aks.minor.as_str()), ("1", "30"));
        let eks = Version::parse("v1.29.2-eks-5e0fdde").unwrap();
        assert_eq!(eks.minor, "29+");
        for bad in ["1.30.4", "v1.30", "v1.x.4", "v1.30.4.1", ""] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_openapi_v2_document_is_the_protobuf_of_an_empty_swagger_document() {
        let version = Version::parse("v1.30.4").unwrap();
        let expected: Vec<u8> = [
            &[0x0a, 3][..],
            b"2.0",
            &[0x12, 21, 0x0a, 10],
            b"Kubernetes",
            &[0x12, 7],
            b"v1.30.4",
            &[0x42, 0, 0x4a, 0],
        ]
        .concat();
        assert_eq!(openapi_v2(&version, true), expected);
        let json: Value = serde_json::from_slice(&openapi_v2(&version, false)).unwrap();
        assert_eq!(json["swagger"], "2.0");
    }

    #[test]
    fn discovery_lists_every_served_resource_once_in_its_group() {
        let mut served = Vec::new();
        for group in std::iter::once("").chain(groups()) {
            let list = resource_list(group);
            for entry in list["resources"].as_array().unwrap() {
                let name = entry["name"].as_str().unwrap();
                if !name.contains('/') {
                    let resource = Resource::at(group, "v1", name).unwrap();
                    assert_eq!(entry["kind"], resource.kind());
                    served.push(resource);
                }
            }
        }
        served.sort();
        assert_eq!(served, Resource::ALL.to_vec());
        let core = resource_list("");
        let pods = &core["resources"].as_array().unwrap()[..];
        assert!(
            pods.iter()
                .any(|r| r["name"] == "pods" && r["shortNames"] == json!(["po"]))
        );
        assert!(pods.iter().any(|r| r["name"] == "nodes/proxy"));
        assert_eq!(
            api_group("apps")["preferredVersion"]["groupVersion"],
            "apps/v1"
        );
    }
}
