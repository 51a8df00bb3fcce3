//! What can go wrong while building or programming the lab's network.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use probesim_agent::netns::NetnsError;

use super::addr::Ipv4Cidr;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("topology {prefix}: {what}")]
    InvalidSpec { prefix: String, what: String },
    #[error("network namespace {namespace}: {source}")]
    Netns {
        namespace: String,
        #[source]
        source: NetnsError,
    },
    #[error(
        "`{command}` could not be started: {source} (install it with: apt-get install {package})"
    )]
    Spawn {
        command: String,
        package: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` in network namespace {namespace} failed: {stderr}")]
    Command {
        namespace: String,
        command: String,
        stderr: String,
    },
    #[error("network namespace {namespace}: links {links:?} did not come up")]
    LinkDown {
        namespace: String,
        links: Vec<String>,
    },
    #[error("cannot set {key} in network namespace {namespace}: {source}")]
    Sysctl {
        namespace: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("topology {prefix} has no node {node:?}")]
    UnknownNode { prefix: String, node: String },
    #[error("topology {prefix} has no pod {pod:?}")]
    UnknownPod { prefix: String, pod: String },
    #[error("topology {prefix} already has a pod {pod:?}")]
    PodExists { prefix: String, pod: String },
    #[error(
        "pod {pod:?}: address {ip} is not a free host address of node {node}'s pod CIDR {cidr}"
    )]
    PodAddress {
        pod: String,
        node: String,
        ip: Ipv4Addr,
        cidr: Ipv4Cidr,
    },
    #[error("node {node}: pod CIDR {cidr} has no free address left")]
    PodCidrFull { node: String, cidr: Ipv4Cidr },
    #[error("lab state file {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("node {node}: the dataplane thread could not start: {source}")]
    Thread {
        node: String,
        #[source]
        source: NetnsError,
    },
}
