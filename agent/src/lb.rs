//! The clouds' load-balancer semantics, pure: objects in, probe specs, errors and verdicts out.
//!
//! - [`azure`]: how cloud-provider-azure turns a Service into LB rules and probes.
//! - [`aws`]: how the AWS Load Balancer Controller and the legacy provider turn Ingresses and
//!   Services into ALB, NLB and CLB target groups.
//! - [`matcher`]: AWS success-code matchers.
//! - [`outcome`], [`verdict`]: what one probe saw, and whether the LB counts it as a success.
//! - [`health`]: the LB state machines that turn verdicts into up/down transitions.

pub mod annotations;
pub mod aws;
pub mod azure;
pub mod health;
pub mod manual;
pub mod matcher;
pub mod outcome;
pub mod verdict;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use crate::model::{Cloud, ServiceResult};

/// The Kubernetes objects that decide what a cloud LB probes.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub services: Vec<Service>,
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
}

/// Everything about the cluster that the objects do not say but the derivation depends on.
#[derive(Clone, Debug)]
pub struct Settings {
    pub cloud: Cloud,
    pub azure: azure::AzureSettings,
    pub aws: aws::AwsSettings,
}

/// What the cloud's controllers would configure for these objects, in input order.
pub fn derive(objects: &Objects, settings: &Settings) -> Vec<ServiceResult> {
    match settings.cloud {
        Cloud::Azure => objects
            .services
            .iter()
            .filter_map(|svc| azure::derive_service(svc, &settings.azure))
            .collect(),
        Cloud::Aws => aws::derive(objects, &settings.aws),
    }
}
