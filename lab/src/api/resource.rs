//! The kinds of objects the lab's API server holds, with their API coordinates.

use std::fmt;

/// A resource type the lab serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Namespace,
    Node,
    Pod,
    Service,
    EndpointSlice,
    Ingress,
    IngressClass,
    NetworkPolicy,
    Deployment,
}

impl Resource {
    pub const ALL: [Resource; 9] = [
        Resource::Namespace,
        Resource::Node,
        Resource::Pod,
        Resource::Service,
        Resource::EndpointSlice,
        Resource::Ingress,
        Resource::IngressClass,
        Resource::NetworkPolicy,
        Resource::Deployment,
    ];

    /// The API group; empty for the core group.
    pub fn group(self) -> &'static str {
        match self {
            Resource::Namespace | Resource::Node | Resource::Pod | Resource::Service => "",
            Resource::EndpointSlice => "discovery.k8s.io",
            Resource::Ingress | Resource::IngressClass | Resource::NetworkPolicy => {
                "networking.k8s.io"
            }
            Resource::Deployment => "apps",
        }
    }

    pub fn version(self) -> &'static str {
        "v1"
    }

    /// `apiVersion` as objects carry it: `v1`, `apps/v1`, ...
    pub fn api_version(self) -> String {
        match self.group() {
            "" => self.version().to_owned(),
            group => format!("{group}/{}", self.version()),
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Namespace => "Namespace",
            Resource::Node => "Node",
            Resource::Pod => "Pod",
            Resource::Service => "Service",
            Resource::EndpointSlice => "EndpointSlice",
            Resource::Ingress => "Ingress",
            Resource::IngressClass => "IngressClass",
            Resource::NetworkPolicy => "NetworkPolicy",
            Resource::Deployment => "Deployment",
        }
    }

    /// The plural name in URLs.
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Namespace => "namespaces",
            Resource::Node => "nodes",
            Resource::Pod => "pods",
            Resource::Service => "services",
            Resource::EndpointSlice => "endpointslices",
            Resource::Ingress => "ingresses",
            Resource::IngressClass => "ingressclasses",
            Resource::NetworkPolicy => "networkpolicies",
            Resource::Deployment => "deployments",
        }
    }

    /// The short names kubectl accepts (`po`, `svc`, ...).
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Resource::Namespace => &["ns"],
            Resource::Node => &["no"],
            Resource::Pod => &["po"],
            Resource::Service => &["svc"],
            Resource::EndpointSlice | Resource::IngressClass => &[],
            Resource::Ingress => &["ing"],
            Resource::NetworkPolicy => &["netpol"],
            Resource::Deployment => &["deploy"],
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Resource::Namespace | Resource::Node | Resource::IngressClass
        )
    }

    /// The resource of an object's `apiVersion` and `kind`.
    pub fn of(api_version: &str, kind: &str) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| r.kind() == kind && r.api_version() == api_version)
    }

    /// The resource served at `group`/`version`/`plural`.
    pub fn at(group: &str, version: &str, plural: &str) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| r.group() == group && r.version() == version && r.plural() == plural)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}
