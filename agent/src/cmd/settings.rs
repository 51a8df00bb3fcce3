//! The flags that shape how a cloud's controllers derive probes, shared by `explain` and `probe`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use clap::{Args, ValueEnum};
use probesim_agent::discovery::sources::SourcePolicy;
use probesim_agent::explain::cloud;
use probesim_agent::lb::aws::{AwsSettings, DefaultServiceController, LegacyProbeMode};
use probesim_agent::lb::azure::{AzureSettings, CpaVersion, DEFAULT_AZURE_VERSION, ProbeMode, Sku};
use probesim_agent::lb::{Objects, Settings};
use probesim_agent::model::Cloud;
use probesim_agent::source::{SourceMode, SourceSetConfig};

#[derive(Debug, Args)]
pub struct DeriveArgs {
    /// Kubernetes minor version (`1.24`, the latest cloud-provider-azure patch of that line) or an
    /// exact cloud-provider-azure version (`v1.23.5`).
    #[arg(long, env = "PROBESIM_K8S_VERSION", value_name = "V", default_value_t = DEFAULT_AZURE_VERSION.to_string())]
    k8s_version: String,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

/// The cloud and its controllers' choices.
#[derive(Debug, Args)]
pub struct CloudArgs {
    /// The cloud; by default inferred (`explain`, `probe`: from the objects' annotations, Azure
    /// when there are none; `run`: from the Node's spec.providerID).
    #[arg(long, env = "PROBESIM_CLOUD", value_enum)]
    cloud: Option<CloudArg>,
    /// cloud-provider-azure's `clusterServiceLoadBalancerHealthProbeMode`.
    #[arg(
        long,
        env = "PROBESIM_AZURE_PROBE_MODE",
        value_enum,
        default_value = "servicenodeport"
    )]
    azure_probe_mode: ProbeModeArg,
    /// The Azure Load Balancer SKU (Basic has no Https probes).
    #[arg(
        long,
        env = "PROBESIM_AZURE_SKU",
        value_enum,
        default_value = "standard"
    )]
    azure_sku: SkuArg,
    /// The `kubernetes.io/ingress.class` value the AWS Load Balancer Controller owns.
    #[arg(long, env = "PROBESIM_AWS_INGRESS_CLASS", default_value = "alb")]
    aws_ingress_class: String,
    /// cloud-provider-aws's health probe mode for the legacy CLB/NLB.
    #[arg(
        long,
        env = "PROBESIM_AWS_LEGACY_PROBE_MODE",
        value_enum,
        default_value = "servicenodeport"
    )]
    aws_legacy_probe_mode: ProbeModeArg,
    /// Which AWS controller takes Services of type LoadBalancer that name none: the legacy
    /// provider (CLB) or the AWS Load Balancer Controller's webhook (NLB).
    #[arg(
        long,
        env = "PROBESIM_AWS_DEFAULT_SERVICE_CONTROLLER",
        value_enum,
        default_value = "legacy"
    )]
    aws_default_service_controller: AwsControllerArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CloudArg {
    Azure,
    Aws,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProbeModeArg {
    Servicenodeport,
    Shared,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SkuArg {
    Standard,
    Basic,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AwsControllerArg {
    Legacy,
    LoadBalancerController,
}

impl DeriveArgs {
    /// The settings these flags name; the cloud is inferred from the objects when not given, and
    /// the note says how.
    pub fn resolve(&self, objects: &Objects) -> Result<(Settings, Option<String>), String> {
        let version: CpaVersion = self
            .k8s_version
            .parse()
            .map_err(|e| format!("--k8s-version: {e}"))?;
        let (cloud, note) = match self.cloud.cloud() {
            Some(cloud) => (cloud, None),
            None => {
                let inferred = cloud::infer(objects)?;
                (
                    inferred.cloud,
                    Some(format!("inferred: {}", inferred.reason)),
                )
            }
        };
        let mut settings = self.cloud.base();
        settings.cloud = cloud;
        settings.azure.version = version;
        Ok((settings, note))
    }
}

impl CloudArgs {
    /// `--cloud`, if given.
    pub fn cloud(&self) -> Option<Cloud> {
        self.cloud.map(|c| match c {
            CloudArg::Azure => Cloud::Azure,
            CloudArg::Aws => Cloud::Aws,
        })
    }

    /// The controllers' settings these flags name, for Azure at the default version until the
    /// caller settles cloud and version.
    pub fn base(&self) -> Settings {
        let azure = AzureSettings {
            version: DEFAULT_AZURE_VERSION,
            probe_mode: match self.azure_probe_mode {
                ProbeModeArg::Servicenodeport => ProbeMode::ServiceNodePort,
                ProbeModeArg::Shared => ProbeMode::Shared,
            },
            sku: match self.azure_sku {
                SkuArg::Standard => Sku::Standard,
                SkuArg::Basic => Sku::Basic,
            },
        };
        let aws = AwsSettings {
            default_service_controller: match self.aws_default_service_controller {
                AwsControllerArg::Legacy => DefaultServiceController::Legacy,
                AwsControllerArg::LoadBalancerController => {
                    DefaultServiceController::LoadBalancerController
                }
            },
            ingress_class: self.aws_ingress_class.clone(),
            legacy_probe_mode: match self.aws_legacy_probe_mode {
                ProbeModeArg::Servicenodeport => LegacyProbeMode::ServiceNodePort,
                ProbeModeArg::Shared => LegacyProbeMode::Shared,
            },
            ..AwsSettings::default()
        };
        Settings {
            cloud: Cloud::Azure,
            azure,
            aws,
        }
    }
}

/// Where probes come from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Where LB probes come from, per cloud or LB kind: entries `[SCOPE=]MODE[+MODE]`, comma-
    /// separated; SCOPE is `azure`, `aws`, `azure-lb`, `alb`, `nlb` or `clb` (the most specific
    /// entry wins), MODE is `node` (the node's own address), `lb-source` (the LB's address,
    /// through the node's packet path as the LB's probes; needs NET_ADMIN, NET_RAW and
    /// SYS_ADMIN) or `syn` (half-open raw SYN probes, TCP only; needs NET_RAW; from the LB's
    /// address when lb-source is set up). `node+lb-source` probes each backend from both. A
    /// Service or Ingress can choose its own with the `probesim.io/source` annotation.
    #[arg(
        long,
        env = "PROBESIM_SOURCE",
        value_delimiter = ',',
        default_value = "node",
        value_name = "[SCOPE=]MODE[+MODE]"
    )]
    source: Vec<String>,
    /// Sources to set up beside those --source names, for Services and Ingresses that choose
    /// them with the `probesim.io/source` annotation (comma-separated).
    #[arg(
        long = "enable-source",
        env = "PROBESIM_ENABLE_SOURCES",
        value_delimiter = ',',
        value_enum,
        value_name = "MODE"
    )]
    enable_source: Vec<SourceArg>,
    /// The LB's source addresses for lb-source, comma-separated (default for Azure:
    /// 168.63.129.16, plus fe80::1234:5678:9abc where IPv6 is on; for AWS give an address of
    /// the load balancer's subnets, IPv4 or IPv6). Each probe leaves from the address of its
    /// target's family.
    #[arg(
        long = "lb-source-address",
        env = "PROBESIM_LB_SOURCE_ADDRESSES",
        value_delimiter = ',',
        value_name = "IP"
    )]
    lb_source_addresses: Vec<IpAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SourceArg {
    Node,
    LbSource,
    Syn,
}

impl SourceArg {
    fn mode(self) -> SourceMode {
        match self {
            SourceArg::Node => SourceMode::Node,
            SourceArg::LbSource => SourceMode::LbSource,
            SourceArg::Syn => SourceMode::Syn,
        }
    }
}

impl SourceArgs {
    /// `--source`, parsed; an error names the entry.
    pub fn policy(&self) -> Result<SourcePolicy, String> {
        SourcePolicy::parse(&self.source).map_err(|e| e.to_string())
    }

    /// What an agent on a node of `cloud` sets up: every source `policy` (its `--source`)
    /// gives its LBs, and `--enable-source`.
    pub fn config(&self, policy: &SourcePolicy, cloud: Cloud) -> Result<SourceSetConfig, String> {
        let mut modes = policy.modes_in(cloud);
        modes.extend(self.enable_source.iter().map(|m| m.mode()));
        self.config_for(cloud, &modes)
    }

    /// What `modes` need set up for `cloud`'s LBs. An error names the flag and value that do
    /// not fit.
    pub fn config_for(
        &self,
        cloud: Cloud,
        modes: &BTreeSet<SourceMode>,
    ) -> Result<SourceSetConfig, String> {
        SourceSetConfig::for_modes(modes, cloud, &self.lb_source_addresses)
            .map_err(|e| format!("--lb-source-address: {e}"))
    }
}
