//! The kernel's limit: one blocking connect/close loop per core against the engine's targets,
//! with the same close mode, as fast as it goes. It runs in a process of its own
//! (`probesim-bench raw-connect`), which reports its own CPU time and peak memory.

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

use crate::cli::{Close, EngineArgs, RawConnectArgs};
use crate::measure;
use crate::report::{Figures, mib};
use crate::targets::TargetServers;

/// Bounds one connect(2) (SO_SNDTIMEO does on Linux), so that every loop ends on time even when
/// a backlog overflows and SYNs are retransmitted.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
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
    let addrs: Vec<SockAddr> = args
        .ports
        .iter()
        .map(|&p| SockAddr::from(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p))))
        .collect();
    let start = Instant::now();
    let deadline = start + args.duration;
    let rst = args.close == Close::Rst;
    let threads: Vec<_> = (0..args.threads.max(1))
        .map(|t| {
            let addrs = addrs.clone();
            std::thread::spawn(move || connect_loop(t, &addrs, rst, deadline))
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
    report.elapsed_s = start.elapsed().as_secs_f64();
    report.cpu_s = measure::self_cpu()?.as_secs_f64();
    report.rss_peak_kib = measure::self_peak_rss_kib()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Connects and closes until `deadline`, walking the targets from `first`; returns the attempts
/// and the failures by kind.
fn connect_loop(
    first: usize,
    addrs: &[SockAddr],
    rst: bool,
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
        if let Err(e) = connect_once(addr, rst) {
            *failures.entry(failure_kind(&e)).or_default() += 1;
        }
    }
    (attempts, failures)
}

fn connect_once(addr: &SockAddr, rst: bool) -> io::Result<()> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_write_timeout(Some(CONNECT_TIMEOUT))?;
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

/// Runs the raw connect loop on `threads` threads against the engine's targets for the run's
/// duration, and returns its figures.
pub async fn measure(
    args: &EngineArgs,
    servers: &TargetServers,
    threads: usize,
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
    let exe = std::env::current_exe().context("locating the probesim-bench binary")?;
    let server_cpu_before = measure::proc_cpu(servers.pid())?;
    let own_cpu_before = measure::self_cpu()?;
    let load = measure::MachineLoad::start()?;
    let child = tokio::process::Command::new(exe)
        .args(["raw-connect", "--ports", &ports.join(",")])
        .args(["--close", close])
        .args(["--duration", &format!("{}ms", args.duration.as_millis())])
        .args(["--threads", &threads.to_string()])
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
        bail!("the raw-connect loop failed: {}", output.status);
    }
    let report: ChildReport =
        serde_json::from_slice(&output.stdout).context("reading the raw-connect loop's report")?;
    let others = load.others_since(Duration::from_secs_f64(report.cpu_s) + server_cpu + own_cpu)?;

    let mut figures = Figures {
        name: "raw-connect".to_owned(),
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
    Ok(figures)
}
