//! Telling the cloud from the objects when the user does not name it.

use std::collections::BTreeMap;

use crate::lb::Objects;
use crate::model::Cloud;

const AZURE_PREFIXES: &[&str] = &[
    "service.beta.kubernetes.io/azure-",
    "service.beta.kubernetes.io/port_",
];
const AWS_PREFIXES: &[&str] = &[
    "service.beta.kubernetes.io/aws-load-balancer-",
    "alb.ingress.kubernetes.io/",
];
const AWS_LOAD_BALANCER_CLASS: &str = "service.k8s.aws/nlb";

/// The cloud the objects are written for, and why it was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inferred {
    pub cloud: Cloud,
    pub reason: String,
}

/// Infers the cloud from annotations and classes. `Err` when the objects carry the marks of both
/// clouds; with no marks at all the answer is Azure, the cloud whose probes every Service of type
/// LoadBalancer gets without any annotation.
pub fn infer(objects: &Objects) -> Result<Inferred, String> {
    let mut azure = None;
    let mut aws = None;
    for svc in &objects.services {
        let what = crate::model::ObjectRef::from_meta("Service", &svc.metadata).to_string();
        look(
            &what,
            svc.metadata.annotations.as_ref(),
            &mut azure,
            &mut aws,
        );
        let class = svc
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_class.as_deref());
        if aws.is_none() && class == Some(AWS_LOAD_BALANCER_CLASS) {
            aws = Some(format!(
                "{what} has loadBalancerClass {AWS_LOAD_BALANCER_CLASS}"
            ));
        }
    }
    for ing in &objects.ingresses {
        let what = crate::model::ObjectRef::from_meta("Ingress", &ing.metadata).to_string();
        look(
            &what,
            ing.metadata.annotations.as_ref(),
            &mut azure,
            &mut aws,
        );
    }
    for class in &objects.ingress_classes {
        let controller = class.spec.as_ref().and_then(|s| s.controller.as_deref());
        if aws.is_none() && controller == Some("ingress.k8s.aws/alb") {
            let name = class.metadata.name.as_deref().unwrap_or("");
            aws = Some(format!(
                "IngressClass/{name} has controller ingress.k8s.aws/alb"
            ));
        }
    }
    match (azure, aws) {
        (Some(a), Some(b)) => Err(format!(
            "the objects are written for both clouds ({a}; {b}): pass --cloud azure or --cloud aws"
        )),
        (None, Some(reason)) => Ok(Inferred {
            cloud: Cloud::Aws,
            reason,
        }),
        (Some(reason), None) => Ok(Inferred {
            cloud: Cloud::Azure,
            reason,
        }),
        (None, None) => Ok(Inferred {
            cloud: Cloud::Azure,
            reason: "no cloud-specific annotations; pass --cloud aws for AWS".to_owned(),
        }),
    }
}

/// Records the first annotation of `what` that marks each cloud.
fn look(
    what: &str,
    annotations: Option<&BTreeMap<String, String>>,
    azure: &mut Option<String>,
    aws: &mut Option<String>,
) {
    for key in annotations.into_iter().flat_map(BTreeMap::keys) {
        for (found, prefixes) in [(&mut *azure, AZURE_PREFIXES), (&mut *aws, AWS_PREFIXES)] {
            if found.is_none() && prefixes.iter().any(|p| key.starts_with(p)) {
                *found = Some(format!("{what} has annotation {key}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_str;

    fn infer_text(text: &str) -> Result<Cloud, String> {
        let loaded = parse_str("t.yaml", text).map_err(|e| e.to_string())?;
        infer(&loaded.objects).map(|i| i.cloud)
    }

    fn svc(annotations: &str, extra_spec: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: s, annotations: {{{annotations}}}}}\n\
             spec: {{type: LoadBalancer, ports: [{{port: 80}}]{extra_spec}}}\n"
        )
    }

    #[test]
    fn annotations_classes_and_ingress_classes_tell_the_cloud() {
        let azure = svc(
            "service.beta.kubernetes.io/azure-load-balancer-internal: 'true'",
            "",
        );
        assert_eq!(infer_text(&azure), Ok(Cloud::Azure));
        let per_port = svc(
            "service.beta.kubernetes.io/port_80_no_probe_rule: 'true'",
            "",
        );
        assert_eq!(infer_text(&per_port), Ok(Cloud::Azure));
        let aws = svc(
            "service.beta.kubernetes.io/aws-load-balancer-type: external",
            "",
        );
        assert_eq!(infer_text(&aws), Ok(Cloud::Aws));
        let class = svc("", ", loadBalancerClass: service.k8s.aws/nlb");
        assert_eq!(infer_text(&class), Ok(Cloud::Aws));
        let ingress_class = "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: alb}\nspec: {controller: ingress.k8s.aws/alb}\n";
        assert_eq!(infer_text(ingress_class), Ok(Cloud::Aws));
        assert_eq!(infer_text(&svc("", "")), Ok(Cloud::Azure));
    }

    #[test]
    fn marks_of_both_clouds_ask_for_the_flag() {
        let both = svc(
            "service.beta.kubernetes.io/azure-load-balancer-internal: 'true', \
             service.beta.kubernetes.io/aws-load-balancer-type: nlb",
            "",
        );
        let err = infer_text(&both).unwrap_err();
        assert!(err.contains("--cloud"), "{err}");
    }
}
