//! Reading Kubernetes manifests: multi-document YAML or JSON, `kubectl get -o yaml` Lists.
