//! How the AWS Load Balancer Controller and the legacy in-tree provider turn Ingresses and
//! Services into ALB, NLB and CLB target groups (spec/aws-elb.md section 4).

use crate::lb::Objects;
use crate::model::ServiceResult;

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

#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    pub default_service_controller: DefaultServiceController,
}

/// The target groups of every Ingress and Service handled by an AWS controller, in input order.
pub fn derive(_objects: &Objects, _settings: &AwsSettings) -> Vec<ServiceResult> {
    Vec::new()
}
