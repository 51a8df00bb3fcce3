//! cloud-provider-azure's derivation of LB rules and health probes from a Service
//! (spec/azure-lb.md section 3).
//!
//! - [`annotations`]: the annotation keys and how cloud-provider-azure reads them.
//! - [`probe`]: one probe: `perPort()`, the externalTrafficPolicy Local and shared-mode probes,
//!   `intervalAndThreshold()`, and Azure's fixed probe parameters.
//! - [`version`]: which behaviour a cloud-provider-azure version has.
//! - `warnings`: the known traps, in words an operator can act on.
//!
//! Errors are cloud-provider-azure's own messages where it has them, completed with the
//! annotation key and the value at fault; any error rejects the whole Service, as the controller
//! then does not update the load balancer at all.

pub mod annotations;
pub mod probe;
pub mod version;
mod warnings;

#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::{Service, ServicePort};

use self::annotations::{PortFlag, ProbeParam, is_true, port_flag_key, port_probe_key};
use self::probe::port_label;
use crate::lb::annotations::Annotations;
use crate::model::{LbKind, ObjectRef, ProbeSpec, Rule, RuleProtocol, ServiceResult};
pub use version::{AzureBehavior, CpaVersion, DEFAULT_AZURE_VERSION};

/// `clusterServiceLoadBalancerHealthProbeMode` of the cloud-provider-azure configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProbeMode {
    /// One probe per Service port, on its NodePort (the default).
    #[default]
    ServiceNodePort,
    /// One probe of kube-proxy's health server (port 10256, `/healthz`) for every Service.
    Shared,
}

/// The Azure Load Balancer SKU of the cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sku {
    #[default]
    Standard,
    /// Basic SKU has no Https probes.
    Basic,
}

#[derive(Clone, Debug)]
pub struct AzureSettings {
    pub version: CpaVersion,
    pub probe_mode: ProbeMode,
    pub sku: Sku,
}

impl Default for AzureSettings {
    fn default() -> Self {
        AzureSettings {
            version: DEFAULT_AZURE_VERSION,
            probe_mode: ProbeMode::default(),
            sku: Sku::default(),
        }
    }
}

/// What cloud-provider-azure would configure for one Service; `None` when it is not of type
/// LoadBalancer (the controller ignores it).
pub fn derive_service(svc: &Service, settings: &AzureSettings) -> Option<ServiceResult> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    let object = ObjectRef::from_meta("Service", &svc.metadata);
    let mut result = ServiceResult::new(object.clone(), LbKind::AzureLb);
    if let Some(class) = spec.load_balancer_class.as_deref() {
        result.warnings.push(warnings::load_balancer_class(class));
        return Some(result);
    }
    let mut d = Derivation {
        ports: spec.ports.as_deref().unwrap_or_default(),
        ann: Annotations::of(&svc.metadata),
        settings,
        b: settings.version.behavior(),
        // Kubernetes accepts only "Cluster" and "Local", so the exact comparison of
        // NeedsHealthCheck and the case-insensitive one of shared mode agree.
        local: spec.external_traffic_policy.as_deref() == Some("Local"),
        hcnp: spec
            .health_check_node_port
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0),
        node_ports_disabled: spec.allocate_load_balancer_node_ports == Some(false),
        warnings: Vec::new(),
    };
    match d.rules(&object) {
        Ok(rules) => result.rules = rules,
        Err(e) => result.reject(e),
    }
    result.warnings = d.warnings;
    Some(result)
}

/// [`derive_service`] as another cloud-provider-azure version would do it (for comparing the
/// behaviour before and after an upgrade).
pub fn derive_service_at(
    svc: &Service,
    settings: &AzureSettings,
    version: CpaVersion,
) -> Option<ServiceResult> {
    let settings = AzureSettings {
        version,
        ..settings.clone()
    };
    derive_service(svc, &settings)
}

/// One Service being derived: what the decision procedure reads, and the warnings it collects.
struct Derivation<'a> {
    ports: &'a [ServicePort],
    ann: Annotations<'a>,
    settings: &'a AzureSettings,
    b: AzureBehavior,
    local: bool,
    /// `spec.healthCheckNodePort`, `None` until Kubernetes allocated it.
    hcnp: Option<u16>,
    /// `spec.allocateLoadBalancerNodePorts: false`: ports may have no nodePort at all.
    node_ports_disabled: bool,
    warnings: Vec<String>,
}

impl Derivation<'_> {
    fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// The decision procedure of spec/azure-lb.md section 3.
    fn rules(&mut self, service: &ObjectRef) -> Result<Vec<Rule>, String> {
        self.warn_unread_annotations();
        let mut node_probe = if self.local {
            Some(self.local_probe()?)
        } else {
            None
        };
        let shared = self.shared_mode();
        if shared {
            node_probe = Some(probe::shared_probe());
        }
        if self.ha_ports() {
            return Ok(vec![self.ha_rule(service, node_probe)]);
        }
        let per_port_rules = self.b.per_port_protocol_and_rules;
        let mut rules = Vec::with_capacity(self.ports.len());
        for p in self.ports {
            if per_port_rules && is_true(&self.ann, &port_flag_key(p.port, PortFlag::NoLbRule)) {
                continue;
            }
            let protocol = self.rule_protocol(p)?;
            let no_probe =
                per_port_rules && is_true(&self.ann, &port_flag_key(p.port, PortFlag::NoProbeRule));
            let probe = if no_probe {
                None
            } else {
                self.per_port(p, node_probe.is_some(), shared)?
                    .or_else(|| node_probe.clone())
            };
            rules.push(Rule {
                port: p.port,
                protocol,
                probe,
                service: service.clone(),
            });
        }
        Ok(rules)
    }

    /// The rule's transport protocol; SCTP only on an internal Standard LB.
    fn rule_protocol(&self, p: &ServicePort) -> Result<RuleProtocol, String> {
        let protocol = RuleProtocol::from_k8s(p.protocol.as_deref()).ok_or_else(|| {
            format!(
                "failed to parse transport protocol: only TCP, UDP and SCTP are supported for \
                 Azure LoadBalancers ({} has protocol {:?})",
                port_label(p),
                p.protocol.as_deref().unwrap_or_default()
            )
        })?;
        if protocol == RuleProtocol::Sctp
            && (self.settings.sku != Sku::Standard || !self.internal())
        {
            return Err(format!(
                "SCTP is only supported on standard loadbalancer in internal mode ({} is SCTP; \
                 set {}: \"true\" on a Standard SKU load balancer)",
                port_label(p),
                annotations::INTERNAL
            ));
        }
        Ok(protocol)
    }

    fn internal(&self) -> bool {
        is_true(&self.ann, annotations::INTERNAL)
    }

    /// Internal Standard LB with high-availability ports: one rule for every port.
    fn ha_ports(&self) -> bool {
        self.internal()
            && self.settings.sku == Sku::Standard
            && is_true(&self.ann, annotations::HA_PORTS)
    }

    /// The single HA-ports rule. Azure's rule has protocol `All` and port 0; the model has no
    /// `All`, so it reads TCP. Its probe is the node probe, else the first port's own probe;
    /// cloud-provider-azure skips ports whose probe settings are wrong instead of failing.
    fn ha_rule(&mut self, service: &ObjectRef, node_probe: Option<ProbeSpec>) -> Rule {
        let mut probe = node_probe;
        if probe.is_none() {
            for p in self.ports {
                match self.per_port(p, false, false) {
                    Ok(Some(found)) => {
                        probe = Some(found);
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => self.warn(warnings::ha_port_skipped(&port_label(p), &e)),
                }
            }
        }
        Rule {
            port: 0,
            protocol: RuleProtocol::Tcp,
            probe,
            service: service.clone(),
        }
    }

    /// Whether the shared probe replaces the per-port ones (never for a Local Service).
    fn shared_mode(&mut self) -> bool {
        if self.settings.probe_mode != ProbeMode::Shared {
            return false;
        }
        if !self.b.shared_probe_mode {
            let w = warnings::shared_mode_unavailable(&self.settings.version.to_string());
            self.warn(w);
            return false;
        }
        if self.local {
            return false;
        }
        let mut set: Vec<String> = [
            annotations::PROBE_PROTOCOL,
            annotations::PROBE_REQUEST_PATH,
            annotations::PROBE_INTERVAL,
            annotations::PROBE_NUM_OF_PROBE,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        for p in self.ports {
            for param in PER_PORT_PROBE_PARAMS {
                set.push(port_probe_key(p.port, param));
            }
        }
        set.retain(|key| self.ann.get(key).is_some());
        if !set.is_empty() {
            self.warn(warnings::shared_mode_ignores(&set));
        }
        true
    }

    /// Annotations a user may rely on that this version does not read at all.
    fn warn_unread_annotations(&mut self) {
        let version = self.settings.version.to_string();
        let mut unread: Vec<(String, &str)> = Vec::new();
        for p in self.ports {
            if !self.b.per_port_protocol_and_rules {
                const SINCE: &str = "v1.26.0 (v1.24.12, v1.25.6)";
                unread.push((port_probe_key(p.port, ProbeParam::Protocol), SINCE));
                unread.push((port_probe_key(p.port, ProbeParam::Port), SINCE));
                unread.push((port_flag_key(p.port, PortFlag::NoLbRule), SINCE));
                unread.push((port_flag_key(p.port, PortFlag::NoProbeRule), SINCE));
            }
            if !self.b.interval_threshold_annotations {
                const SINCE: &str = "v1.23.4 (and Kubernetes 1.24)";
                for param in [
                    ProbeParam::RequestPath,
                    ProbeParam::Interval,
                    ProbeParam::NumOfProbe,
                ] {
                    unread.push((port_probe_key(p.port, param), SINCE));
                }
            }
        }
        if !self.b.interval_threshold_annotations {
            const SINCE: &str = "v1.23.4 (and Kubernetes 1.24)";
            unread.push((annotations::PROBE_INTERVAL.to_owned(), SINCE));
            unread.push((annotations::PROBE_NUM_OF_PROBE.to_owned(), SINCE));
        }
        for (key, since) in unread {
            if self.ann.get(&key).is_some() {
                self.warn(warnings::not_read_by_version(&key, &version, since));
            }
        }
    }
}

const PER_PORT_PROBE_PARAMS: [ProbeParam; 5] = [
    ProbeParam::Protocol,
    ProbeParam::Port,
    ProbeParam::RequestPath,
    ProbeParam::Interval,
    ProbeParam::NumOfProbe,
];
