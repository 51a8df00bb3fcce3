//! `probesim-agent run`: the DaemonSet daemon.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use probesim_agent::daemon::{
    self, DaemonConfig, DiscoverOptions, http, metrics::Metrics, observed,
};
use probesim_agent::discovery::watch;
use probesim_agent::engine::EngineConfig;
use probesim_agent::lb::health::EmulationSettings;
use probesim_agent::source::{SourceSet, caps};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::collector::CollectorArgs;
use super::settings::{CloudArgs, SourceArgs};

/// Where `/metrics` and `/healthz` are served unless configured.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9470";
/// Events between the daemon and the stream client: a second of a busy node's results, so that
/// the client's batching never makes the daemon drop.
pub const STREAM_CHANNEL: usize = 65_536;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// This node's name (the DaemonSet sets it from the downward API: spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// The cluster's Kubernetes version; by default the API server's /version.
    #[arg(long, env = "PROBESIM_K8S_VERSION", value_name = "V")]
    k8s_version: Option<String>,
    /// Also derive and probe the LB specs of this Kubernetes version (e.g. before an upgrade);
    /// repeatable, comma-separated in the environment variable.
    #[arg(
        long,
        env = "PROBESIM_WHAT_IF_K8S_VERSION",
        value_name = "V",
        value_delimiter = ','
    )]
    what_if_k8s_version: Vec<String>,
    #[command(flatten)]
    cloud: CloudArgs,
    /// Virtual probers per backend: probes per LB interval.
    #[arg(long, env = "PROBESIM_PROBES_PER_INTERVAL", default_value_t = daemon::DEFAULT_PROBES_PER_INTERVAL, value_parser = clap::value_parser!(u32).range(1..=1000))]
    probes_per_interval: u32,
    #[command(flatten)]
    sources: SourceArgs,
    #[command(flatten)]
    collector: CollectorArgs,
    /// Serve /metrics and /healthz here.
    #[arg(long, env = "PROBESIM_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// How often to check the control plane's path to this node's kubelet (0 turns it off).
    #[arg(long, env = "PROBESIM_NODE_PROXY_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    node_proxy_interval: Duration,
    /// The API server's URL without credentials (a lab or a `kubectl proxy`); by default the
    /// in-cluster configuration or KUBECONFIG.
    #[arg(long, env = "PROBESIM_API_SERVER")]
    api_server: Option<String>,
    /// Also report the real LB's probes arriving on these interfaces (comma-separated, or `auto`:
    /// those with a default route) as `observed` backends beside the emulated ones; needs
    /// NET_RAW. Off unless given.
    #[arg(long, env = "PROBESIM_OBSERVE", value_name = "IFACES|auto")]
    observe: Option<String>,
    /// Networks the LB's probes come from, for --observe (comma-separated, e.g. an ALB's subnets
    /// 10.0.128.0/20; needed on AWS; Azure's 168.63.129.16 is always watched).
    #[arg(
        long = "observe-lb-network",
        env = "PROBESIM_OBSERVE_LB_NETWORKS",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    observe_lb_networks: Vec<String>,
    /// Log format.
    #[arg(long, env = "PROBESIM_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    probesim_agent::duration::parse(text).map_err(|e| e.to_string())
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let options = DiscoverOptions {
        node: args.node_name.clone(),
        cloud: args.cloud.cloud(),
        k8s_version: args.k8s_version.clone(),
        what_if: args.what_if_k8s_version.clone(),
        base: args.cloud.base(),
        sources: args.sources.policy().map_err(anyhow::Error::msg)?,
    };
    daemon::setup::validate(&options)?;
    let observe = observe_flags(&args)?;
    if observe.0.is_some() {
        // Before anything connects: the error names the capability and the manifest setting.
        match caps::require("observe", &caps::OBSERVE) {
            Err(probesim_agent::error::Error::MissingCapability {
                capability,
                grant,
                why,
                ..
            }) => anyhow::bail!(
                "--observe needs {capability} ({why}); grant it in the DaemonSet with \
                 `securityContext.capabilities.add: [{grant}]`, or leave --observe \
                 (PROBESIM_OBSERVE) out"
            ),
            other => other?,
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, options, observe))?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROBESIM_LOG")
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn kube_config(api_server: Option<&str>) -> anyhow::Result<kube::Config> {
    let config = match api_server {
        Some(url) => kube::Config::new(
            url.parse()
                .with_context(|| format!("--api-server {url:?}"))?,
        ),
        None => kube::Config::infer()
            .await
            .context("no in-cluster configuration and no usable KUBECONFIG")?,
    };
    Ok(config)
}

async fn serve(
    args: RunArgs,
    options: DiscoverOptions,
    observe: ObserveFlags,
) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let config = kube_config(args.api_server.as_deref()).await?;
    // The node-proxy check sends one request per check: a client without kube's retries.
    let node_proxy_client =
        daemon::node_proxy::client(config.clone()).context("building the Kubernetes client")?;
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    let metrics = Arc::new(Metrics::new());
    let mut tasks = JoinSet::new();
    let (watch, lifecycle) = watch::start(client.clone(), &args.node_name, &mut tasks);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    let health = {
        let watch = watch.clone();
        Arc::new(move || health(&watch)) as http::HealthCheck
    };
    tasks.spawn(http::serve(
        listener,
        metrics.clone(),
        health,
        shutdown.clone(),
    ));
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stopping");
            shutdown.cancel();
        });
    }
    let Some(discovered) = daemon::discover(&client, &watch, &options, &shutdown).await? else {
        return Ok(());
    };
    let identity = &discovered.identity;
    tracing::info!(
        node = %identity.node,
        cloud = identity.cloud.as_str(),
        k8s_version = %identity.k8s_version,
        what_if = %identity.what_if.join(","),
        "probing this node's backends as the cloud's LB would"
    );
    let observe = observe_config(observe, identity.cloud)?;
    // Set up in this thread's namespace (the node's), removed when the daemon ends.
    let source_config = args
        .sources
        .config(&discovered.plan.sources.policy, identity.cloud)
        .map_err(anyhow::Error::msg)?;
    let source_set = SourceSet::start(&source_config)?;
    let sources = source_set.probe_sources();
    let (events, stream) = match args.collector.config(identity) {
        Some(config) => {
            let (tx, rx) = tokio::sync::mpsc::channel(STREAM_CHANNEL);
            let handle = probesim_agent::stream::Client::start(config, rx)?;
            metrics.stream.attach(handle.metrics());
            let events = daemon::Events {
                tx,
                drops: Some(handle.drop_counter()),
            };
            (Some(events), Some(handle))
        }
        None => {
            tracing::warn!(
                "no --collector (PROBESIM_COLLECTOR): results go to the logs and /metrics only"
            );
            (None, None)
        }
    };
    let config = DaemonConfig {
        plan: discovered.plan,
        probes_per_interval: args.probes_per_interval,
        engine: EngineConfig::default(),
        emulation: EmulationSettings::default(),
        node_proxy_interval: (!args.node_proxy_interval.is_zero())
            .then_some(args.node_proxy_interval),
        sources,
        observe,
    };
    let ran = daemon::run(
        config,
        node_proxy_client,
        watch,
        lifecycle,
        metrics,
        events,
        shutdown,
    )
    .await;
    if let Some(stream) = stream {
        stream.shutdown().await;
    }
    tasks.abort_all();
    source_set.remove()?;
    ran?;
    Ok(())
}

/// `--observe`'s interfaces (`None`: off) and `--observe-lb-network`'s networks.
type ObserveFlags = (Option<observed::Interfaces>, Vec<observed::Network>);

/// `--observe` and `--observe-lb-network`, checked before anything connects.
fn observe_flags(args: &RunArgs) -> anyhow::Result<ObserveFlags> {
    let interfaces = match &args.observe {
        Some(text) => observed::parse_interfaces("--observe", text)?,
        None => None,
    };
    let networks = args
        .observe_lb_networks
        .iter()
        .map(|n| observed::parse_network("--observe-lb-network", n))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((interfaces, networks))
}

/// The observer's settings for the settled cloud; `None` without `--observe`.
fn observe_config(
    flags: ObserveFlags,
    cloud: probesim_agent::model::Cloud,
) -> anyhow::Result<Option<probesim_agent::observe::ObserverConfig>> {
    let (Some(interfaces), networks) = flags else {
        return Ok(None);
    };
    let interfaces = match interfaces {
        observed::Interfaces::Named(names) => names,
        observed::Interfaces::Auto => {
            let found = probesim_agent::observe::uplinks()?;
            anyhow::ensure!(
                !found.is_empty(),
                "--observe auto: no interface of this node carries a default route; name them"
            );
            found
        }
    };
    tracing::info!(interfaces = %interfaces.join(","), "observing the real LB's probes");
    Ok(Some(observed::config(
        cloud,
        interfaces,
        &networks,
        "--observe-lb-network",
    )?))
}

fn health(watch: &watch::Shared) -> Result<(), String> {
    if watch.synced() {
        return Ok(());
    }
    let status = watch.status();
    let problems: Vec<String> = status
        .iter()
        .filter(|(_, s)| s.lists == 0)
        .map(|(resource, s)| {
            format!(
                "{resource}: {}",
                s.last_error.as_deref().unwrap_or("not listed yet")
            )
        })
        .collect();
    Err(if problems.is_empty() {
        "watches starting".to_owned()
    } else {
        problems.join("; ")
    })
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
