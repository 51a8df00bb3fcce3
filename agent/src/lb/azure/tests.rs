//! Table-driven tests of the Azure derivation: one module per part of spec/azure-lb.md section 3.

mod errors;
mod ha;
mod local;
mod per_port;
mod props;
mod s1;
mod shared;
mod timing;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::annotations::{PortFlag, ProbeParam, port_flag_key, port_probe_key};
use super::{AzureSettings, CpaVersion, ProbeMode, Sku, derive_service};
use crate::model::{ProbePort, ProbeProtocol, ProbeSpec, Rule, RuleProtocol, ServiceResult};

/// A Service of type LoadBalancer, built port by port; settings on the last port added.
#[derive(Clone, Debug)]
struct Svc(Service);

impl Svc {
    fn lb() -> Svc {
        Svc(Service {
            metadata: ObjectMeta {
                name: Some("web".to_owned()),
                namespace: Some("shop".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".to_owned()),
                ..ServiceSpec::default()
            }),
            status: None,
        })
    }

    fn spec(&mut self) -> &mut ServiceSpec {
        self.0.spec.get_or_insert_with(ServiceSpec::default)
    }

    fn last(&mut self) -> &mut ServicePort {
        self.spec()
            .ports
            .as_mut()
            .and_then(|p| p.last_mut())
            .expect("add a port first")
    }

    /// A TCP port with a name and an allocated nodePort.
    fn port(mut self, name: &str, port: i32, node_port: i32) -> Svc {
        self.spec()
            .ports
            .get_or_insert_with(Vec::new)
            .push(ServicePort {
                name: Some(name.to_owned()),
                port,
                node_port: Some(node_port),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            });
        self
    }

    fn protocol(mut self, protocol: &str) -> Svc {
        self.last().protocol = Some(protocol.to_owned());
        self
    }

    fn app(mut self, app_protocol: &str) -> Svc {
        self.last().app_protocol = Some(app_protocol.to_owned());
        self
    }

    fn no_node_port(mut self) -> Svc {
        self.last().node_port = None;
        self
    }

    fn ann(mut self, key: &str, value: &str) -> Svc {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }

    fn port_ann(self, port: i32, param: ProbeParam, value: &str) -> Svc {
        self.ann(&port_probe_key(port, param), value)
    }

    fn port_flag(self, port: i32, flag: PortFlag, value: &str) -> Svc {
        self.ann(&port_flag_key(port, flag), value)
    }

    /// externalTrafficPolicy Local with this healthCheckNodePort (`None`: not allocated yet).
    fn local(mut self, health_check_node_port: Option<i32>) -> Svc {
        let spec = self.spec();
        spec.external_traffic_policy = Some("Local".to_owned());
        spec.health_check_node_port = health_check_node_port;
        self
    }

    fn internal_ha(self) -> Svc {
        self.ann(super::annotations::INTERNAL, "true")
            .ann(super::annotations::HA_PORTS, "true")
    }

    fn derive(&self, settings: &AzureSettings) -> ServiceResult {
        derive_service(&self.0, settings).expect("a LoadBalancer Service gets a result")
    }

    fn at(&self, version: &str) -> ServiceResult {
        self.derive(&at(version))
    }
}

/// ingress-nginx's controller Service as its Helm chart renders it on AKS (scenario S1).
const S1_INGRESS_NGINX: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: ingress-nginx-controller
  namespace: ingress-basic
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  ports:
  - name: http
    appProtocol: http
    nodePort: 32271
    port: 80
    protocol: TCP
    targetPort: http
  - name: https
    appProtocol: https
    nodePort: 30569
    port: 443
    protocol: TCP
    targetPort: https
"#;

fn s1() -> Svc {
    Svc(serde_yaml_ng::from_str(S1_INGRESS_NGINX).expect("S1 manifest parses"))
}

fn version(v: &str) -> CpaVersion {
    v.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn at(v: &str) -> AzureSettings {
    AzureSettings {
        version: version(v),
        ..AzureSettings::default()
    }
}

fn shared_at(v: &str) -> AzureSettings {
    AzureSettings {
        probe_mode: ProbeMode::Shared,
        ..at(v)
    }
}

fn basic_at(v: &str) -> AzureSettings {
    AzureSettings {
        sku: Sku::Basic,
        ..at(v)
    }
}

/// The probe Azure builds, with cloud-provider-azure's default timing (5 s, threshold 2).
fn tcp(port: u16) -> ProbeSpec {
    super::probe::azure_probe(ProbeProtocol::Tcp, ProbePort::Number(port), None, 5, 2)
}

fn http(port: u16, path: &str) -> ProbeSpec {
    super::probe::azure_probe(
        ProbeProtocol::Http,
        ProbePort::Number(port),
        Some(path.to_owned()),
        5,
        2,
    )
}

fn https(port: u16, path: &str) -> ProbeSpec {
    ProbeSpec {
        protocol: ProbeProtocol::Https,
        ..http(port, path)
    }
}

fn timed(probe: ProbeSpec, interval_s: u32, threshold: u32) -> ProbeSpec {
    super::probe::azure_probe(
        probe.protocol,
        probe.port,
        probe.path,
        interval_s,
        threshold,
    )
}

/// The probe of the rule for Service port `port`; panics when there is no such rule.
fn probe_of(r: &ServiceResult, port: i32) -> Option<ProbeSpec> {
    rule_of(r, port).probe.clone()
}

fn rule_of(r: &ServiceResult, port: i32) -> &Rule {
    r.rules
        .iter()
        .find(|rule| rule.port == port)
        .unwrap_or_else(|| panic!("no rule for port {port}: {r:#?}"))
}

fn rule_ports(r: &ServiceResult) -> Vec<(i32, RuleProtocol)> {
    r.rules
        .iter()
        .map(|rule| (rule.port, rule.protocol))
        .collect()
}

/// Asserts the Service was accepted without errors.
#[track_caller]
fn accepted(r: &ServiceResult) {
    assert!(r.errors.is_empty(), "unexpected errors: {:#?}", r.errors);
}

/// Asserts the Service was rejected as a whole and the error mentions every fragment.
#[track_caller]
fn rejected(r: &ServiceResult, fragments: &[&str]) {
    assert!(
        r.rules.is_empty(),
        "a rejected Service has no rules: {r:#?}"
    );
    assert_eq!(r.errors.len(), 1, "{:#?}", r.errors);
    for f in fragments {
        assert!(
            r.errors[0].contains(f),
            "error {:?} should mention {f:?}",
            r.errors[0]
        );
    }
}

/// The warnings that mention every fragment.
fn warnings_with<'a>(r: &'a ServiceResult, fragments: &[&str]) -> Vec<&'a String> {
    r.warnings
        .iter()
        .filter(|w| fragments.iter().all(|f| w.contains(f)))
        .collect()
}

#[track_caller]
fn warns(r: &ServiceResult, fragments: &[&str]) {
    assert!(
        !warnings_with(r, fragments).is_empty(),
        "no warning mentions {fragments:?}: {:#?}",
        r.warnings
    );
}

#[track_caller]
fn no_warning(r: &ServiceResult, fragments: &[&str]) {
    assert!(
        warnings_with(r, fragments).is_empty(),
        "a warning mentions {fragments:?}: {:#?}",
        r.warnings
    );
}
