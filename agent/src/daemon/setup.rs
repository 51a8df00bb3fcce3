//! What the daemon settles before it starts probing: the cluster's Kubernetes version (from
//! `/version` unless given), the cloud (from the Node's `spec.providerID` unless given), and the
//! derivation settings of the current and what-if versions.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio_util::sync::CancellationToken;

use super::Identity;
use crate::discovery::node;
use crate::discovery::sources::{SourceChoice, SourcePolicy};
use crate::discovery::targets::PlanSettings;
use crate::discovery::watch::Shared;
use crate::error::{Error, Result};
use crate::event::{SourceMode, SpecVersion};
use crate::lb::Settings;
use crate::lb::azure::version::CpaVersion;
use crate::model::Cloud;

/// Waits between attempts at what the API server must tell before probing can start.
const RETRY: Duration = Duration::from_secs(2);

/// What the operator gave; `None` means: ask the cluster.
#[derive(Clone, Debug)]
pub struct DiscoverOptions {
    pub node: String,
    pub cloud: Option<Cloud>,
    pub k8s_version: Option<String>,
    pub what_if: Vec<String>,
    /// Azure probe mode, SKU and AWS controller choices (the cloud and version are set here).
    pub base: Settings,
    /// Where LB probes come from (`--source`); the daemon chooses among the sources it is
    /// given ([`super::DaemonConfig::sources`]).
    pub sources: SourcePolicy,
}

/// The settled identity and plan settings.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub identity: Identity,
    pub plan: PlanSettings,
}

/// `v1.23.8`, `v1.30.2-eks-1234` → `1.23`, `1.30`.
pub fn minor_version(git_version: &str) -> Option<String> {
    let mut parts = git_version.trim_start_matches('v').split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let minor: u32 = minor.parse().ok()?;
    Some(format!("{major}.{minor}"))
}

fn settings_for(
    base: &Settings,
    cloud: Cloud,
    version: &str,
    flag: &'static str,
) -> Result<Settings> {
    let mut settings = base.clone();
    settings.cloud = cloud;
    settings.azure.version = CpaVersion::from_str(version).map_err(|e| Error::Flag {
        flag,
        value: version.to_owned(),
        message: e.to_string(),
    })?;
    Ok(settings)
}

/// Checks the version flags before anything connects.
pub fn validate(options: &DiscoverOptions) -> Result<()> {
    if let Some(v) = &options.k8s_version {
        settings_for(&options.base, Cloud::Azure, v, "--k8s-version")?;
    }
    for v in &options.what_if {
        settings_for(&options.base, Cloud::Azure, v, "--what-if-k8s-version")?;
    }
    Ok(())
}

/// Settles the version and cloud, asking the API server until it answers (or `shutdown`).
pub async fn discover(
    client: &Client,
    watch: &Arc<Shared>,
    options: &DiscoverOptions,
    shutdown: &CancellationToken,
) -> Result<Option<Discovered>> {
    validate(options)?;
    let version = match &options.k8s_version {
        Some(v) => v.clone(),
        None => loop {
            match client.apiserver_version().await {
                Ok(info) => match minor_version(&info.git_version) {
                    Some(v) => break v,
                    None => {
                        return Err(Error::Cluster {
                            object: "/version".into(),
                            message: format!(
                                "gitVersion {:?} is not a Kubernetes version; set --k8s-version",
                                info.git_version
                            ),
                        });
                    }
                },
                Err(e) => tracing::warn!(error = %e, "GET /version failed; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(RETRY) => {}
            }
        },
    };
    let cloud = match options.cloud {
        Some(cloud) => cloud,
        None => {
            let mut changes = watch.changes();
            loop {
                let provider = watch.with_snapshot(|s| {
                    s.node().map(|n| {
                        let id = n.spec.as_ref().and_then(|s| s.provider_id.clone());
                        (node::cloud_of(n), id.unwrap_or_default())
                    })
                });
                if let Some((cloud, id)) = provider {
                    break cloud.ok_or_else(|| Error::Cluster {
                        object: format!("Node/{}", options.node),
                        message: format!(
                            "spec.providerID {id:?} names no supported cloud (azure://, aws://); set --cloud (PROBESIM_CLOUD)"
                        ),
                    })?;
                }
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    _ = changes.changed() => {}
                    () = tokio::time::sleep(Duration::from_secs(30)) => tracing::warn!(node = %options.node, "the agent's Node is not seen yet (is NODE_NAME right?)"),
                }
            }
        }
    };
    let current = settings_for(&options.base, cloud, &version, "--k8s-version")?;
    let mut what_if = Vec::new();
    for v in &options.what_if {
        let settings = settings_for(&options.base, cloud, v, "--what-if-k8s-version")?;
        what_if.push((
            SpecVersion {
                version: v.clone(),
                what_if: true,
            },
            settings,
        ));
    }
    Ok(Some(Discovered {
        identity: Identity {
            node: options.node.clone(),
            cloud,
            k8s_version: version.clone(),
            what_if: options.what_if.clone(),
        },
        plan: PlanSettings {
            node: options.node.clone(),
            current: (
                SpecVersion {
                    version,
                    what_if: false,
                },
                current,
            ),
            what_if,
            sources: SourceChoice {
                policy: options.sources.clone(),
                available: vec![SourceMode::Node],
            },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minor_version_comes_from_git_version_as_clouds_write_it() {
        assert_eq!(minor_version("v1.23.8").as_deref(), Some("1.23"));
        assert_eq!(
            minor_version("v1.30.2-eks-1234abc").as_deref(),
            Some("1.30")
        );
        assert_eq!(minor_version("1.24").as_deref(), Some("1.24"));
        assert_eq!(minor_version("v1.29+k3s1").as_deref(), Some("1.29"));
        assert_eq!(minor_version("garbage"), None);
    }
}
