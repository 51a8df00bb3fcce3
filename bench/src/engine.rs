//! `probesim-bench engine`: the probe engine against loopback targets, then the baseline
//! against the same targets, in one run. The targets are served by a child process; every load
//! loop stops by itself after the run's duration.

pub mod load;

use std::time::Duration;

use anyhow::bail;

use crate::baseline::{blackbox, raw_connect};
use crate::cli::{Baseline, EngineArgs};
use crate::measure;
use crate::report::{Params, Report};
use crate::targets::TargetServers;

/// The longest run accepted: every load loop is bounded.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// The most targets accepted (their ids stay below the engine sync targets').
pub const MAX_TARGETS: u32 = 10_000_000;
/// How long the target servers outlive the run's phases at most, should the harness be lost.
const SERVER_GRACE: Duration = Duration::from_secs(120);

fn validate(args: &EngineArgs) -> anyhow::Result<()> {
    if args.targets == 0 || args.targets > MAX_TARGETS {
        bail!("--targets must be within 1..={MAX_TARGETS}");
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number of probes per second");
    }
    if args.duration.is_zero() || args.duration > MAX_DURATION {
        bail!("--duration must be within (0, {MAX_DURATION:?}]");
    }
    if args.ports == 0 {
        bail!("--ports must be at least 1");
    }
    if args.interval.is_zero() || args.timeout.is_zero() {
        bail!("--interval and --timeout must be positive");
    }
    if args.blackbox_clients == 0 {
        bail!("--blackbox-clients must be at least 1");
    }
    Ok(())
}

pub fn workers(args: &EngineArgs) -> usize {
    args.workers.unwrap_or_else(measure::cores).max(1)
}

/// Runs the whole benchmark; call it on a multi-thread runtime with [`workers`] workers.
pub async fn benchmark(args: &EngineArgs) -> anyhow::Result<Report> {
    validate(args)?;
    // Find the baseline's binary before measuring anything, so that a missing one fails fast.
    let blackbox_bin = match args.baseline {
        Some(Baseline::Blackbox) => Some(blackbox::locate(&args.blackbox_bin)?),
        _ => None,
    };
    let phases = if args.baseline.is_some() { 2 } else { 1 };
    let lifetime = args.duration * phases + SERVER_GRACE;
    let cores = measure::cores();
    let servers = TargetServers::spawn(
        args.protocol,
        args.ports,
        args.server_threads.unwrap_or(cores),
        lifetime,
    )?;

    let engine = load::run(args, &servers).await?;

    let baseline = match args.baseline {
        None => None,
        Some(Baseline::RawConnect) => Some((
            Baseline::RawConnect,
            raw_connect::measure(args, &servers, cores, raw_connect::Mode::Raw).await?,
        )),
        Some(Baseline::ProbeLoop) => Some((
            Baseline::ProbeLoop,
            raw_connect::measure(
                args,
                &servers,
                workers(args),
                raw_connect::Mode::ProbeLoop {
                    tasks: args.probe_loop_tasks,
                },
            )
            .await?,
        )),
        Some(Baseline::Blackbox) => {
            let bin = blackbox_bin.unwrap_or_default();
            Some((
                Baseline::Blackbox,
                blackbox::measure(args, &servers, &bin).await?,
            ))
        }
    };
    drop(servers);

    let per_target = args.rate / f64::from(args.targets);
    let (interval, probers) = load::sampling(per_target, args.interval);
    let params = Params {
        protocol: args.protocol,
        targets: args.targets,
        ports: args.ports,
        rate: args.rate,
        scheduled_rate: f64::from(probers) * f64::from(args.targets) / interval.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        close: args.close,
        interval_s: interval.as_secs_f64(),
        probers_per_target: probers,
        timeout_s: args.timeout.as_secs_f64(),
        workers: workers(args),
        cores,
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        cpu_model: cpu_model(),
    };
    Ok(Report::new(params, engine, baseline))
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    read_trimmed("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_default()
}
