//! The kernel's limit: one blocking connect/close loop per core against the engine's targets,
//! with the same close mode, as fast as it goes. It runs in a process of its own
//! (`probesim-bench raw-connect`), which reports its own CPU time and peak memory.
//!
//! The same process also runs the probe-loop diagnostic: probesim's probe function called in
//! closed loops on a runtime like the engine's, so that engine − probe loop is what the
//! scheduling costs and probe loop − raw loop what async I/O and the prober cost.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use probesim_agent::lb::outcome::Phase;
use probesim_agent::probe::classify;
use serde::{Deserialize, Serialize};
use serde_json::json;
use socket2::{Domain, SockAddr, Socket, Type};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use probesim_agent::probe::tls::TlsConfigs;
use probesim_agent::probe::{self, ProbeRequest};

use crate::cli::{Close, EngineArgs, Protocol, RawConnectArgs};
use crate::engine::load;
use crate::measure;
use crate::report::{Figures, mib};
use crate::targets::TargetServers;

/// How long the child may overrun its duration before it is killed.
const CHILD_GRACE: Duration = Duration::from_secs(30);

/// What the child process prints.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ChildReport {
    probes: u64,
    elapsed_s: f64,
    cpu_s: f64,
    rss_peak_kib: u64,
    failures: BTreeMap<String, u64>,
}

/// Body of the hidden `raw-connect` subcommand.
pub fn child_main(args: &RawConnectArgs) -> anyhow::Result<()> {
    if args.ports.is_empty() || args.duration > crate::engine::MAX_DURATION {
        bail!("raw-connect needs ports and a duration of at most 10 minutes");
    }
    let addrs: Vec<SocketAddr> = args
        .ports
        .iter()
        .map(|&p| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p)))
        .collect();
    let start = Instant::now();
    let mut report = if args.probe_tasks > 0 {
        probe_loops(args, &addrs, start + args.duration)?
    } else {
        blocking_loops(args, &addrs, start + args.duration)?
    };
    report.elapsed_s = start.elapsed().as_secs_f64();
    report.cpu_s = measure::self_cpu()?.as_secs_f64();
    report.rss_peak_kib = measure::self_peak_rss_kib()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn blocking_loops(
    args: &RawConnectArgs,
    addrs: &[SocketAddr],
    deadline: Instant,
) -> anyhow::Result<ChildReport> {
    let addrs: Vec<SockAddr> = addrs.iter().map(|&a| SockAddr::from(a)).collect();
    let rst = args.close == Close::Rst;
    let timeout = args.timeout;
    let threads: Vec<_> = (0..args.threads.max(1))
        .map(|t| {
            let addrs = addrs.clone();
            std::thread::spawn(move || connect_loop(t, &addrs, rst, timeout, deadline))
        })
        .collect();
    let mut report = ChildReport::default();
    for thread in threads {
        let (probes, failures) = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a connect loop panicked"))?;
        report.probes += probes;
        for (kind, n) in failures {
            *report.failures.entry(kind.to_owned()).or_default() += n;
        }
    }
    Ok(report)
}

/// Connects and closes until `deadline`, walking the targets from `first`; returns the attempts
/// and the failures by kind.
fn connect_loop(
    first: usize,
    addrs: &[SockAddr],
    rst: bool,
    timeout: Duration,
    deadline: Instant,
) -> (u64, BTreeMap<&'static str, u64>) {
    let mut failures = BTreeMap::new();
    let mut attempts = 0u64;
    let mut i = first;
    // Reading the clock costs a vDSO call, nothing next to the four syscalls of a probe.
    while Instant::now() < deadline {
        let addr = &addrs[i % addrs.len()];
        i = i.wrapping_add(1);
        attempts += 1;
        if let Err(e) = connect_once(addr, rst, timeout) {
            *failures.entry(failure_kind(&e)).or_default() += 1;
        }
    }
    (attempts, failures)
}

/// One probe: socket, connect, close. SO_SNDTIMEO bounds connect(2) on Linux, so that every
/// loop ends on time even when a backlog overflows and SYNs are retransmitted.
fn connect_once(addr: &SockAddr, rst: bool, timeout: Duration) -> io::Result<()> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_write_timeout(Some(timeout))?;
    if rst {
        socket.set_linger(Some(Duration::ZERO))?;
    }
    socket.connect(addr)
    // Dropping the socket closes it: FIN, or RST with the zero linger.
}

fn failure_kind(e: &io::Error) -> &'static str {
    // A connect(2) cut short by SO_SNDTIMEO says EINPROGRESS.
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return "timeout";
    }
    classify::io_error(e, Phase::Connect).kind()
}

/// `tasks` loops of probesim's probe function on a runtime of `args.threads` workers, each
/// taking the next target in turn, as the engine's probes do.
fn probe_loops(
    args: &RawConnectArgs,
    addrs: &[SocketAddr],
    deadline: Instant,
) -> anyhow::Result<ChildReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let protocol = args.protocol;
    let requests: Arc<Vec<ProbeRequest>> = Arc::new(
        addrs
            .iter()
            .map(|&addr| load::probe_request(addr, protocol, args.close, args.timeout))
            .collect(),
    );
    let tls = Arc::new(TlsConfigs::new());
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = tokio::time::Instant::from_std(deadline);
    runtime.block_on(async {
        let loops: Vec<_> = (0..args.probe_tasks)
            .map(|_| {
                let (requests, tls, next) = (requests.clone(), tls.clone(), next.clone());
                tokio::spawn(async move {
                    let mut probes = 0u64;
                    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
                    while tokio::time::Instant::now() < deadline {
                        let i = next.fetch_add(1, Ordering::Relaxed) % requests.len();
                        let outcome = probe::probe(&requests[i], &tls).await.outcome;
                        probes += 1;
                        if !load::success(protocol, outcome) {
                            *failures.entry(load::failure_kind(outcome)).or_default() += 1;
                        }
                    }
                    (probes, failures)
                })
            })
            .collect();
        let mut report = ChildReport::default();
        for l in loops {
            let (probes, failures) = l.await?;
            report.probes += probes;
            for (kind, n) in failures {
                *report.failures.entry(kind).or_default() += n;
            }
        }
        Ok(report)
    })
}

/// Which loop [`measure`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Blocking connect/close on `threads` OS threads.
    Raw,
    /// probesim's probe function in `tasks` loops on a runtime of `threads` workers.
    ProbeLoop { tasks: usize },
}

/// Runs the loop on `threads` threads against the engine's targets for the run's duration, and
/// returns its figures.
pub async fn measure(
    args: &EngineArgs,
    servers: &TargetServers,
    threads: usize,
    mode: Mode,
) -> anyhow::Result<Figures> {
    // The same addresses the engine probed: targets are spread over the ports round-robin.
    let used = servers.ports().len().min(args.targets as usize);
    let ports: Vec<String> = (0..used)
        .map(|i| servers.addr(i).port().to_string())
        .collect();
    let close = match args.close {
        Close::Fin => "fin",
        Close::Rst => "rst",
    };
    let protocol = match args.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Http => "http",
    };
    let (name, tasks) = match mode {
        Mode::Raw => ("raw-connect", 0),
        Mode::ProbeLoop { tasks } => ("probe-loop", tasks.max(1)),
    };
    let exe = std::env::current_exe().context("locating the probesim-bench binary")?;
    let server_cpu_before = measure::proc_cpu(servers.pid())?;
    let own_cpu_before = measure::self_cpu()?;
    let load = measure::MachineLoad::start()?;
    let child = tokio::process::Command::new(exe)
        .args(["raw-connect", "--ports", &ports.join(",")])
        .args(["--close", close])
        .args(["--duration", &format!("{}ms", args.duration.as_millis())])
        .args(["--threads", &threads.to_string()])
        .args(["--probe-tasks", &tasks.to_string()])
        .args(["--protocol", protocol])
        .args(["--timeout", &format!("{}ms", args.timeout.as_millis())])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the raw-connect loop")?;
    let output = tokio::time::timeout(args.duration + CHILD_GRACE, child.wait_with_output())
        .await
        .context("the raw-connect loop overran its duration")??;
    let server_cpu = measure::proc_cpu(servers.pid())?.saturating_sub(server_cpu_before);
    let own_cpu = measure::self_cpu()?.saturating_sub(own_cpu_before);
    if !output.status.success() {
        bail!("the {name} loop failed: {}", output.status);
    }
    let report: ChildReport =
        serde_json::from_slice(&output.stdout).context("reading the raw-connect loop's report")?;
    let others = load.others_since(Duration::from_secs_f64(report.cpu_s) + server_cpu + own_cpu)?;

    let mut figures = Figures {
        name: name.to_owned(),
        probes: report.probes,
        rss_mib: mib(report.rss_peak_kib),
        target_server_cpu_s: server_cpu.as_secs_f64(),
        other_processes_cpu_s: others,
        ..Figures::default()
    };
    figures.derive_rates(
        Duration::from_secs_f64(report.elapsed_s),
        Duration::from_secs_f64(report.cpu_s),
    );
    for (kind, n) in &report.failures {
        figures.count_error(kind, *n);
    }
    figures.details.insert("threads".to_owned(), json!(threads));
    if tasks > 0 {
        figures.details.insert("tasks".to_owned(), json!(tasks));
    }
    Ok(figures)
}
