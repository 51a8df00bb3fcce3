//! `probesim-agent probe`: probe given targets now with one LB's emulation and print every probe,
//! every LB state transition and a verdict. Troubleshooting on one node; no collector needed.

mod hint;
mod print;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use probesim_agent::duration;
use probesim_agent::engine::{DEFAULT_RESULT_CAPACITY, Engine, EngineConfig, TargetSpec};
use probesim_agent::lb::health::EmulationSettings;
use probesim_agent::lb::manual::{self, ManualProbe};
use probesim_agent::manifest;
use probesim_agent::model::{
    CloseMode, Cloud, LbKind, ProbePort, ProbeProtocol, ProbeSpec, TargetKind,
};
use probesim_agent::probe::ProbeRequest;
use probesim_agent::source::{SourceMode, SourceSet, SourceSetConfig};
use probesim_agent::view::LbView;
use tokio::sync::mpsc;

use super::EXIT_BAD_INPUT;
use super::settings::{DeriveArgs, SourceArgs};

/// Virtual probers sample each target this often unless told otherwise: fine enough to place an
/// LB's decision within 100 ms, cheap enough for thousands of targets.
pub const DEFAULT_RATE_PER_S: f64 = 10.0;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Target addresses (node or pod IPs); the port comes from --port or the manifest.
    #[arg(long = "target", value_name = "IP", required = true)]
    targets: Vec<IpAddr>,
    /// The load balancer to emulate (not needed with --from-manifest).
    #[arg(long, value_enum, required_unless_present = "from_manifest")]
    lb: Option<LbArg>,
    /// Probe protocol (default: the LB's).
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// Probe port; with --from-manifest it overrides the derived port (needed when that is
    /// `traffic-port` or not allocated yet).
    #[arg(long)]
    port: Option<u16>,
    /// HTTP path or gRPC method (default `/`, gRPC `/AWS.ALB/healthcheck`).
    #[arg(long)]
    path: Option<String>,
    /// LB interval in seconds.
    #[arg(long)]
    interval: Option<u32>,
    /// Timeout of one probe in seconds (default: the LB's).
    #[arg(long)]
    timeout: Option<u32>,
    /// Azure's probe threshold (sets both thresholds for AWS).
    #[arg(long)]
    threshold: Option<u32>,
    #[arg(long)]
    healthy_threshold: Option<u32>,
    #[arg(long)]
    unhealthy_threshold: Option<u32>,
    /// Success codes (ALB/NLB), e.g. `200-299` or gRPC `0`.
    #[arg(long)]
    matcher: Option<String>,
    /// Probes per second per target, spread over the LB interval by virtual probers.
    #[arg(long, env = "PROBESIM_RATE", default_value_t = DEFAULT_RATE_PER_S)]
    rate: f64,
    /// How long to probe.
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    duration: Duration,
    /// How a successful TCP probe closes: fin (as Azure) or rst (no TIME_WAIT at high rates).
    #[arg(long, value_enum, default_value = "fin")]
    close: CloseArg,
    /// Take the spec from `explain` of this manifest.
    #[arg(long, value_name = "FILE", requires = "service")]
    from_manifest: Option<PathBuf>,
    /// The Service or Ingress (NS/NAME) whose probes to run, with --from-manifest.
    #[arg(long, value_name = "NS/NAME")]
    service: Option<String>,
    /// With --from-manifest: only the rule of this Service port.
    #[arg(long)]
    rule_port: Option<i32>,
    #[command(flatten)]
    derive: DeriveArgs,
    /// Output: a line per event for people, or JSON lines.
    #[arg(short, long, value_enum, default_value = "table")]
    output: print::Output,
    /// Print only transitions and the verdict, not every probe.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    sources: SourceArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LbArg {
    Azure,
    Alb,
    Nlb,
    Clb,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProtocolArg {
    Tcp,
    Http,
    Https,
    Grpc,
    Ssl,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CloseArg {
    Fin,
    Rst,
}

/// One (spec, address) the command probes.
#[derive(Debug)]
pub struct Planned {
    pub label: String,
    pub spec: Arc<ProbeSpec>,
    pub addr: SocketAddr,
    pub source: SourceMode,
}

pub fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let planned = match plan(&args) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    if !(args.rate.is_finite() && args.rate > 0.0) {
        eprintln!("error: --rate {}: must be a positive number", args.rate);
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    let config = match source_config(&args, &planned) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Set up (and later removed) in this thread's namespace, where the probes run.
        let sources = SourceSet::start(&config)?;
        probe_all(planned, &args, &sources).await?;
        sources.remove()?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What the planned probes' sources need set up; an error names the flag and value that do not
/// fit (a raw SYN probe asked for a probe that is not TCP).
fn source_config(args: &ProbeArgs, planned: &[Planned]) -> Result<SourceSetConfig, String> {
    let cloud = planned.first().map_or(Cloud::Azure, |p| p.spec.lb.cloud());
    if let Some(p) = planned
        .iter()
        .find(|p| p.source == SourceMode::Syn && p.spec.protocol != ProbeProtocol::Tcp)
    {
        return Err(format!(
            "--source syn: probes TCP only, and {} is probed with {}",
            p.addr, p.spec.protocol
        ));
    }
    let modes: BTreeSet<SourceMode> = planned.iter().map(|p| p.source).collect();
    args.sources.config_for(cloud, &modes)
}

async fn probe_all(
    planned: Vec<Planned>,
    args: &ProbeArgs,
    sources: &SourceSet,
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel(DEFAULT_RESULT_CAPACITY);
    let engine = Engine::start(EngineConfig::default(), tx);
    let mut view = LbView::new(EmulationSettings::default());
    let mut out = print::Printer::new(args.output, args.quiet);
    for (id, p) in planned.iter().enumerate() {
        let id = id as u64;
        let mut request = ProbeRequest::for_spec(&p.spec, p.addr);
        request.source = sources.for_mode(p.source)?;
        if matches!(args.close, CloseArg::Rst) {
            Arc::make_mut(&mut request.wire).close = CloseMode::Rst;
        }
        view.add(id, p.spec.clone());
        engine.upsert(
            id,
            TargetSpec {
                request,
                interval: Duration::from_secs(u64::from(p.spec.interval_s)),
                rate_per_s: args.rate,
            },
        );
        out.start(p);
    }
    let stop = tokio::time::sleep(args.duration);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tokio::signal::ctrl_c() => break,
            record = rx.recv() => {
                let Some(record) = record else { break };
                let Some(p) = planned.get(record.target as usize) else { continue };
                if let Some(judged) = view.observe(&record) {
                    out.probe(p, &record, &judged, &view)?;
                }
            }
        }
    }
    let stats = engine.stats();
    engine.shutdown().await;
    for (id, p) in planned.iter().enumerate() {
        let summary = view.summary(id as u64);
        let hint = match &summary {
            Some(s) => hint::diagnose(p, s, &out.last_failure(id as u64)).await,
            None => None,
        };
        out.summary(id as u64, p, summary.as_ref(), hint.as_deref(), &view)?;
    }
    out.stats(&stats)?;
    Ok(())
}

/// The probes to run: from the flags, or from a manifest's derived rules.
fn plan(args: &ProbeArgs) -> Result<Vec<Planned>, String> {
    let specs: Vec<(String, ProbeSpec)> = match &args.from_manifest {
        None => {
            let lb = match args.lb {
                Some(LbArg::Azure) => LbKind::AzureLb,
                Some(LbArg::Alb) => LbKind::Alb,
                Some(LbArg::Nlb) => LbKind::Nlb,
                Some(LbArg::Clb) => LbKind::Clb,
                None => return Err("--lb is required without --from-manifest".into()),
            };
            let port = args
                .port
                .ok_or("--port is required without --from-manifest")?;
            let given = ManualProbe {
                protocol: args.protocol.map(protocol),
                port,
                path: args.path.clone(),
                interval_s: args.interval,
                timeout_s: args.timeout,
                threshold: args.threshold,
                healthy_threshold: args.healthy_threshold,
                unhealthy_threshold: args.unhealthy_threshold,
                matcher: args.matcher.clone(),
                target: None,
            };
            vec![(String::new(), manual::spec(lb, &given)?)]
        }
        Some(file) => from_manifest(args, file)?,
    };
    let policy = args.sources.policy()?;
    let mut planned = Vec::new();
    for (label, spec) in specs {
        let port = match (spec.port, args.port) {
            (_, Some(port)) => port,
            (ProbePort::Number(n), None) => n,
            (other, None) => {
                return Err(format!(
                    "{}: the probe goes to {other}, which the manifest does not give; pass \
                     --port with the {} port to probe",
                    match spec.target {
                        TargetKind::Node => "NodePort (or health-check node port)",
                        TargetKind::Pod => "pod's targetPort",
                    },
                    if label.is_empty() {
                        "probe"
                    } else {
                        label.as_str()
                    }
                ));
            }
        };
        let spec = Arc::new(ProbeSpec {
            port: ProbePort::Number(port),
            ..spec
        });
        for ip in &args.targets {
            for &source in policy.modes_for(spec.lb) {
                planned.push(Planned {
                    label: label.clone(),
                    spec: spec.clone(),
                    addr: SocketAddr::new(*ip, port),
                    source,
                });
            }
        }
    }
    Ok(planned)
}

fn from_manifest(args: &ProbeArgs, file: &PathBuf) -> Result<Vec<(String, ProbeSpec)>, String> {
    let loaded = manifest::load_paths(std::slice::from_ref(file)).map_err(|e| e.to_string())?;
    let (settings, _) = args.derive.resolve(&loaded.objects)?;
    let wanted = args.service.as_deref().unwrap_or("");
    let (ns, name) = wanted
        .split_once('/')
        .ok_or_else(|| format!("--service {wanted:?}: expected NAMESPACE/NAME"))?;
    let results = probesim_agent::lb::derive(&loaded.objects, &settings);
    let result = results
        .iter()
        .find(|r| r.object.namespace == ns && r.object.name == name)
        .ok_or_else(|| {
            let known: Vec<String> = results.iter().map(|r| r.object.to_string()).collect();
            format!(
                "--service {wanted}: no load-balanced Service or Ingress of that name for {} in {} \
                 (found: {})",
                settings.cloud,
                file.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })?;
    if !result.errors.is_empty() {
        return Err(format!(
            "{}: the controller would reject it: {}",
            result.object,
            result.errors.join("; ")
        ));
    }
    let specs: Vec<(String, ProbeSpec)> = result
        .rules
        .iter()
        .filter(|r| args.rule_port.is_none_or(|p| p == r.port))
        .filter_map(|r| {
            let probe = r.probe.clone()?;
            Some((format!("{} port {}", result.object, r.port), probe))
        })
        .collect();
    if specs.is_empty() {
        return Err(format!("{}: no rule with a probe matches", result.object));
    }
    Ok(specs)
}

fn protocol(p: ProtocolArg) -> ProbeProtocol {
    match p {
        ProtocolArg::Tcp => ProbeProtocol::Tcp,
        ProtocolArg::Http => ProbeProtocol::Http,
        ProtocolArg::Https => ProbeProtocol::Https,
        ProtocolArg::Grpc => ProbeProtocol::Grpc,
        ProtocolArg::Ssl => ProbeProtocol::Ssl,
    }
}
