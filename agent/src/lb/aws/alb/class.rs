//! Whether an Ingress belongs to the AWS Load Balancer Controller, as its group loader decides.

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use super::{DEFAULT_INGRESS_CLASS, INGRESS_CLASS_CONTROLLER};
use crate::lb::annotations::Annotations;
use crate::lb::aws::AwsSettings;
use crate::model::ObjectRef;

/// The annotation that names an Ingress's class (older than `spec.ingressClassName`).
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Marks the IngressClass that Kubernetes assigns to new Ingresses naming none.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// The verdict, with a warning when it rests on an assumption or a conflict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Verdict {
    pub alb: bool,
    pub warning: Option<String>,
}

/// The annotation decides when present (a conflicting `spec.ingressClassName` only earns a
/// warning); otherwise the named IngressClass's controller; otherwise the cluster's default
/// IngressClass, which Kubernetes writes into the Ingress when it is created.
pub(super) fn classify(ing: &Ingress, classes: &[IngressClass], settings: &AwsSettings) -> Verdict {
    let object = ObjectRef::from_meta("Ingress", &ing.metadata);
    let by_annotation = Annotations::of(&ing.metadata)
        .get(INGRESS_CLASS_ANNOTATION)
        .map(|value| annotation_matches(value, &settings.ingress_class));
    let class_name = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref());
    let by_name = class_name.map(|name| match find(classes, name) {
        Some(class) => (is_alb_class(class), None),
        // The controller's Helm chart installs an IngressClass of its own class name.
        None if name == settings.ingress_class || name == DEFAULT_INGRESS_CLASS => (
            true,
            Some(format!(
                "{object}: IngressClass {name:?} is not among the objects: assuming the one the \
                 AWS Load Balancer Controller's Helm chart installs (controller \
                 {INGRESS_CLASS_CONTROLLER})"
            )),
        ),
        None => (false, None),
    });
    match (by_annotation, by_name) {
        (Some(alb), Some((by_class, _))) => Verdict {
            alb,
            warning: (alb != by_class).then(|| {
                format!(
                    "{object}: annotation {INGRESS_CLASS_ANNOTATION} and spec.ingressClassName \
                     disagree; the AWS Load Balancer Controller follows the annotation"
                )
            }),
        },
        (Some(alb), None) => Verdict { alb, warning: None },
        (None, Some((alb, warning))) => Verdict { alb, warning },
        (None, None) => Verdict {
            alb: default_class_is_alb(classes),
            warning: None,
        },
    }
}

/// LBC's annotation matcher: its configured class, or `alb` when it is configured with none.
fn annotation_matches(value: &str, ingress_class: &str) -> bool {
    value == ingress_class || (ingress_class.is_empty() && value == DEFAULT_INGRESS_CLASS)
}

fn find<'a>(classes: &'a [IngressClass], name: &str) -> Option<&'a IngressClass> {
    classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
}

fn is_alb_class(class: &IngressClass) -> bool {
    class.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(INGRESS_CLASS_CONTROLLER)
}

/// Whether the default IngressClass (there may be several; they must agree) is the ALB's.
fn default_class_is_alb(classes: &[IngressClass]) -> bool {
    let mut defaults = classes
        .iter()
        .filter(|c| Annotations::of(&c.metadata).is_true(DEFAULT_CLASS_ANNOTATION))
        .peekable();
    defaults.peek().is_some() && defaults.all(is_alb_class)
}
