//! What one run prints: the engine's figures, the baseline's beside them, the ratios the goals
//! are stated in, and whether each goal is met.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::cli::{Baseline, Close, Protocol};

/// What one prober (the engine or a baseline) achieved over one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figures {
    pub name: String,
    /// Probes that completed within the run (successful or not).
    pub probes: u64,
    pub elapsed_s: f64,
    pub probes_per_s: f64,
    /// CPU seconds (user + system) of the prober's process only.
    pub cpu_s: f64,
    pub cpu_s_per_1k_probes: Option<f64>,
    pub probes_per_cpu_s: Option<f64>,
    /// Probe start − due; `None` for a prober without a schedule.
    pub lateness_p50_ms: Option<f64>,
    pub lateness_p99_ms: Option<f64>,
    pub lateness_max_ms: Option<f64>,
    /// Peak resident memory of the prober's process.
    pub rss_mib: f64,
    /// Resident memory growth per target once they are configured, before any load.
    pub rss_per_target_kib: Option<f64>,
    /// Failed probes (not Connected for TCP, not HTTP 200 for HTTP) plus probes the prober
    /// skipped or whose result it dropped.
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    /// CPU seconds the target servers spent answering this prober.
    pub target_server_cpu_s: f64,
    /// CPU seconds the rest of the machine (anything but the prober, its driver and the target
    /// servers) took meanwhile: on a shared machine, the figures are worth what this leaves.
    pub other_processes_cpu_s: f64,
    /// Prober-specific details (threads, clients, engine counters).
    #[serde(flatten)]
    pub details: BTreeMap<String, serde_json::Value>,
}

impl Figures {
    /// Fills the rates from the counts, CPU time and elapsed time.
    pub fn derive_rates(&mut self, elapsed: Duration, cpu: Duration) {
        self.elapsed_s = elapsed.as_secs_f64();
        self.cpu_s = cpu.as_secs_f64();
        self.probes_per_s = if self.elapsed_s > 0.0 {
            self.probes as f64 / self.elapsed_s
        } else {
            0.0
        };
        if self.probes > 0 {
            self.cpu_s_per_1k_probes = Some(self.cpu_s * 1000.0 / self.probes as f64);
        }
        if self.cpu_s > 0.0 {
            self.probes_per_cpu_s = Some(self.probes as f64 / self.cpu_s);
        }
    }

    pub fn count_error(&mut self, kind: &str, n: u64) {
        if n > 0 {
            self.errors += n;
            *self.error_kinds.entry(kind.to_owned()).or_default() += n;
        }
    }
}

/// The run's parameters and the machine.
#[derive(Clone, Debug, Serialize)]
pub struct Params {
    pub protocol: Protocol,
    pub targets: u32,
    pub ports: u16,
    /// Probes per second asked, over all targets.
    pub rate: f64,
    /// Probes per second the engine schedules (rate, rounded to whole virtual probers).
    pub scheduled_rate: f64,
    pub duration_s: f64,
    pub close: Close,
    pub interval_s: f64,
    pub probers_per_target: u32,
    pub timeout_s: f64,
    pub workers: usize,
    pub cores: usize,
    pub kernel: String,
    pub cpu_model: String,
}

/// The ratios the goals are stated in; present only when the baseline makes them meaningful.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Comparison {
    /// Engine probes/s ÷ baseline probes/s.
    pub rate_ratio: Option<f64>,
    /// Engine probes per CPU-second ÷ baseline probes per CPU-second.
    pub probes_per_cpu_s_ratio: Option<f64>,
}

/// The project's goals; `None` where this run does not measure one.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Goals {
    /// TCP probes/s ≥ 70 % of the raw connect loop's, judged on runs asked above capacity.
    pub tcp_rate_ge_70pct_of_raw_connect: Option<bool>,
    /// HTTP probes per CPU-second ≥ 10 × blackbox_exporter's, judged on runs where the engine
    /// did at least as many probes per second as the exporter.
    pub http_probes_per_cpu_s_ge_10x_blackbox: Option<bool>,
    /// Lateness p99 ≤ 2 ms, judged on runs at 20 000 probes/s or more that the engine holds.
    pub lateness_p99_le_2ms_at_20k: Option<bool>,
    /// ≤ 4 KiB per idle target, judged on runs with 10 000 targets or more.
    pub rss_per_idle_target_le_4kib: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub benchmark: &'static str,
    #[serde(flatten)]
    pub params: Params,
    /// Whether the engine did at least 98 % of the probes it scheduled: below, the run measured
    /// its capacity, and lateness is the queue's, not the schedule's.
    pub rate_held: bool,
    #[serde(flatten)]
    pub engine: Figures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Figures>,
    pub comparison: Comparison,
    pub goals: Goals,
}

/// Fewest targets over which the memory per idle target is judged: RSS grows in 4 KiB pages
/// and allocator arenas, so fewer targets measure the allocator, not the engine.
const MIN_TARGETS_FOR_MEMORY_GOAL: u32 = 10_000;
/// A run "holds" its rate when it completes at least this share of the scheduled probes.
const HELD_RATE_SHARE: f64 = 0.98;

impl Report {
    pub fn new(params: Params, engine: Figures, baseline: Option<(Baseline, Figures)>) -> Report {
        let mut comparison = Comparison::default();
        let mut goals = Goals::default();
        let rate_held = engine.probes_per_s >= HELD_RATE_SHARE * params.scheduled_rate;
        if let Some((kind, b)) = &baseline {
            if b.probes_per_s > 0.0 {
                comparison.rate_ratio = Some(engine.probes_per_s / b.probes_per_s);
            }
            if let (Some(e), Some(b)) = (engine.probes_per_cpu_s, b.probes_per_cpu_s) {
                comparison.probes_per_cpu_s_ratio = Some(e / b);
            }
            match (params.protocol, kind) {
                // Rates compare as capacities: only when the engine was asked more than it did.
                (Protocol::Tcp, Baseline::RawConnect) if !rate_held => {
                    goals.tcp_rate_ge_70pct_of_raw_connect =
                        comparison.rate_ratio.map(|r| r >= 0.70);
                }
                // Cost per probe falls with the rate (wake-ups are shared by more probes): judged
                // only when the engine ran at least as many probes per second as the exporter.
                (Protocol::Http, Baseline::Blackbox) if engine.probes_per_s >= b.probes_per_s => {
                    goals.http_probes_per_cpu_s_ge_10x_blackbox =
                        comparison.probes_per_cpu_s_ratio.map(|r| r >= 10.0);
                }
                _ => {}
            }
        }
        if params.scheduled_rate >= 20_000.0 && rate_held {
            goals.lateness_p99_le_2ms_at_20k = engine.lateness_p99_ms.map(|p| p <= 2.0);
        }
        // Page-sized steps make the growth per target meaningless over a few targets.
        if params.targets >= MIN_TARGETS_FOR_MEMORY_GOAL {
            goals.rss_per_idle_target_le_4kib = engine.rss_per_target_kib.map(|k| k <= 4.0);
        }
        Report {
            benchmark: "engine",
            params,
            rate_held,
            engine,
            baseline: baseline.map(|(_, f)| f),
            comparison,
            goals,
        }
    }

    /// A few lines for a person; `--json` prints the whole report instead.
    pub fn summary(&self) -> String {
        let p = &self.params;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:?} probes, {} targets on {} ports, {} probes/s asked ({} scheduled) for {:.1} s, close {:?}, {} workers on {} cores",
            p.protocol,
            p.targets,
            p.ports,
            p.rate,
            p.scheduled_rate,
            p.duration_s,
            p.close,
            p.workers,
            p.cores
        );
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>12} {:>12} {:>9} {:>9} {:>8} {:>10} {:>8}",
            "prober",
            "probes/s",
            "cpu s/1k",
            "probes/cpu s",
            "late p50",
            "late p99",
            "rss MiB",
            "KiB/target",
            "errors"
        );
        for f in std::iter::once(&self.engine).chain(self.baseline.as_ref()) {
            let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
            let _ = writeln!(
                out,
                "{:<12} {:>10.0} {:>12.4} {:>12.0} {:>9} {:>9} {:>8.1} {:>10} {:>8}",
                f.name,
                f.probes_per_s,
                f.cpu_s_per_1k_probes.unwrap_or(f64::NAN),
                f.probes_per_cpu_s.unwrap_or(f64::NAN),
                ms(f.lateness_p50_ms),
                ms(f.lateness_p99_ms),
                f.rss_mib,
                f.rss_per_target_kib
                    .map_or("-".to_owned(), |v| format!("{v:.2}")),
                f.errors
            );
        }
        if let Ok(goals) = serde_json::to_string(&self.goals) {
            let _ = writeln!(out, "goals: {goals}");
        }
        out
    }
}

pub fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(protocol: Protocol, targets: u32, scheduled_rate: f64) -> Params {
        Params {
            protocol,
            targets,
            ports: 16,
            rate: scheduled_rate,
            scheduled_rate,
            duration_s: 10.0,
            close: Close::Fin,
            interval_s: 5.0,
            probers_per_target: 1,
            timeout_s: 2.0,
            workers: 2,
            cores: 2,
            kernel: String::new(),
            cpu_model: String::new(),
        }
    }

    fn figures(probes_per_s: f64, probes_per_cpu_s: f64, p99_ms: Option<f64>) -> Figures {
        Figures {
            probes_per_s,
            probes_per_cpu_s: Some(probes_per_cpu_s),
            lateness_p99_ms: p99_ms,
            rss_per_target_kib: Some(0.9),
            ..Figures::default()
        }
    }

    #[test]
    fn each_goal_is_judged_only_on_the_runs_that_measure_it() {
        // TCP asked above capacity against raw connect: the rate goal is judged, not lateness.
        let r = Report::new(
            params(Protocol::Tcp, 100, 100_000.0),
            figures(60_000.0, 40_000.0, Some(700.0)),
            Some((Baseline::RawConnect, figures(90_000.0, 75_000.0, None))),
        );
        assert!(!r.rate_held);
        assert_eq!(r.goals.tcp_rate_ge_70pct_of_raw_connect, Some(false));
        assert_eq!(r.goals.lateness_p99_le_2ms_at_20k, None);
        assert_eq!(r.goals.rss_per_idle_target_le_4kib, None);

        // A held TCP rate does not measure capacity.
        let r = Report::new(
            params(Protocol::Tcp, 10_000, 20_000.0),
            figures(19_990.0, 30_000.0, Some(1.9)),
            Some((Baseline::RawConnect, figures(90_000.0, 75_000.0, None))),
        );
        assert!(r.rate_held);
        assert_eq!(r.goals.tcp_rate_ge_70pct_of_raw_connect, None);
        assert_eq!(r.goals.lateness_p99_le_2ms_at_20k, Some(true));
        assert_eq!(r.goals.rss_per_idle_target_le_4kib, Some(true));

        // HTTP against blackbox: judged when the engine did at least the exporter's rate.
        let r = Report::new(
            params(Protocol::Http, 100, 15_000.0),
            figures(15_000.0, 24_000.0, Some(1.9)),
            Some((Baseline::Blackbox, figures(3_000.0, 1_800.0, None))),
        );
        assert_eq!(r.goals.http_probes_per_cpu_s_ge_10x_blackbox, Some(true));
        let ratio = r.comparison.probes_per_cpu_s_ratio.expect("ratio");
        assert!((ratio - 24_000.0 / 1_800.0).abs() < 1e-9);
        let r = Report::new(
            params(Protocol::Http, 100, 100.0),
            figures(100.0, 5_000.0, Some(1.9)),
            Some((Baseline::Blackbox, figures(3_000.0, 1_800.0, None))),
        );
        assert_eq!(r.goals.http_probes_per_cpu_s_ge_10x_blackbox, None);
    }
}
