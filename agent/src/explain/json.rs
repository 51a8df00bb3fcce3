//! The JSON of `explain --output json`: a contract (design.md, "explain --output json"). Scripts
//! and tests depend on these names; the view structs below are the only place they are spelled.

use serde::Serialize;

use crate::explain::Explanation;
use crate::lb::Settings;
use crate::model::{Cloud, ProbePort, ProbeProtocol, RuleProtocol, ServiceResult, TargetKind};

#[derive(Debug, Serialize)]
pub struct ExplainJson {
    pub cloud: Cloud,
    pub settings: serde_json::Value,
    pub services: Vec<ServiceJson>,
}

#[derive(Debug, Serialize)]
pub struct ServiceJson {
    pub object: String,
    pub load_balancer: crate::model::LbKind,
    pub rules: Vec<RuleJson>,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RuleJson {
    pub port: i32,
    pub protocol: RuleProtocol,
    pub probe: Option<ProbeJson>,
}

#[derive(Debug, Serialize)]
pub struct ProbeJson {
    pub protocol: ProbeProtocol,
    pub port: ProbePort,
    pub path: Option<String>,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Option<String>,
    pub target: TargetKind,
}

impl ExplainJson {
    pub fn new(explanation: &Explanation) -> ExplainJson {
        ExplainJson {
            cloud: explanation.settings.cloud,
            settings: settings_json(&explanation.settings),
            services: explanation.results.iter().map(service_json).collect(),
        }
    }
}

/// The settings that shaped the derivation, by the names of their command-line flags.
pub fn settings_json(settings: &Settings) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert(
        "k8s_version".into(),
        settings.azure.version.to_string().into(),
    );
    match settings.cloud {
        Cloud::Azure => {
            let mode = match settings.azure.probe_mode {
                crate::lb::azure::ProbeMode::ServiceNodePort => "servicenodeport",
                crate::lb::azure::ProbeMode::Shared => "shared",
            };
            let sku = match settings.azure.sku {
                crate::lb::azure::Sku::Standard => "standard",
                crate::lb::azure::Sku::Basic => "basic",
            };
            map.insert("azure_probe_mode".into(), mode.into());
            map.insert("azure_sku".into(), sku.into());
        }
        Cloud::Aws => {
            let controller = match settings.aws.default_service_controller {
                crate::lb::aws::DefaultServiceController::Legacy => "legacy",
                crate::lb::aws::DefaultServiceController::LoadBalancerController => {
                    "load-balancer-controller"
                }
            };
            map.insert("aws_default_service_controller".into(), controller.into());
            map.insert(
                "aws_ingress_class".into(),
                settings.aws.ingress_class.clone().into(),
            );
            let legacy = match settings.aws.legacy_probe_mode {
                crate::lb::aws::LegacyProbeMode::ServiceNodePort => "servicenodeport",
                crate::lb::aws::LegacyProbeMode::Shared => "shared",
            };
            map.insert("aws_legacy_probe_mode".into(), legacy.into());
        }
    }
    serde_json::Value::Object(map)
}

pub fn service_json(result: &ServiceResult) -> ServiceJson {
    ServiceJson {
        object: result.object.to_string(),
        load_balancer: result.load_balancer,
        rules: result
            .rules
            .iter()
            .map(|rule| RuleJson {
                port: rule.port,
                protocol: rule.protocol,
                probe: rule.probe.as_ref().map(|p| ProbeJson {
                    protocol: p.protocol,
                    port: p.port,
                    path: p.path.clone(),
                    interval_s: p.interval_s,
                    timeout_s: p.timeout_s,
                    healthy_threshold: p.healthy_threshold,
                    unhealthy_threshold: p.unhealthy_threshold,
                    matcher: p.matcher.as_ref().map(ToString::to_string),
                    target: p.target,
                }),
            })
            .collect(),
        errors: result.errors.clone(),
        warnings: result.warnings.clone(),
    }
}
