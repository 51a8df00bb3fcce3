//! What `probe` prints: one line per probe and per transition, then a verdict per target; or the
//! same as JSON lines.

use std::collections::HashMap;
use std::io::Write;

use clap::ValueEnum;
use probesim_agent::clock;
use probesim_agent::engine::{ProbeRecord, StatsSnapshot};
use probesim_agent::explain::describe;
use probesim_agent::lb::health::{LbState, Transition};
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::view::{Judged, LbView, TargetSummary};
use serde_json::json;

use super::Planned;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// The last failure seen per target: what the verdict is explained with.
pub type LastFailure = Option<(Outcome, String)>;

pub struct Printer {
    output: Output,
    quiet: bool,
    last_failure: HashMap<u64, (Outcome, String)>,
    out: std::io::Stdout,
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl Printer {
    pub fn new(output: Output, quiet: bool) -> Printer {
        Printer {
            output,
            quiet,
            last_failure: HashMap::new(),
            out: std::io::stdout(),
        }
    }

    pub fn last_failure(&self, id: u64) -> LastFailure {
        self.last_failure.get(&id).cloned()
    }

    fn line(&mut self, text: &str) -> std::io::Result<()> {
        let mut out = self.out.lock();
        writeln!(out, "{text}")
    }

    pub fn start(&mut self, p: &Planned) {
        if self.output == Output::Table {
            let _ = self.line(&format!(
                "probing {}as {} would: {} to {}, {}, from {}",
                if p.label.is_empty() {
                    String::new()
                } else {
                    format!("{} ", p.label)
                },
                p.spec.lb,
                describe::what(&p.spec),
                p.addr,
                describe::when(&p.spec),
                p.source.as_str()
            ));
        }
    }

    pub fn probe(
        &mut self,
        p: &Planned,
        record: &ProbeRecord,
        judged: &Judged,
        view: &LbView,
    ) -> std::io::Result<()> {
        let outcome = record.measurement.outcome;
        if let Some(reason) = judged
            .verdict
            .reason()
            .filter(|_| judged.verdict.is_failure())
        {
            self.last_failure
                .insert(record.target, (outcome, reason.to_string()));
        }
        if !self.quiet {
            let t = &record.measurement.timings;
            match self.output {
                Output::Table => {
                    let verdict = match judged.verdict.reason() {
                        Some(reason) if !judged.verdict.is_success() => {
                            format!("{}: {reason}", judged.verdict.kind())
                        }
                        _ => judged.verdict.kind().to_owned(),
                    };
                    self.line(&format!(
                        "{}  {}  p{:02}/{}  {:<28}  {:>8.1}ms  {verdict}",
                        clock::time_of_day(record.started_at),
                        p.addr,
                        record.prober,
                        record.probers,
                        outcome.to_string(),
                        ms(t.total),
                    ))?;
                }
                Output::Json => {
                    let status = match outcome {
                        Outcome::HttpStatus(s) => Some(u32::from(s)),
                        Outcome::GrpcStatus { code, .. } => Some(code),
                        _ => None,
                    };
                    self.line(
                        &json!({
                            "type": "probe",
                            "time": clock::rfc3339(record.started_at),
                            "target": p.addr.to_string(),
                            "lb": p.spec.lb,
                            "source": p.source.as_str(),
                            "prober": record.prober,
                            "probers": record.probers,
                            "outcome": outcome.kind(),
                            "status": status,
                            "duration_ms": ms(t.total),
                            "connect_ms": t.connect.map(ms),
                            "tls_ms": t.tls.map(ms),
                            "first_byte_ms": t.first_byte.map(ms),
                            "lateness_ms": ms(record.lateness),
                            "verdict": judged.verdict.kind(),
                            "reason": judged.verdict.reason().map(|r| r.code()),
                        })
                        .to_string(),
                    )?;
                }
            }
        }
        if let Some(t) = judged.transition {
            self.transition(p, record, &t, view)?;
        }
        Ok(())
    }

    fn transition(
        &mut self,
        p: &Planned,
        record: &ProbeRecord,
        t: &Transition,
        view: &LbView,
    ) -> std::io::Result<()> {
        let when = view.wall(t.at);
        match self.output {
            Output::Table => {
                let reason = t
                    .reason
                    .map(|r| format!(" ({}: {r})", r.code()))
                    .unwrap_or_default();
                self.line(&format!(
                    "{}  {}  p{:02}/{}  {} -> {}{reason}",
                    clock::time_of_day(when),
                    p.addr,
                    record.prober,
                    record.probers,
                    t.from.as_str(),
                    t.to.as_str(),
                ))
            }
            Output::Json => self.line(
                &json!({
                    "type": "transition",
                    "time": clock::rfc3339(when),
                    "target": p.addr.to_string(),
                    "lb": p.spec.lb,
                    "prober": record.prober,
                    "from": t.from.as_str(),
                    "to": t.to.as_str(),
                    "reason": t.reason.map(|r| r.code()),
                    "reason_text": t.reason.map(|r| r.to_string()),
                })
                .to_string(),
            ),
        }
    }

    pub fn summary(
        &mut self,
        id: u64,
        p: &Planned,
        summary: Option<&TargetSummary>,
        hint: Option<&str>,
        view: &LbView,
    ) -> std::io::Result<()> {
        let Some(s) = summary.filter(|s| s.probers > 0) else {
            return self.line(&match self.output {
                Output::Table => format!("{} view of {}: no probe completed", p.spec.lb, p.addr),
                Output::Json => json!({"type": "summary", "target": p.addr.to_string(), "lb": p.spec.lb, "state": null}).to_string(),
            });
        };
        let last = self.last_failure.get(&id).map(|(_, r)| r.clone());
        let since = |state: LbState| {
            s.since
                .iter()
                .find(|(st, _, _)| *st == state)
                .map(|(_, lo, hi)| (view.wall(*lo), view.wall(*hi)))
        };
        match self.output {
            Output::Table => {
                let view_text = match s.unanimous() {
                    Some(state) => {
                        let (lo, hi) = since(state).unwrap_or((
                            view.wall(Default::default()),
                            view.wall(Default::default()),
                        ));
                        let of = if s.probers == s.configured {
                            format!("all {} probers", s.probers)
                        } else {
                            format!("all {} of {} probers that probed", s.probers, s.configured)
                        };
                        format!(
                            "{} since {} ({of}; the last entered it at {})",
                            state.as_str().to_uppercase(),
                            clock::time_of_day(lo),
                            clock::time_of_day(hi)
                        )
                    }
                    None => {
                        let parts: Vec<String> = s
                            .states
                            .iter()
                            .map(|(st, n)| format!("{n} {}", st.as_str()))
                            .collect();
                        format!("MIXED: {} of {} probers", parts.join(", "), s.probers)
                    }
                };
                let mut text = format!(
                    "{} view of {} ({}): {view_text}",
                    p.spec.lb,
                    p.addr,
                    describe::what(&p.spec)
                );
                if let (Some(reason), false) =
                    (&last, s.unanimous().is_some_and(LbState::in_rotation))
                {
                    text.push_str(&format!("; last failure: {reason}"));
                }
                if s.flapping > 0 {
                    text.push_str(&format!("; {} probers flapping", s.flapping));
                }
                self.line(&text)?;
                if let Some(hint) = hint {
                    self.line(&format!("  {hint}"))?;
                }
                Ok(())
            }
            Output::Json => {
                let states: serde_json::Map<String, serde_json::Value> = s
                    .states
                    .iter()
                    .map(|(st, n)| (st.as_str().to_owned(), json!(n)))
                    .collect();
                self.line(
                    &json!({
                        "type": "summary",
                        "target": p.addr.to_string(),
                        "lb": p.spec.lb,
                        "state": s.unanimous().map(LbState::as_str),
                        "states": states,
                        "probers": s.probers,
                        "flapping": s.flapping,
                        "last_failure": last,
                        "hint": hint,
                    })
                    .to_string(),
                )
            }
        }
    }

    pub fn stats(&mut self, stats: &StatsSnapshot) -> std::io::Result<()> {
        match self.output {
            Output::Table => self.line(&format!(
                "{} probes completed; {} skipped at the engine's limits, {} results dropped",
                stats.completed,
                stats.skipped(),
                stats.results_dropped
            )),
            Output::Json => self.line(
                &json!({
                    "type": "stats",
                    "completed": stats.completed,
                    "skipped": stats.skipped(),
                    "dropped": stats.results_dropped,
                })
                .to_string(),
            ),
        }
    }
}
