//! How the AWS Load Balancer Controller and the legacy in-tree provider turn Ingresses and
//! Services into ALB, NLB and CLB target groups (spec/aws-elb.md section 4).
//!
//! - [`alb`]: an Ingress of class `alb` becomes one ALB target group per backend (LBC).
//! - [`nlb`]: a Service the LBC owns becomes one NLB target group per port.
//! - [`legacy`]: any other Service of type LoadBalancer gets a Classic LB (one health check for
//!   all its ports) or, with `aws-load-balancer-type: nlb`, NLB target groups from
//!   cloud-provider-aws.
//!
//! [`service_owner`] decides which controller a Service belongs to, the way both controllers
//! decide it between themselves.

pub mod alb;
mod attributes;
mod health;
pub mod legacy;
pub mod nlb;
mod ports;
mod values;

use k8s_openapi::api::core::v1::Service;

use crate::lb::Objects;
use crate::lb::annotations::Annotations;
use crate::model::{LbKind, ObjectRef, ServiceResult};

/// Prefix of the Service annotations both AWS controllers read.
pub(crate) const SERVICE_PREFIX: &str = "service.beta.kubernetes.io/";
/// `service.beta.kubernetes.io/aws-load-balancer-type`: `nlb` (legacy NLB), `external` or
/// `nlb-ip` (the LBC).
pub const LOAD_BALANCER_TYPE: &str = "service.beta.kubernetes.io/aws-load-balancer-type";
/// `service.beta.kubernetes.io/aws-load-balancer-nlb-target-type`: `ip` or `instance`.
pub const NLB_TARGET_TYPE: &str = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type";
/// The `spec.loadBalancerClass` of the LBC (its `--load-balancer-class` default).
pub const LBC_LOAD_BALANCER_CLASS: &str = "service.k8s.aws/nlb";

/// Which controller handles Services of type LoadBalancer that name none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultServiceController {
    /// The legacy provider: a Classic LB.
    #[default]
    Legacy,
    /// The AWS Load Balancer Controller's webhook sets `loadBalancerClass: service.k8s.aws/nlb`
    /// (v2.5+ with the Service mutator webhook enabled).
    LoadBalancerController,
}

/// cloud-provider-aws `ClusterServiceLoadBalancerHealthProbeMode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LegacyProbeMode {
    /// Each Service's own port: the first NodePort (CLB) or the traffic port (NLB).
    #[default]
    ServiceNodePort,
    /// Services with externalTrafficPolicy Cluster are checked on kube-proxy's health server
    /// (`HTTP:10256/healthz` unless the shared port and path are configured).
    Shared,
}

/// kube-proxy's health server: cloud-provider-aws's shared probe port and path.
pub const KUBE_PROXY_HEALTH_PORT: u16 = 10256;
pub const KUBE_PROXY_HEALTH_PATH: &str = "/healthz";

/// How the AWS controllers of the cluster are configured.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    pub default_service_controller: DefaultServiceController,
    /// LBC `--ingress-class`: the `kubernetes.io/ingress.class` annotation value it owns
    /// (default `alb`; when empty it owns `alb`).
    pub ingress_class: String,
    /// LBC `--tolerate-non-existent-backend-service` (default true): an Ingress backend whose
    /// Service does not exist answers a fixed 503 instead of failing the whole Ingress.
    pub tolerate_missing_backend_service: bool,
    /// LBC `--tolerate-non-existent-backend-action` (default true): the same for a
    /// `use-annotation` backend whose `actions.NAME` annotation is missing.
    pub tolerate_missing_backend_action: bool,
    /// LBC feature gate `ServiceTypeLoadBalancerOnly` (default off): when off, the LBC also
    /// provisions NLBs for ClusterIP and NodePort Services annotated for it.
    pub lbc_service_type_load_balancer_only: bool,
    /// cloud-provider-aws `ClusterServiceLoadBalancerHealthProbeMode`.
    pub legacy_probe_mode: LegacyProbeMode,
    /// cloud-provider-aws `ClusterServiceSharedLoadBalancerHealthProbePort`.
    pub legacy_shared_probe_port: u16,
    /// cloud-provider-aws `ClusterServiceSharedLoadBalancerHealthProbePath`.
    pub legacy_shared_probe_path: String,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            default_service_controller: DefaultServiceController::default(),
            ingress_class: alb::DEFAULT_INGRESS_CLASS.to_owned(),
            tolerate_missing_backend_service: true,
            tolerate_missing_backend_action: true,
            lbc_service_type_load_balancer_only: false,
            legacy_probe_mode: LegacyProbeMode::default(),
            legacy_shared_probe_port: KUBE_PROXY_HEALTH_PORT,
            legacy_shared_probe_path: KUBE_PROXY_HEALTH_PATH.to_owned(),
        }
    }
}

/// The controller that provisions a Service's load balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceOwner {
    /// The AWS Load Balancer Controller: an NLB.
    LoadBalancerController,
    /// cloud-provider-aws: a Classic LB, or an NLB with `aws-load-balancer-type: nlb`.
    Legacy,
    /// `aws-load-balancer-type: external` without a valid `nlb-target-type`: the LBC ignores it
    /// and the legacy provider leaves it to the LBC, so no load balancer is made.
    Nobody,
}

/// Which AWS controller handles a Service; `None` when neither would look at it.
pub fn service_owner(svc: &Service, settings: &AwsSettings) -> Option<ServiceOwner> {
    let spec = svc.spec.as_ref();
    let is_lb = ports::service_type(svc) == "LoadBalancer";
    let type_ok_for_lbc = is_lb || !settings.lbc_service_type_load_balancer_only;
    if let Some(class) = spec
        .and_then(|s| s.load_balancer_class.as_deref())
        .filter(|c| !c.is_empty())
    {
        return (class == LBC_LOAD_BALANCER_CLASS && type_ok_for_lbc)
            .then_some(ServiceOwner::LoadBalancerController);
    }
    let annotations = Annotations::of(&svc.metadata);
    let lb_type = annotations.get(LOAD_BALANCER_TYPE);
    let target_type = annotations.get(NLB_TARGET_TYPE);
    let lbc_annotated = lb_type == Some("nlb-ip")
        || (lb_type == Some("external") && matches!(target_type, Some("ip" | "instance")));
    if lbc_annotated {
        return type_ok_for_lbc.then_some(ServiceOwner::LoadBalancerController);
    }
    if !is_lb {
        return None;
    }
    Some(match settings.default_service_controller {
        // The webhook gives every new LoadBalancer Service without a class the LBC's class.
        DefaultServiceController::LoadBalancerController => ServiceOwner::LoadBalancerController,
        DefaultServiceController::Legacy if lb_type == Some("external") => ServiceOwner::Nobody,
        DefaultServiceController::Legacy => ServiceOwner::Legacy,
    })
}

/// What the AWS controllers would configure for one Service; `None` when neither handles it.
pub fn derive_service(svc: &Service, settings: &AwsSettings) -> Option<ServiceResult> {
    Some(match service_owner(svc, settings)? {
        ServiceOwner::LoadBalancerController => nlb::derive_service(svc),
        ServiceOwner::Legacy => legacy::derive_service(svc, settings),
        ServiceOwner::Nobody => {
            let object = ObjectRef::from_meta("Service", &svc.metadata);
            let mut result = ServiceResult::new(object.clone(), LbKind::Nlb);
            result.reject(format!(
                "{object}: annotation {LOAD_BALANCER_TYPE}: \"external\" needs {NLB_TARGET_TYPE} \
                 \"ip\" or \"instance\": without it the AWS Load Balancer Controller ignores the \
                 Service and the legacy provider leaves it to that controller, so no load \
                 balancer is created"
            ));
            result
        }
    })
}

/// The target groups of every Service and Ingress handled by an AWS controller: Services first,
/// then Ingresses, each in input order.
pub fn derive(objects: &Objects, settings: &AwsSettings) -> Vec<ServiceResult> {
    let services = objects
        .services
        .iter()
        .filter_map(|svc| derive_service(svc, settings));
    let ingresses = objects
        .ingresses
        .iter()
        .filter_map(|ing| alb::derive_ingress(ing, objects, settings));
    services.chain(ingresses).collect()
}

#[cfg(test)]
mod tests;
