//! Whatever the annotations say, the derivation neither panics nor lets a bad value through.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, IngressBackend, IngressRule, IngressServiceBackend,
    IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;

use super::*;
use crate::lb::aws::{DefaultServiceController, LegacyProbeMode};

const ALB_SUFFIXES: &[&str] = &[
    "target-type",
    "backend-protocol",
    "backend-protocol-version",
    "healthcheck-protocol",
    "healthcheck-port",
    "healthcheck-path",
    "healthcheck-interval-seconds",
    "healthcheck-timeout-seconds",
    "healthy-threshold-count",
    "unhealthy-threshold-count",
    "success-codes",
    "target-group-attributes",
    "actions.web",
];

const SERVICE_SUFFIXES: &[&str] = &[
    "aws-load-balancer-type",
    "aws-load-balancer-nlb-target-type",
    "aws-load-balancer-backend-protocol",
    "aws-load-balancer-healthcheck-protocol",
    "aws-load-balancer-healthcheck-port",
    "aws-load-balancer-healthcheck-path",
    "aws-load-balancer-healthcheck-interval",
    "aws-load-balancer-healthcheck-timeout",
    "aws-load-balancer-healthcheck-healthy-threshold",
    "aws-load-balancer-healthcheck-unhealthy-threshold",
    "aws-load-balancer-healthcheck-success-codes",
    "aws-load-balancer-target-group-attributes",
    "aws-load-balancer-target-group-attributes.80",
];

/// Values near the ones that matter, and anything at all.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "", "0", "1", "2", "5", "10", "300", "301", "3600", "65536", "-1", "+7", " 10",
            "ip", "instance", "nlb", "nlb-ip", "external", "HTTP", "https", "GRPC", "HTTP2",
            "TCP", "SSL", "traffic-port", "http", "status", "/", "/healthz", "200-399", "0-99",
            "12", "deregistration_delay.timeout_seconds=30", "=", "a=b,,c",
            "preserve_client_ip.enabled=maybe", "{\"type\":\"forward\"}",
            "{\"type\":\"forward\",\"forwardConfig\":{\"targetGroups\":[{\"serviceName\":\"web\",\"servicePort\":80}]}}",
        ])
        .prop_map(str::to_owned),
        ".{0,24}",
    ]
}

fn annotations(
    prefix: &'static str,
    suffixes: &'static [&'static str],
) -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::vec((prop::sample::select(suffixes), value()), 0..6).prop_map(move |pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect()
    })
}

fn meta(name: &str, annotations: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some("shop".to_owned()),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

#[derive(Clone, Debug)]
struct Shape {
    ty: &'static str,
    local: bool,
    node_ports: bool,
    named_target: bool,
    class: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::sample::select(vec!["LoadBalancer", "NodePort", "ClusterIP"]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(ty, local, node_ports, named_target, class)| Shape {
            ty,
            local,
            node_ports,
            named_target,
            class,
        })
}

fn web(shape: &Shape, annotations: BTreeMap<String, String>) -> Service {
    let port = |name: &str, port: i32, node: i32| ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(if shape.named_target {
            IntOrString::String(format!("{name}-port"))
        } else {
            IntOrString::Int(port + 8000)
        }),
        node_port: shape.node_ports.then_some(node),
        ..ServicePort::default()
    };
    Service {
        metadata: meta("web", annotations),
        spec: Some(ServiceSpec {
            type_: Some(shape.ty.to_owned()),
            external_traffic_policy: shape.local.then(|| "Local".to_owned()),
            health_check_node_port: (shape.local && shape.node_ports).then_some(32000),
            load_balancer_class: (shape.class && shape.ty == "LoadBalancer")
                .then(|| "service.k8s.aws/nlb".to_owned()),
            ports: Some(vec![port("http", 80, 30080), port("status", 15021, 30021)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn ingress(annotations: BTreeMap<String, String>, port: &str) -> Ingress {
    let backend_port = match port.parse::<i32>() {
        Ok(n) => ServiceBackendPort {
            number: Some(n),
            ..ServiceBackendPort::default()
        },
        Err(_) => ServiceBackendPort {
            name: Some(port.to_owned()),
            ..ServiceBackendPort::default()
        },
    };
    let mut annotations = annotations;
    annotations.insert("kubernetes.io/ingress.class".to_owned(), "alb".to_owned());
    Ingress {
        metadata: meta("shop", annotations),
        spec: Some(IngressSpec {
            rules: Some(vec![IngressRule {
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".to_owned()),
                        path_type: "Prefix".to_owned(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: "web".to_owned(),
                                port: Some(backend_port),
                            }),
                            ..IngressBackend::default()
                        },
                    }],
                }),
                ..IngressRule::default()
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

fn settings() -> impl Strategy<Value = AwsSettings> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(lbc, shared, tolerate, only_lb)| AwsSettings {
            default_service_controller: if lbc {
                DefaultServiceController::LoadBalancerController
            } else {
                DefaultServiceController::Legacy
            },
            legacy_probe_mode: if shared {
                LegacyProbeMode::Shared
            } else {
                LegacyProbeMode::ServiceNodePort
            },
            tolerate_missing_backend_service: tolerate,
            tolerate_missing_backend_action: tolerate,
            lbc_service_type_load_balancer_only: only_lb,
            ..AwsSettings::default()
        },
    )
}

/// The ranges every accepted probe must respect, whatever produced it.
fn assert_within_aws_limits(result: &ServiceResult) {
    if !result.errors.is_empty() {
        assert!(
            result.rules.is_empty(),
            "a rejected object keeps rules: {result:#?}"
        );
        return;
    }
    for probe in result.rules.iter().filter_map(|r| r.probe.as_ref()) {
        assert!((5..=300).contains(&probe.interval_s), "{probe:#?}");
        assert!((2..=120).contains(&probe.timeout_s), "{probe:#?}");
        assert!((2..=10).contains(&probe.healthy_threshold), "{probe:#?}");
        assert!((2..=10).contains(&probe.unhealthy_threshold), "{probe:#?}");
        assert!(
            probe.deregistration_delay_s.is_none_or(|d| d <= 3600),
            "{probe:#?}"
        );
        assert_eq!(
            probe.path.is_some(),
            probe.protocol.is_http_like(),
            "{probe:#?}"
        );
        assert!(
            probe.path.as_deref().is_none_or(|p| p.starts_with('/')),
            "{probe:#?}"
        );
        if let ProbePort::Number(n) = probe.port {
            assert!(n > 0, "{probe:#?}");
        }
    }
}

proptest! {
    #[test]
    fn derive_never_panics_and_never_accepts_what_aws_refuses(
        ing_annotations in annotations("alb.ingress.kubernetes.io/", ALB_SUFFIXES),
        svc_alb in annotations("alb.ingress.kubernetes.io/", ALB_SUFFIXES),
        svc_annotations in annotations("service.beta.kubernetes.io/", SERVICE_SUFFIXES),
        shape in shape(),
        backend_port in prop::sample::select(vec!["80", "http", "status", "9999", "use-annotation"]),
        settings in settings(),
    ) {
        let mut all = svc_alb;
        all.extend(svc_annotations);
        let objects = Objects {
            services: vec![web(&shape, all)],
            ingresses: vec![ingress(ing_annotations, backend_port)],
            ingress_classes: Vec::new(),
        };
        for result in derive(&objects, &settings) {
            assert_within_aws_limits(&result);
        }
    }
}
