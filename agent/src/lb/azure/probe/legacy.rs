//! cloud-provider-azure up to v1.23.3: one global protocol annotation for every probe, the
//! externalTrafficPolicy Local probe included; appProtocol, per-port settings, interval and
//! threshold are not read (5 s and 2).

use k8s_openapi::api::core::v1::ServicePort;

use super::{
    DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD, KUBE_PROXY_HEALTH_PATH, azure_probe, is_udp_or_sctp,
    port_label,
};
use crate::lb::azure::annotations::{self as keys, equal_fold};
use crate::lb::azure::{Derivation, Sku, warnings};
use crate::model::{ProbePort, ProbeProtocol, ProbeSpec};

impl Derivation<'_> {
    /// These versions hand the annotation to Azure unchanged, so a value Azure does not know
    /// fails the load balancer update.
    fn legacy_protocol(&self) -> Result<Option<ProbeProtocol>, String> {
        let key = keys::PROBE_PROTOCOL;
        let Some(raw) = self.ann.get(key) else {
            return Ok(None);
        };
        let protocol = if equal_fold(raw, "tcp") {
            ProbeProtocol::Tcp
        } else if equal_fold(raw, "http") {
            ProbeProtocol::Http
        } else if equal_fold(raw, "https") {
            ProbeProtocol::Https
        } else {
            return Err(format!(
                "annotation {key}: {raw:?} is passed to Azure unchanged as the probe protocol, \
                 which must be Tcp, Http or Https: the load balancer update fails"
            ));
        };
        if protocol == ProbeProtocol::Https && self.settings.sku == Sku::Basic {
            return Err(format!(
                "annotation {key}: {raw:?} asks for an Https probe, which the Basic SKU does not \
                 have: the load balancer update fails"
            ));
        }
        Ok(Some(protocol))
    }

    /// The request-path annotation counts only together with an http/https protocol annotation.
    fn legacy_path(
        &mut self,
        label: &str,
        protocol: ProbeProtocol,
        default: &str,
    ) -> Option<String> {
        let path = self.ann.get(keys::PROBE_REQUEST_PATH);
        if !protocol.is_http_like() {
            if path.is_some() {
                self.warn(warnings::request_path_unused(
                    label,
                    keys::PROBE_REQUEST_PATH,
                ));
            }
            return None;
        }
        match (self.ann.get(keys::PROBE_PROTOCOL), path) {
            (Some(_), Some(path)) => Some(path.to_owned()),
            _ => Some(default.to_owned()),
        }
    }

    pub(super) fn legacy_local_probe(&mut self, port: ProbePort) -> Result<ProbeSpec, String> {
        let label = "externalTrafficPolicy Local probe";
        let protocol = self.legacy_protocol()?.unwrap_or(ProbeProtocol::Http);
        if protocol == ProbeProtocol::Tcp {
            let raw = self.ann.get(keys::PROBE_PROTOCOL).unwrap_or_default();
            self.warn(warnings::legacy_local_tcp(raw));
        }
        let path = self.legacy_path(label, protocol, KUBE_PROXY_HEALTH_PATH);
        let probe = azure_probe(protocol, port, path, DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD);
        self.check_http_port(label, &probe);
        Ok(probe)
    }

    pub(super) fn legacy_per_port(
        &mut self,
        p: &ServicePort,
        node_probe: bool,
    ) -> Result<Option<ProbeSpec>, String> {
        if node_probe || is_udp_or_sctp(p) {
            return Ok(None);
        }
        let label = port_label(p);
        let protocol = self.legacy_protocol()?.unwrap_or(ProbeProtocol::Tcp);
        if let Some(app) = p.app_protocol.as_deref()
            && self.ann.get(keys::PROBE_REQUEST_PATH).is_none()
        {
            let upgraded = if equal_fold(app.trim(), "http") {
                Some(ProbeProtocol::Http)
            } else if equal_fold(app.trim(), "https") && self.settings.sku == Sku::Standard {
                Some(ProbeProtocol::Https)
            } else {
                None
            };
            if let Some(upgraded) = upgraded {
                let w = warnings::app_protocol_ignored_until_upgrade(&label, p.port, app, upgraded);
                self.warn(w);
            }
        }
        let port = self.node_port(p);
        let path = self.legacy_path(&label, protocol, self.b.default_http_path);
        let probe = azure_probe(protocol, port, path, DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD);
        self.check_http_port(&label, &probe);
        Ok(Some(probe))
    }
}
