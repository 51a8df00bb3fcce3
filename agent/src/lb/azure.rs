//! cloud-provider-azure's derivation of LB rules and health probes from a Service
//! (spec/azure-lb.md section 3).

pub mod annotations;
pub mod version;

use k8s_openapi::api::core::v1::Service;

use crate::model::ServiceResult;
pub use version::{AzureBehavior, CpaVersion, DEFAULT_AZURE_VERSION};

/// `clusterServiceLoadBalancerHealthProbeMode` of the cloud-provider-azure configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProbeMode {
    /// One probe per Service port, on its NodePort (the default).
    #[default]
    ServiceNodePort,
    /// One probe of kube-proxy's health server (port 10256, `/healthz`) for every Service.
    Shared,
}

/// The Azure Load Balancer SKU of the cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sku {
    #[default]
    Standard,
    /// Basic SKU has no Https probes.
    Basic,
}

#[derive(Clone, Debug)]
pub struct AzureSettings {
    pub version: CpaVersion,
    pub probe_mode: ProbeMode,
    pub sku: Sku,
}

impl Default for AzureSettings {
    fn default() -> Self {
        AzureSettings {
            version: DEFAULT_AZURE_VERSION,
            probe_mode: ProbeMode::default(),
            sku: Sku::default(),
        }
    }
}

/// What cloud-provider-azure would configure for one Service; `None` when it is not of type
/// LoadBalancer (the controller ignores it).
pub fn derive_service(_svc: &Service, _settings: &AzureSettings) -> Option<ServiceResult> {
    None
}
