//! Which controller owns a Service, and the order of results.

use super::*;
use crate::lb::aws::{
    DefaultServiceController, LBC_LOAD_BALANCER_CLASS, ServiceOwner, service_owner,
};

fn lbc_default() -> AwsSettings {
    AwsSettings {
        default_service_controller: DefaultServiceController::LoadBalancerController,
        ..AwsSettings::default()
    }
}

fn svc(yaml: &str) -> Service {
    let mut objects = objects(yaml);
    objects.services.remove(0)
}

#[test]
fn each_service_goes_to_the_controller_that_would_claim_it() {
    use ServiceOwner::*;
    const LB: &str = "type: LoadBalancer";
    let class = format!("type: LoadBalancer\nloadBalancerClass: {LBC_LOAD_BALANCER_CLASS}");
    let ty = "service.beta.kubernetes.io/aws-load-balancer-type";
    let tt = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type";
    // (what, annotations, spec, owner with the legacy default, owner with the LBC's webhook)
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        Option<ServiceOwner>,
        Option<ServiceOwner>,
    );
    let cases: &[Case<'_>] = &[
        (
            "plain LoadBalancer",
            &[],
            LB,
            Some(Legacy),
            Some(LoadBalancerController),
        ),
        (
            "legacy nlb",
            &[(ty, "nlb")],
            LB,
            Some(Legacy),
            Some(LoadBalancerController),
        ),
        (
            "external + ip",
            &[(ty, "external"), (tt, "ip")],
            LB,
            Some(LoadBalancerController),
            Some(LoadBalancerController),
        ),
        (
            "external + instance",
            &[(ty, "external"), (tt, "instance")],
            LB,
            Some(LoadBalancerController),
            Some(LoadBalancerController),
        ),
        (
            "external alone",
            &[(ty, "external")],
            LB,
            Some(Nobody),
            Some(LoadBalancerController),
        ),
        (
            "external + bogus target",
            &[(ty, "external"), (tt, "pod")],
            LB,
            Some(Nobody),
            Some(LoadBalancerController),
        ),
        (
            "nlb-ip",
            &[(ty, "nlb-ip")],
            LB,
            Some(LoadBalancerController),
            Some(LoadBalancerController),
        ),
        (
            "LBC class",
            &[],
            &class,
            Some(LoadBalancerController),
            Some(LoadBalancerController),
        ),
        (
            "other class",
            &[],
            "type: LoadBalancer\nloadBalancerClass: example.com/lb",
            None,
            None,
        ),
        (
            "other class beats annotations",
            &[(ty, "nlb-ip")],
            "type: LoadBalancer\nloadBalancerClass: example.com/lb",
            None,
            None,
        ),
        ("ClusterIP", &[], "type: ClusterIP", None, None),
        ("no type at all", &[], "", None, None),
        (
            "ClusterIP annotated for the LBC",
            &[(ty, "external"), (tt, "ip")],
            "type: ClusterIP",
            Some(LoadBalancerController),
            Some(LoadBalancerController),
        ),
        (
            "NodePort nlb-ip",
            &[(ty, "nlb-ip")],
            "type: NodePort",
            Some(LoadBalancerController),
            Some(LoadBalancerController),
        ),
        (
            "NodePort legacy nlb",
            &[(ty, "nlb")],
            "type: NodePort",
            None,
            None,
        ),
    ];
    for (what, annotations, spec, legacy, webhook) in cases {
        let s = svc(&service("web", annotations, spec, &["http:80:8080:30080"]));
        assert_eq!(
            service_owner(&s, &AwsSettings::default()),
            *legacy,
            "{what}, legacy default"
        );
        assert_eq!(
            service_owner(&s, &lbc_default()),
            *webhook,
            "{what}, LBC default"
        );
    }
}

#[test]
fn the_service_type_load_balancer_only_gate_drops_annotated_cluster_ip_services() {
    let settings = AwsSettings {
        lbc_service_type_load_balancer_only: true,
        ..AwsSettings::default()
    };
    let annotations = [
        (
            "service.beta.kubernetes.io/aws-load-balancer-type",
            "external",
        ),
        (
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
            "ip",
        ),
    ];
    let cluster_ip = svc(&service(
        "web",
        &annotations,
        "type: ClusterIP",
        &["http:80:8080:-"],
    ));
    assert_eq!(service_owner(&cluster_ip, &settings), None);
    let lb = svc(&service(
        "web",
        &annotations,
        "type: LoadBalancer",
        &["http:80:8080:-"],
    ));
    assert_eq!(
        service_owner(&lb, &settings),
        Some(ServiceOwner::LoadBalancerController)
    );
}

#[test]
fn external_without_target_type_is_reported_as_provisioned_by_nobody() {
    let result = only(&service(
        "web",
        &[(
            "service.beta.kubernetes.io/aws-load-balancer-type",
            "external",
        )],
        "type: LoadBalancer",
        &["http:80:8080:30080"],
    ));
    assert_eq!(result.load_balancer, LbKind::Nlb);
    assert_rejected(
        &result,
        &[
            "Service/shop/web",
            "aws-load-balancer-nlb-target-type",
            "no load balancer",
        ],
    );
}

#[test]
fn results_come_services_first_then_ingresses_each_in_input_order() {
    let yaml = format!(
        "{}---\n{}---\n{}---\n{}---\n{}",
        ingress_yaml("b-ing", "api"),
        service("z-svc", &[], "type: LoadBalancer", &["http:80:8080:30080"]),
        ingress_yaml("a-ing", "api"),
        service("api", &[], "type: NodePort", &["http:80:8080:30081"]),
        service("a-svc", &[], "type: LoadBalancer", &["http:80:8080:30082"]),
    );
    let names: Vec<String> = derive_with(&yaml, &AwsSettings::default())
        .iter()
        .map(|r| r.object.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "Service/shop/z-svc",
            "Service/shop/a-svc",
            "Ingress/shop/b-ing",
            "Ingress/shop/a-ing"
        ]
    );
}

#[test]
fn kinds_follow_the_owner_clb_for_plain_legacy_nlb_for_the_rest() {
    let ty = "service.beta.kubernetes.io/aws-load-balancer-type";
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a AwsSettings, LbKind);
    let cases: &[Case<'_>] = &[
        (&[], &AwsSettings::default(), LbKind::Clb),
        (&[(ty, "nlb")], &AwsSettings::default(), LbKind::Nlb),
        (&[(ty, "clb")], &AwsSettings::default(), LbKind::Clb),
        (&[(ty, "nlb-ip")], &AwsSettings::default(), LbKind::Nlb),
    ];
    for (annotations, settings, kind) in cases {
        let result = only_with(
            &service(
                "web",
                annotations,
                "type: LoadBalancer",
                &["http:80:8080:30080"],
            ),
            settings,
        );
        assert_eq!(result.load_balancer, *kind, "{annotations:?}");
    }
    let result = only_with(
        &service("web", &[], "type: LoadBalancer", &["http:80:8080:30080"]),
        &lbc_default(),
    );
    assert_eq!(result.load_balancer, LbKind::Nlb);
}

fn ingress_yaml(name: &str, backend: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations:\n    kubernetes.io/ingress.class: alb\nspec:\n  defaultBackend:\n    service:\n      name: {backend}\n      port:\n        number: 80\n"
    )
}
