//! Which Ingresses the AWS Load Balancer Controller owns: annotation, IngressClass, default class.

use super::alb::{ingress, web};
use super::*;

#[test]
fn ingress_classes_decide_which_ingresses_the_controller_owns() {
    let class = |name: &str, controller: &str, default: bool| {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: {name}\n  annotations:\n    ingressclass.kubernetes.io/is-default-class: \"{default}\"\nspec:\n  controller: {controller}\n"
        )
    };
    let alb_class = class("alb-public", "ingress.k8s.aws/alb", false);
    let nginx_class = class("nginx", "k8s.io/ingress-nginx", false);
    let default_alb = class("alb-default", "ingress.k8s.aws/alb", true);
    let default_nginx = class("nginx-default", "k8s.io/ingress-nginx", true);
    // (what, class annotation, spec.ingressClassName, IngressClasses, owned, warning fragment)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        String,
        bool,
        Option<&'a str>,
    );
    let cases: &[Case<'_>] = &[
        (
            "annotation alb",
            Some("alb"),
            None,
            String::new(),
            true,
            None,
        ),
        (
            "annotation nginx",
            Some("nginx"),
            None,
            String::new(),
            false,
            None,
        ),
        (
            "class with the ALB controller",
            None,
            Some("alb-public"),
            alb_class.clone(),
            true,
            None,
        ),
        (
            "class with another controller",
            None,
            Some("nginx"),
            nginx_class.clone(),
            false,
            None,
        ),
        (
            "absent class named alb",
            None,
            Some("alb"),
            String::new(),
            true,
            Some("Helm chart"),
        ),
        (
            "absent class of another name",
            None,
            Some("traefik"),
            String::new(),
            false,
            None,
        ),
        (
            "no class, ALB default class",
            None,
            None,
            default_alb.clone(),
            true,
            None,
        ),
        (
            "no class, nginx default class",
            None,
            None,
            default_nginx.clone(),
            false,
            None,
        ),
        (
            "no class, two disagreeing defaults",
            None,
            None,
            format!("{default_alb}{default_nginx}"),
            false,
            None,
        ),
        (
            "no class, no default",
            None,
            None,
            alb_class.clone(),
            false,
            None,
        ),
        (
            "annotation beats class",
            Some("alb"),
            Some("nginx"),
            nginx_class.clone(),
            true,
            Some("disagree"),
        ),
        (
            "annotation beats class the other way",
            Some("nginx"),
            Some("alb-public"),
            alb_class.clone(),
            false,
            None,
        ),
    ];
    for (what, annotation, class_name, classes, owned, warning) in cases {
        let mut yaml = ingress("shop", &[], &["web:80"]);
        yaml = match annotation {
            Some(a) => yaml.replace("ingress.class: alb", &format!("ingress.class: {a}")),
            None => yaml.replace("    kubernetes.io/ingress.class: alb\n", ""),
        };
        if let Some(name) = class_name {
            yaml = yaml.replace("spec:\n", &format!("spec:\n  ingressClassName: {name}\n"));
        }
        let yaml = format!("{yaml}---\n{}{classes}", web(&[]));
        let results = derive_with(&yaml, &AwsSettings::default());
        assert_eq!(results.len(), usize::from(*owned), "{what}: {results:#?}");
        if let (Some(result), Some(fragment)) = (results.first(), warning) {
            assert_warned(result, &[fragment]);
        }
    }
}

#[test]
fn a_custom_ingress_class_flag_changes_which_annotation_value_is_owned() {
    let settings = AwsSettings {
        ingress_class: "internal".to_owned(),
        ..AwsSettings::default()
    };
    let yaml = format!("{}---\n{}", ingress("shop", &[], &["web:80"]), web(&[]));
    assert!(
        derive_with(&yaml, &settings).is_empty(),
        "alb is no longer ours"
    );
    let internal = yaml.replace("ingress.class: alb", "ingress.class: internal");
    assert_eq!(derive_with(&internal, &settings).len(), 1);
    let empty = AwsSettings {
        ingress_class: String::new(),
        ..AwsSettings::default()
    };
    assert_eq!(
        derive_with(&yaml, &empty).len(),
        1,
        "an empty flag owns alb"
    );
}
