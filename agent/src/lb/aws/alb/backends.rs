//! The Services an ALB Ingress forwards to: `spec.defaultBackend`, every path's backend, and the
//! forward actions of `use-annotation` backends (`alb.ingress.kubernetes.io/actions.NAME`).

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use serde_json::Value;

use super::ALB_PREFIX;
use crate::lb::annotations::Annotations;
use crate::lb::aws::AwsSettings;
use crate::lb::aws::ports::PortRef;
use crate::lb::aws::values::Findings;
use crate::model::ObjectRef;

/// The port name that sends the controller to the `actions.NAME` annotation.
const USE_ANNOTATION: &str = "use-annotation";

/// One Service port an Ingress forwards to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Backend {
    pub service: String,
    pub port: PortRef,
    /// Whether it is the only Service of its action: the controller then tolerates that the
    /// Service does not exist (a fixed 503 answer) instead of failing the Ingress.
    pub sole: bool,
}

/// Every backend in order of appearance: the default backend, then the rules' paths.
pub(super) fn collect(
    ing: &Ingress,
    object: &ObjectRef,
    settings: &AwsSettings,
    findings: &mut Findings,
) -> Vec<Backend> {
    let Some(spec) = ing.spec.as_ref() else {
        return Vec::new();
    };
    let paths = spec
        .rules
        .iter()
        .flatten()
        .filter_map(|rule| rule.http.as_ref())
        .flat_map(|http| http.paths.iter().map(|p| &p.backend));
    let mut backends = Vec::new();
    for backend in spec.default_backend.iter().chain(paths) {
        backends.extend(from_backend(ing, object, backend, settings, findings));
    }
    backends
}

fn from_backend(
    ing: &Ingress,
    object: &ObjectRef,
    backend: &IngressBackend,
    settings: &AwsSettings,
    findings: &mut Findings,
) -> Vec<Backend> {
    let Some(service) = backend.service.as_ref() else {
        findings.error(format!(
            "{object}: a backend names a resource, not a service: the AWS Load Balancer \
             Controller only forwards to Services"
        ));
        return Vec::new();
    };
    let port = service.port.as_ref();
    match port
        .and_then(|p| p.name.as_deref())
        .filter(|n| !n.is_empty())
    {
        Some(USE_ANNOTATION) => from_action(ing, object, &service.name, settings, findings),
        Some(name) => vec![Backend {
            service: service.name.clone(),
            port: PortRef::Name(name.to_owned()),
            sole: true,
        }],
        None => vec![Backend {
            service: service.name.clone(),
            port: PortRef::Number(port.and_then(|p| p.number).unwrap_or(0)),
            sole: true,
        }],
    }
}

/// The Services of the forward action `actions.NAME` (fixed responses and redirects have none,
/// nor do target groups named by ARN, which the controller does not manage).
fn from_action(
    ing: &Ingress,
    object: &ObjectRef,
    name: &str,
    settings: &AwsSettings,
    findings: &mut Findings,
) -> Vec<Backend> {
    let key = format!("{ALB_PREFIX}actions.{name}");
    let Some(raw) = Annotations::of(&ing.metadata).get(&key) else {
        let missing =
            format!("{object}: a backend uses {USE_ANNOTATION} but annotation {key} is missing");
        if settings.tolerate_missing_backend_action {
            findings.warn(format!(
                "{missing}: the ALB answers its requests with a fixed 503 (\"Backend action does \
                 not exist\")"
            ));
        } else {
            findings.error(missing);
        }
        return Vec::new();
    };
    let action: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => {
            findings.error(format!(
                "{object}: annotation {key}: {raw:?} is not valid JSON: {e}"
            ));
            return Vec::new();
        }
    };
    if action.get("type").and_then(Value::as_str) != Some("forward") {
        return Vec::new();
    }
    let groups = action
        .pointer("/forwardConfig/targetGroups")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let services: Vec<(String, PortRef)> = groups
        .iter()
        .filter_map(|group| {
            let service = group.get("serviceName")?.as_str()?.to_owned();
            // The controller reads servicePort as an IntOrString and then re-parses its text, so
            // "80" and 80 both mean port 80.
            let port = match group.get("servicePort")? {
                Value::String(s) => PortRef::parse(s),
                Value::Number(n) => PortRef::parse(&n.to_string()),
                _ => return None,
            };
            Some((service, port))
        })
        .collect();
    let sole = groups.len() == 1;
    services
        .into_iter()
        .map(|(service, port)| Backend {
            service,
            port,
            sole,
        })
        .collect()
}
