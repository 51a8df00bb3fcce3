//! `run`'s flags for streaming to the collector.

use std::path::PathBuf;

use clap::Args;
use probesim_agent::daemon::Identity;
use probesim_agent::stream::{ClientTls, DEFAULT_SPOOL_DIR, StreamConfig};

#[derive(Clone, Debug, Args)]
pub struct CollectorArgs {
    /// The collector's gRPC address: http://probesim-collector.probesim.svc:9471, or https://
    /// for TLS. Without it the agent only logs and serves /metrics.
    #[arg(long, env = "PROBESIM_COLLECTOR", value_name = "URL")]
    pub collector: Option<String>,
    /// PEM CA of the collector's certificate (https:// collectors).
    #[arg(long, env = "PROBESIM_COLLECTOR_CA", value_name = "FILE")]
    pub collector_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --collector-key).
    #[arg(long, env = "PROBESIM_COLLECTOR_CERT", value_name = "FILE")]
    pub collector_cert: Option<PathBuf>,
    /// PEM private key of --collector-cert.
    #[arg(long, env = "PROBESIM_COLLECTOR_KEY", value_name = "FILE")]
    pub collector_key: Option<PathBuf>,
    /// Where batches the collector has not acknowledged wait (a hostPath, so that they survive
    /// a restart of the pod); "" keeps them in memory only.
    #[arg(long, env = "PROBESIM_SPOOL_DIR", value_name = "DIR", default_value = DEFAULT_SPOOL_DIR)]
    pub spool_dir: PathBuf,
}

impl CollectorArgs {
    /// The stream's configuration for this agent, or `None` without a collector.
    pub fn config(&self, identity: &Identity) -> Option<StreamConfig> {
        let url = self.collector.as_deref().filter(|u| !u.is_empty())?;
        let mut config = StreamConfig::new(url, identity.node.clone());
        config.tls = ClientTls {
            ca: self.collector_ca.clone(),
            cert: self.collector_cert.clone(),
            key: self.collector_key.clone(),
            domain: None,
        };
        config.cloud = Some(identity.cloud);
        config.k8s_version = identity.k8s_version.clone();
        config.what_if_versions = identity.what_if.clone();
        config.spool_dir = (!self.spool_dir.as_os_str().is_empty()).then(|| self.spool_dir.clone());
        Some(config)
    }
}
