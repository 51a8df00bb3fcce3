use std::str::FromStr;

use k8s_openapi::api::core::v1::Node;
use serde_json::json;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use super::*;
use crate::discovery::sources::SourcePolicy;
use crate::lb::aws::AwsSettings;
use crate::lb::azure::AzureSettings;
use crate::lb::azure::version::CpaVersion;
use crate::model::{Cloud, LbKind};

const NODE: &str = "n1";

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("valid object")
}

fn settings(cloud: Cloud, version: &str, what_if: &[&str]) -> PlanSettings {
    let derive = |v: &str| Settings {
        cloud,
        azure: AzureSettings {
            version: CpaVersion::from_str(v).expect("version"),
            ..AzureSettings::default()
        },
        aws: AwsSettings::default(),
    };
    PlanSettings {
        node: NODE.into(),
        current: (
            SpecVersion {
                version: version.into(),
                what_if: false,
            },
            derive(version),
        ),
        what_if: what_if
            .iter()
            .map(|v| {
                (
                    SpecVersion {
                        version: (*v).into(),
                        what_if: true,
                    },
                    derive(v),
                )
            })
            .collect(),
        sources: SourceChoice::default(),
    }
}

fn node() -> Node {
    object(json!({"metadata": {"name": NODE}, "status": {"addresses": [
        {"type": "InternalIP", "address": "10.224.0.4"}, {"type": "Hostname", "address": NODE}]}}))
}

fn nginx_service(annotations: serde_json::Value) -> Service {
    object(
        json!({"metadata": {"name": "nginx", "namespace": "ingress", "annotations": annotations},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"],
            "selector": {"app": "nginx"},
            "ports": [{"name": "http", "appProtocol": "http", "port": 80, "targetPort": "http", "nodePort": 32271}]}}),
    )
}

/// A slice of the Service with one endpoint per (address, node, ready, terminating).
fn slice(
    service: &str,
    namespace: &str,
    port_name: &str,
    port: i32,
    endpoints: &[(&str, &str, bool, bool)],
) -> EndpointSlice {
    object(json!({
        "metadata": {"name": format!("{service}-abc"), "namespace": namespace,
            "labels": {SERVICE_NAME_LABEL: service}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port}],
        "endpoints": endpoints.iter().map(|(ip, node, ready, terminating)| json!({
            "addresses": [ip], "nodeName": node,
            "conditions": {"ready": ready, "serving": *ready || *terminating, "terminating": terminating},
            "targetRef": {"kind": "Pod", "name": format!("pod-{ip}"), "namespace": namespace}})).collect::<Vec<_>>(),
    }))
}

fn snapshot(services: Vec<Service>, slices: Vec<EndpointSlice>) -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.nodes.insert(NODE.into(), node());
    for s in services {
        snapshot.services.insert(key_of(&s.metadata), s);
    }
    for s in slices {
        snapshot.slices.insert(key_of(&s.metadata), s);
    }
    snapshot
}

fn keys(plan: &Plan, hop: Hop) -> Vec<String> {
    plan.backends
        .values()
        .filter(|d| d.key.hop == hop)
        .map(|d| {
            format!(
                "{} {}{}",
                d.key.target,
                d.key.version.version,
                if d.key.version.what_if { "?" } else { "" }
            )
        })
        .collect()
}

#[test]
fn an_azure_service_is_probed_on_the_nodes_address_with_its_hops_behind() {
    let snapshot = snapshot(
        vec![nginx_service(json!({}))],
        vec![slice(
            "nginx",
            "ingress",
            "http",
            80,
            &[
                ("10.244.0.2", NODE, true, false),
                ("10.244.1.2", "n2", true, false),
            ],
        )],
    );
    let plan = plan(&snapshot, &settings(Cloud::Azure, "1.23", &[]));
    assert_eq!(keys(&plan, Hop::Lb), ["10.224.0.4:32271 1.23"]);
    // Only this node's endpoint, at the slice's numeric port.
    assert_eq!(keys(&plan, Hop::Pod), ["10.244.0.2:80 1.23"]);
    assert_eq!(keys(&plan, Hop::ClusterIp), ["10.0.0.7:80 1.23"]);
    assert_eq!(keys(&plan, Hop::NodePort), ["10.224.0.4:32271 1.23"]);
    let hop = plan
        .backends
        .values()
        .find(|d| d.key.hop == Hop::Pod)
        .expect("pod hop");
    assert_eq!(hop.spec.protocol, ProbeProtocol::Tcp);
    assert_eq!(hop.key.pod.as_deref(), Some("ingress/pod-10.244.0.2"));
    assert_eq!(
        plan.endpoints,
        [EndpointCount {
            service: ObjectRef::new("Service", "ingress", "nginx"),
            ready: 2,
            total: 2,
            selector: "app=nginx".into()
        }]
    );
}

#[test]
fn a_what_if_version_is_probed_only_where_its_probe_differs() {
    let snapshot = snapshot(vec![nginx_service(json!({}))], Vec::new());
    let before = plan(&snapshot, &settings(Cloud::Azure, "1.23", &["1.24"]));
    assert_eq!(
        keys(&before, Hop::Lb),
        ["10.224.0.4:32271 1.23", "10.224.0.4:32271 1.24?"]
    );
    let what_if = before
        .backends
        .values()
        .find(|d| d.key.version.what_if)
        .expect("what-if");
    assert_eq!(
        (what_if.spec.protocol, what_if.spec.path.as_deref()),
        (ProbeProtocol::Http, Some("/"))
    );

    let after = plan(
        &snapshot_with_path(),
        &settings(Cloud::Azure, "1.23", &["1.24"]),
    );
    assert_eq!(keys(&after, Hop::Lb), ["10.224.0.4:32271 1.23"]);
    let current = after
        .backends
        .values()
        .find(|d| d.key.hop == Hop::Lb)
        .expect("current");
    assert_eq!(current.also_for, ["1.24"]);
}

fn snapshot_with_path() -> Snapshot {
    snapshot(
        vec![nginx_service(json!({
            "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz"}))],
        Vec::new(),
    )
}

#[test]
fn a_service_without_an_allocated_node_port_is_a_warning_not_a_target() {
    let mut service = nginx_service(json!({}));
    if let Some(port) = service
        .spec
        .as_mut()
        .and_then(|s| s.ports.as_mut())
        .and_then(|p| p.first_mut())
    {
        port.node_port = None;
    }
    let plan = plan(
        &snapshot(vec![service], Vec::new()),
        &settings(Cloud::Azure, "1.23", &[]),
    );
    assert!(keys(&plan, Hop::Lb).is_empty());
    assert!(
        plan.warnings.iter().any(|w| w.contains("nodePort")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn alb_ip_targets_are_this_nodes_endpoints_registered_while_ready_and_not_terminating() {
    let service: Service = object(json!({"metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.9", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}));
    let ingress: Ingress = object(
        json!({"metadata": {"name": "web", "namespace": "shop", "annotations": {
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/healthcheck-path": "/healthz/ready"}},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
    );
    let class: IngressClass =
        object(json!({"metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.aws/alb"}}));
    let mut snapshot = snapshot(
        vec![service],
        vec![slice(
            "web",
            "shop",
            "http",
            8080,
            &[
                ("10.244.0.5", NODE, true, false),
                ("10.244.0.6", NODE, false, false),
                ("10.244.0.7", NODE, false, true),
                ("10.244.1.5", "n2", true, false),
            ],
        )],
    );
    snapshot.ingresses.insert("shop/web".into(), ingress);
    snapshot.ingress_classes.insert("alb".into(), class);
    let plan = plan(&snapshot, &settings(Cloud::Aws, "1.23", &[]));
    let lb: Vec<(String, bool)> = plan
        .backends
        .values()
        .filter(|d| d.key.hop == Hop::Lb)
        .map(|d| (d.key.target.to_string(), d.registered))
        .collect();
    assert_eq!(
        lb,
        [
            ("10.244.0.5:8080".into(), true),
            ("10.244.0.6:8080".into(), false),
            ("10.244.0.7:8080".into(), false)
        ]
    );
    let spec = &plan
        .backends
        .values()
        .find(|d| d.key.hop == Hop::Lb)
        .expect("one")
        .spec;
    assert_eq!(
        (spec.lb, spec.target, spec.path.as_deref()),
        (LbKind::Alb, TargetKind::Pod, Some("/healthz/ready"))
    );
}

/// The LB backends' (target, source) of a plan.
fn lb_sources(plan: &Plan) -> Vec<(String, SourceMode)> {
    plan.backends
        .values()
        .filter(|d| d.key.hop == Hop::Lb && !d.key.version.what_if)
        .map(|d| (d.key.target.to_string(), d.key.source))
        .collect()
}

#[test]
fn the_source_annotation_probes_a_services_port_from_each_source_it_names_and_hops_stay_on_the_node()
 {
    let mut settings = settings(Cloud::Azure, "1.23", &[]);
    settings.sources = SourceChoice {
        policy: SourcePolicy::uniform(SourceMode::Node),
        available: vec![SourceMode::Node, SourceMode::LbSource],
    };
    let cases = [
        (json!({}), vec![SourceMode::Node]),
        (
            json!({SOURCE_ANNOTATION: "node+lb-source"}),
            vec![SourceMode::Node, SourceMode::LbSource],
        ),
        (
            json!({SOURCE_ANNOTATION: "http=lb-source"}),
            vec![SourceMode::LbSource],
        ),
        (
            json!({SOURCE_ANNOTATION: "443=lb-source"}),
            vec![SourceMode::Node],
        ),
    ];
    for (annotations, want) in cases {
        let plan = plan(
            &snapshot(vec![nginx_service(annotations.clone())], vec![]),
            &settings,
        );
        let want: Vec<(String, SourceMode)> = want
            .into_iter()
            .map(|m| ("10.224.0.4:32271".to_owned(), m))
            .collect();
        assert_eq!(lb_sources(&plan), want, "{annotations}");
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        assert!(
            plan.backends
                .values()
                .filter(|d| d.key.hop != Hop::Lb)
                .all(|d| d.key.source == SourceMode::Node)
        );
    }
}

#[test]
fn a_bad_source_annotation_is_a_warning_naming_the_object_and_the_agents_source_is_used() {
    let mut settings = settings(Cloud::Azure, "1.23", &[]);
    settings.sources = SourceChoice::uniform(SourceMode::LbSource);
    let service = nginx_service(json!({SOURCE_ANNOTATION: "lb-sorce"}));
    let plan = plan(&snapshot(vec![service], vec![]), &settings);
    assert_eq!(
        lb_sources(&plan),
        vec![("10.224.0.4:32271".to_owned(), SourceMode::LbSource)]
    );
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    let warning = &plan.warnings[0];
    assert!(
        warning.contains("ingress/nginx")
            && warning.contains(SOURCE_ANNOTATION)
            && warning.contains("lb-sorce"),
        "{warning}"
    );
}
