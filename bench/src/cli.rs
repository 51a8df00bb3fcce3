//! The command line: `probesim-bench engine ...`, and the hidden subcommands the harness runs in
//! its child processes.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use probesim_agent::model::CloseMode;
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(
    name = "probesim-bench",
    version,
    about = "Benchmarks of probesim against its baselines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drives the probe engine against loopback targets and, with --baseline, a baseline
    /// against the same targets in the same run.
    Engine(EngineArgs),
    /// Serves loopback targets until stdin closes (the harness's child process).
    #[command(hide = true)]
    ServeTargets(ServeArgs),
    /// Connects and closes as fast as it can (the raw-connect and probe-loop baselines' process).
    #[command(hide = true)]
    RawConnect(RawConnectArgs),
    /// Drives the collector's gRPC ingest with simulated agents.
    Collector(CollectorArgs),
    /// Serves the collector's ingest until stdin closes (the collector benchmark's child).
    #[command(hide = true)]
    CollectorServer(CollectorServerArgs),
}

/// What the benchmarked collector stores batches in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Counts and forgets: ingest's own cost.
    Counting,
    /// The collector's SQLite store, in a temporary directory.
    Sqlite,
}

#[derive(Clone, Debug, Args)]
pub struct CollectorArgs {
    /// Simulated agents, each with its own connection and stream.
    #[arg(long, default_value_t = 100, env = "PROBESIM_BENCH_AGENTS")]
    pub agents: usize,
    /// How long the load is measured, once every agent is connected.
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "PROBESIM_BENCH_DURATION")]
    pub duration: Duration,
    /// Print one JSON object instead of a summary.
    #[arg(long, env = "PROBESIM_BENCH_JSON")]
    pub json: bool,
    /// Results per batch (the agent seals batches at 5 000 events).
    #[arg(long, default_value_t = probesim_agent::stream::DEFAULT_MAX_BATCH_EVENTS, env = "PROBESIM_BENCH_RESULTS_PER_BATCH")]
    pub results_per_batch: usize,
    /// Total results per second over all agents; without it, agents send as fast as acks allow.
    #[arg(long, env = "PROBESIM_BENCH_RESULTS_RATE")]
    pub rate: Option<f64>,
    /// Unacknowledged batches per agent (the agent's default).
    #[arg(long, default_value_t = probesim_agent::stream::DEFAULT_MAX_IN_FLIGHT, env = "PROBESIM_BENCH_IN_FLIGHT")]
    pub in_flight: usize,
    #[arg(
        long,
        value_enum,
        default_value = "counting",
        env = "PROBESIM_BENCH_SINK"
    )]
    pub sink: SinkKind,
    /// Worker threads of the collector; defaults to the number of cores.
    #[arg(long, env = "PROBESIM_BENCH_COLLECTOR_THREADS")]
    pub collector_threads: Option<usize>,
    /// Worker threads of the simulated agents.
    #[arg(long, default_value_t = 1, env = "PROBESIM_BENCH_CLIENT_THREADS")]
    pub client_threads: usize,
}

#[derive(Clone, Debug, Args)]
pub struct CollectorServerArgs {
    #[arg(long)]
    pub threads: usize,
    #[arg(long, value_enum)]
    pub sink: SinkKind,
    /// Exit after this long whatever happens, so that a lost parent leaves nothing behind.
    #[arg(long, value_parser = parse_duration)]
    pub lifetime: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Http,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Close {
    Fin,
    Rst,
}

impl From<Close> for CloseMode {
    fn from(c: Close) -> CloseMode {
        match c {
            Close::Fin => CloseMode::Fin,
            Close::Rst => CloseMode::Rst,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// Blocking connect/close loops on as many threads as cores: the kernel's limit.
    RawConnect,
    /// Debian's prometheus-blackbox-exporter, asked as fast as a driver can ask it.
    Blackbox,
    /// probesim's own probe function in closed loops on a runtime like the engine's, without
    /// the engine's scheduler: a diagnostic that tells what the scheduling costs.
    ProbeLoop,
}

/// The LB interval each target's probers are spread over when it is not given: Azure's default
/// probe interval. The interval is stretched so that every target has a whole number of virtual
/// probers and the scheduled rate is exactly the one asked.
pub const DEFAULT_INTERVAL: &str = "5s";
/// Listening ports the targets are spread over: enough that the TIME_WAIT tuples of a 10 s run
/// at the machine's capacity fit in the ephemeral range.
pub const DEFAULT_PORTS: u16 = 16;
/// Concurrent probe loops of the probe-loop diagnostic: enough to keep every worker busy while
/// loopback handshakes complete.
pub const DEFAULT_PROBE_LOOP_TASKS: usize = 64;
/// Concurrent keep-alive clients asking blackbox_exporter for probes: enough to keep every core
/// of this size of machine busy.
pub const DEFAULT_BLACKBOX_CLIENTS: usize = 32;

#[derive(Clone, Debug, Args)]
pub struct EngineArgs {
    #[arg(
        long,
        value_enum,
        default_value = "tcp",
        env = "PROBESIM_BENCH_PROTOCOL"
    )]
    pub protocol: Protocol,
    /// Targets (probed address + port pairs as the engine sees them).
    #[arg(long, default_value_t = 100, env = "PROBESIM_BENCH_TARGETS")]
    pub targets: u32,
    /// Probes per second over all targets; each target gets rate / targets.
    #[arg(long, default_value_t = 1000.0, env = "PROBESIM_BENCH_RATE")]
    pub rate: f64,
    /// How long the load runs, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "PROBESIM_BENCH_DURATION")]
    pub duration: Duration,
    #[arg(long, value_enum, default_value = "fin", env = "PROBESIM_BENCH_CLOSE")]
    pub close: Close,
    /// Also measure a baseline against the same targets, after the engine.
    #[arg(long, value_enum, env = "PROBESIM_BENCH_BASELINE")]
    pub baseline: Option<Baseline>,
    /// Print one JSON object instead of a summary.
    #[arg(long, env = "PROBESIM_BENCH_JSON")]
    pub json: bool,
    /// Listening ports the targets are spread over (all on 127.0.0.1).
    #[arg(long, default_value_t = DEFAULT_PORTS, env = "PROBESIM_BENCH_PORTS")]
    pub ports: u16,
    /// Base LB interval of each target's virtual probers.
    #[arg(long, default_value = DEFAULT_INTERVAL, value_parser = parse_duration, env = "PROBESIM_BENCH_INTERVAL")]
    pub interval: Duration,
    /// Timeout of one probe.
    #[arg(long, default_value = "2s", value_parser = parse_duration, env = "PROBESIM_BENCH_TIMEOUT")]
    pub timeout: Duration,
    /// Worker threads of the engine's runtime; defaults to the number of cores.
    #[arg(long, env = "PROBESIM_BENCH_WORKERS")]
    pub workers: Option<usize>,
    /// Worker threads of the target servers; defaults to the number of cores.
    #[arg(long, env = "PROBESIM_BENCH_SERVER_THREADS")]
    pub server_threads: Option<usize>,
    /// The engine's bound on probes in flight; defaults to the engine's own default.
    #[arg(long, env = "PROBESIM_BENCH_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Concurrent keep-alive clients driving blackbox_exporter.
    #[arg(long, default_value_t = DEFAULT_BLACKBOX_CLIENTS, env = "PROBESIM_BENCH_BLACKBOX_CLIENTS")]
    pub blackbox_clients: usize,
    /// Concurrent loops of the probe-loop diagnostic.
    #[arg(long, default_value_t = DEFAULT_PROBE_LOOP_TASKS, env = "PROBESIM_BENCH_PROBE_LOOP_TASKS")]
    pub probe_loop_tasks: usize,
    /// The blackbox_exporter binary.
    #[arg(
        long,
        default_value = "prometheus-blackbox-exporter",
        env = "PROBESIM_BENCH_BLACKBOX_BIN"
    )]
    pub blackbox_bin: String,
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    #[arg(long)]
    pub ports: u16,
    #[arg(long)]
    pub threads: usize,
    /// Exit after this long whatever happens, so that a lost parent leaves nothing behind.
    #[arg(long, value_parser = parse_duration)]
    pub lifetime: Duration,
}

#[derive(Clone, Debug, Args)]
pub struct RawConnectArgs {
    /// Comma-separated ports on 127.0.0.1.
    #[arg(long, value_delimiter = ',', required = true)]
    pub ports: Vec<u16>,
    #[arg(long, value_enum)]
    pub close: Close,
    #[arg(long, value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long)]
    pub threads: usize,
    /// 0: blocking connect/close loops, one per thread. N > 0: N loops of probesim's probe
    /// function on a runtime with `threads` workers.
    #[arg(long, default_value_t = 0)]
    pub probe_tasks: usize,
    #[arg(long, value_enum, default_value = "tcp")]
    pub protocol: Protocol,
    /// Timeout of one probe (probe loops) or one connect (blocking loops).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Parses `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 10s or 500ms"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}` (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{s}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_engine_command_takes_the_documented_flags() {
        let cli = Cli::try_parse_from([
            "probesim-bench",
            "engine",
            "--protocol",
            "http",
            "--targets",
            "10",
            "--rate",
            "2000",
            "--duration",
            "10s",
            "--close",
            "rst",
            "--baseline",
            "raw-connect",
            "--json",
        ])
        .expect("parse");
        let Command::Engine(args) = cli.command else {
            panic!("not engine")
        };
        assert_eq!(args.protocol, Protocol::Http);
        assert_eq!(args.targets, 10);
        assert_eq!(args.close, Close::Rst);
        assert_eq!(args.baseline, Some(Baseline::RawConnect));
        assert!(args.json);
    }
}
