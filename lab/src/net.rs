//! The lab's network: node, pod and fabric namespaces, kube-proxy's rules and NetworkPolicies.
