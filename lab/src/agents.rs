//! The product's agents in the lab: one `probesim-agent` daemon per node, inside the node's
//! network namespace (as a DaemonSet with hostNetwork runs), talking to the lab's API server
//! with the real kube client at the fabric's control-plane address.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use probesim_agent::daemon::{self, DaemonConfig, DiscoverOptions, metrics::Metrics, observed};
use probesim_agent::discovery::sources::SourcePolicy;
use probesim_agent::discovery::watch;
use probesim_agent::engine::EngineConfig;
use probesim_agent::event::{Event, SourceMode};
use probesim_agent::lb::health::EmulationSettings;
use probesim_agent::lb::{Settings, aws::AwsSettings, azure::AzureSettings};
use probesim_agent::model::Cloud;
use probesim_agent::observe::ObserverConfig;
use probesim_agent::source::{SourceSet, SourceSetConfig};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cluster::{AWS_PROBE_SOURCE, Cluster};
use crate::net::topology::{CONTROL_PLANE_ADDR, CONTROL_PLANE_PORT};

/// Events kept for the lab's checks before new ones are dropped (and counted).
pub const MAX_KEPT_EVENTS: usize = 2_000_000;
/// Events buffered between a daemon and the lab's collector thread.
const EVENT_CAPACITY: usize = 65_536;

/// How the lab runs its agents.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub what_if: Vec<String>,
    pub probes_per_interval: u32,
    pub node_proxy_interval: Option<Duration>,
    /// The cloud; `None`: from the Node's providerID, as in a cluster.
    pub cloud: Option<Cloud>,
    /// The collector the agents stream to ([`crate::collector::LabCollector::grpc_url`]);
    /// `None`: the lab keeps their events only.
    pub collector: Option<String>,
    /// Where LB backends' probes leave from, as `--source` says: the node (`node`), the LB's
    /// own address through the node's packet path (`lb-source`, set up in each node's namespace
    /// as the DaemonSet does), or both.
    pub source: SourcePolicy,
    /// Run the passive observer on each node's uplink (in the node's namespace), so that the
    /// lab LB's probes (`Cluster::probe_from` with `ProbeSource::Lb`) are reported as
    /// observed backends.
    pub observe: bool,
    /// The networks the LB's probes come from, as `--observe-lb-network` gives them; empty: the
    /// lab LB's (168.63.129.16 alone for Azure; for AWS the /24 subnet of [`AWS_PROBE_SOURCE`]).
    pub observe_lb_networks: Vec<observed::Network>,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            what_if: Vec::new(),
            probes_per_interval: daemon::DEFAULT_PROBES_PER_INTERVAL,
            node_proxy_interval: Some(daemon::node_proxy::DEFAULT_NODE_PROXY_INTERVAL),
            cloud: None,
            collector: None,
            source: SourcePolicy::default(),
            observe: false,
            observe_lb_networks: Vec::new(),
        }
    }
}

/// One event with the node whose agent reported it and when the lab received it.
#[derive(Clone, Debug)]
pub struct Reported {
    pub node: String,
    pub received: SystemTime,
    pub event: Event,
}

/// What the agents reported so far.
#[derive(Debug, Default)]
pub struct Reports {
    pub events: Vec<Reported>,
    /// Events not kept (beyond [`MAX_KEPT_EVENTS`]).
    pub dropped: u64,
    /// Probe results reported, kept or not.
    pub results: u64,
}

/// The running agents.
#[derive(Debug)]
pub struct Agents {
    nodes: Vec<Agent>,
    reports: Arc<Mutex<Reports>>,
}

#[derive(Debug)]
struct Agent {
    node: String,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<Result<(), probesim_agent::netns::NetnsError>>>,
    metrics: Arc<Metrics>,
}

impl Agents {
    /// Starts an agent on every node of the cluster.
    pub fn start(cluster: &Cluster, options: &AgentOptions) -> Result<Agents, String> {
        let reports = Arc::new(Mutex::new(Reports::default()));
        let mut nodes = Vec::new();
        for node in cluster.node_names() {
            let netns = cluster.node_netns(&node)?;
            let stop = CancellationToken::new();
            let metrics = Arc::new(Metrics::new());
            let thread = {
                let (node, options, stop, metrics, reports) = (
                    node.clone(),
                    options.clone(),
                    stop.clone(),
                    metrics.clone(),
                    reports.clone(),
                );
                netns
                    .spawn(move || run_agent(node, options, stop, metrics, reports))
                    .map_err(|e| e.to_string())?
            };
            nodes.push(Agent {
                node,
                stop,
                thread: Some(thread),
                metrics,
            });
        }
        Ok(Agents { nodes, reports })
    }

    /// Everything reported so far, in the order received.
    pub fn events(&self) -> Vec<Reported> {
        lock(&self.reports).events.clone()
    }

    /// Events the lab could not keep.
    pub fn dropped(&self) -> u64 {
        lock(&self.reports).dropped
    }

    /// The Prometheus text of one node's agent.
    pub fn metrics(&self, node: &str) -> Option<String> {
        self.nodes
            .iter()
            .find(|a| a.node == node)
            .map(|a| a.metrics.render())
    }

    /// Stops every agent and waits for it (and for its stream to deliver what is pending);
    /// returns everything they reported.
    pub async fn stop(mut self) -> Reports {
        for agent in &self.nodes {
            agent.stop.cancel();
        }
        let threads: Vec<_> = self
            .nodes
            .iter_mut()
            .filter_map(|a| a.thread.take())
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        std::mem::take(&mut *lock(&self.reports))
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        for agent in &self.nodes {
            agent.stop.cancel();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One node's agent, on its thread inside the node's namespace.
async fn run_agent(
    node: String,
    options: AgentOptions,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
    reports: Arc<Mutex<Reports>>,
) {
    let url = format!("http://{CONTROL_PLANE_ADDR}:{CONTROL_PLANE_PORT}");
    // As `probesim-agent run`: the node-proxy check's client has no retries.
    let clients = url.parse().map_err(|e| format!("{e}")).and_then(|uri| {
        let config = kube::Config::new(uri);
        let node_proxy = daemon::node_proxy::client(config.clone()).map_err(|e| e.to_string())?;
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        Ok((client, node_proxy))
    });
    let (client, node_proxy_client) = match clients {
        Ok(clients) => clients,
        Err(e) => {
            tracing::error!(node = %node, error = %e, "agent: no client");
            return;
        }
    };
    let mut tasks = JoinSet::new();
    let (shared, lifecycle) = watch::start(client.clone(), &node, &mut tasks);
    let discover = DiscoverOptions {
        node: node.clone(),
        cloud: options.cloud,
        k8s_version: None,
        what_if: options.what_if.clone(),
        base: Settings {
            cloud: Cloud::Azure,
            azure: AzureSettings::default(),
            aws: AwsSettings::default(),
        },
        sources: options.source.clone(),
    };
    let discovered = match daemon::discover(&client, &shared, &discover, &stop).await {
        Ok(Some(d)) => d,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(node = %node, error = %e, "agent: discovery failed");
            return;
        }
    };
    let stream = match &options.collector {
        Some(url) => match start_stream(url, &discovered.identity) {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::error!(node = %node, error = %e, "agent: no stream to the collector");
                return;
            }
        },
        None => None,
    };
    let stream_tx = stream.as_ref().map(|(tx, _)| tx.clone());
    // As `probesim-agent run` does: what the daemon drops travels with the stream's batches,
    // and the stream's figures are in the agent's /metrics.
    let drops = stream.as_ref().map(|(_, handle)| handle.drop_counter());
    if let Some((_, handle)) = &stream {
        metrics.stream.attach(handle.metrics());
    }
    let (events_tx, mut events_rx) = mpsc::channel::<Event>(EVENT_CAPACITY);
    let forward = {
        let node = node.clone();
        tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                if let Some(tx) = &stream_tx {
                    // The stream client batches and spools: waiting here is short.
                    let _ = tx.send(event.clone()).await;
                }
                let mut reports = lock(&reports);
                if matches!(event, Event::Result(_)) {
                    reports.results += 1;
                }
                if reports.events.len() >= MAX_KEPT_EVENTS {
                    reports.dropped += 1;
                    continue;
                }
                reports.events.push(Reported {
                    node: node.clone(),
                    received: SystemTime::now(),
                    event,
                });
            }
        })
    };
    let (source_set, sources) = match sources(&options.source, discovered.identity.cloud) {
        Ok(set) => set,
        Err(e) => {
            tracing::error!(node = %node, error = %e, "agent: no lb-source");
            return;
        }
    };
    let observe = if options.observe {
        match observer_config(discovered.identity.cloud, &options.observe_lb_networks) {
            Ok(config) => Some(config),
            Err(e) => {
                tracing::error!(node = %node, error = %e, "agent: no observer");
                return;
            }
        }
    } else {
        None
    };
    let config = DaemonConfig {
        plan: discovered.plan,
        probes_per_interval: options.probes_per_interval,
        engine: EngineConfig::default(),
        emulation: EmulationSettings::default(),
        node_proxy_interval: options.node_proxy_interval,
        sources,
        observe,
    };
    daemon::run(
        config,
        node_proxy_client,
        shared,
        lifecycle,
        metrics,
        Some(daemon::Events {
            tx: events_tx,
            drops,
        }),
        stop,
    )
    .await
    .unwrap_or_else(|e| tracing::error!(node = %node, error = %e, "agent failed"));
    let _ = forward.await;
    if let Some((tx, handle)) = stream {
        drop(tx);
        handle.shutdown().await;
    }
    tasks.abort_all();
    if let Err(e) = source_set.remove() {
        tracing::error!(node = %node, error = %e, "agent: removing lb-source");
    }
}

type Sources = Vec<(SourceMode, probesim_agent::probe::ProbeSource)>;

/// The probe sources `policy` gives `cloud`'s LBs, set up in the calling thread's namespace (the
/// node's). SYN probes leave from the LB's address when lb-source is set up.
fn sources(policy: &SourcePolicy, cloud: Cloud) -> Result<(SourceSet, Sources), String> {
    let config = SourceSetConfig::for_modes(&policy.modes_in(cloud), cloud, &[])
        .map_err(|e| e.to_string())?;
    let set = SourceSet::start(&config).map_err(|e| e.to_string())?;
    let sources = set.probe_sources();
    Ok((set, sources))
}

/// A lab node's link to the fabric, where the LB's probes arrive (lab nodes route the fabric
/// and the LB sources through it, with no default route for `observe::uplinks` to find).
pub const NODE_UPLINK: &str = "eth0";

/// The prefix length of the lab's AWS LB subnet, around [`AWS_PROBE_SOURCE`].
const AWS_LB_SUBNET_PREFIX: u8 = 24;

/// The observer of a lab node: its uplink, and the LB's source networks: `networks` if given,
/// else the lab LB's for the cloud (168.63.129.16 for Azure; for AWS the /24 subnet of the
/// address the lab's LB probes from).
fn observer_config(cloud: Cloud, networks: &[observed::Network]) -> Result<ObserverConfig, String> {
    let interfaces = vec![NODE_UPLINK.to_owned()];
    let networks = match cloud {
        _ if !networks.is_empty() => networks.to_vec(),
        Cloud::Azure => Vec::new(),
        Cloud::Aws => vec![(AWS_PROBE_SOURCE, AWS_LB_SUBNET_PREFIX)],
    };
    observed::config(
        cloud,
        interfaces,
        &networks,
        "AgentOptions::observe_lb_networks",
    )
    .map_err(|e| e.to_string())
}

/// A stream client to the lab's collector, unspooled (a lab run is short).
fn start_stream(
    url: &str,
    identity: &daemon::Identity,
) -> Result<(mpsc::Sender<Event>, probesim_agent::stream::Handle), String> {
    let mut config = probesim_agent::stream::StreamConfig::new(url, identity.node.clone());
    config.spool_dir = None;
    config.cloud = Some(identity.cloud);
    config.k8s_version = identity.k8s_version.clone();
    config.what_if_versions = identity.what_if.clone();
    let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
    let handle = probesim_agent::stream::Client::start(config, rx).map_err(|e| e.to_string())?;
    Ok((tx, handle))
}
