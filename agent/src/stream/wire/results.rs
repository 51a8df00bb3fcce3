//! Probe results as columns ([`v1::Results`]): appended one by one by the agent, read back as a
//! whole by the collector.

use crate::event::ProbeResult;
use crate::lb::outcome::Outcome;
use crate::lb::verdict::Verdict;
use crate::probe::{Measurement, Timings};

use super::enums::{
    WireOutcome, outcome_from_wire, outcome_to_wire, reason_from_wire, reason_to_wire,
};
use super::error::{Error, Result};
use super::time::{from_ns, from_us, phase_from_us, phase_to_us, to_ns, to_us};
use probesim_proto::v1;

/// Appends one result to the columns; `last_start_ns` is the previous result's start (or the
/// columns' base) and is updated.
pub fn push_result(cols: &mut v1::Results, last_start_ns: &mut i64, r: &ProbeResult) {
    let start = to_ns(r.started_at);
    if cols.backend.is_empty() {
        cols.base_ns = start;
        *last_start_ns = start;
    }
    cols.backend.push(r.backend);
    cols.prober.push(r.prober);
    cols.start_delta_ns.push(start.wrapping_sub(*last_start_ns));
    *last_start_ns = start;
    cols.lateness_us.push(to_us(r.lateness));
    let t = &r.measurement.timings;
    cols.total_us.push(to_us(t.total));
    cols.connect_us.push(phase_to_us(t.connect));
    cols.tls_us.push(phase_to_us(t.tls));
    cols.first_byte_us.push(phase_to_us(t.first_byte));
    let outcome = r.measurement.outcome;
    cols.outcome.push(outcome_to_wire(outcome) as i32);
    match outcome {
        Outcome::HttpStatus(s) => cols.status.push(u32::from(s)),
        Outcome::GrpcStatus { code, http } => {
            cols.status.push(u32::from(http));
            cols.grpc_code.push(code);
        }
        _ => {}
    }
    match r.verdict {
        Verdict::Success => cols.verdict.push(v1::Verdict::Success as i32),
        Verdict::NotCounted { .. } => cols.verdict.push(v1::Verdict::NotCounted as i32),
        Verdict::Failure { reason } => {
            cols.verdict.push(v1::Verdict::Failure as i32);
            let (wire, status) = reason_to_wire(reason);
            cols.failure_reason.push(wire as i32);
            if let Some(s) = status {
                cols.reason_status.push(s);
            }
        }
    }
}

/// A cursor over a sparse column.
struct Sparse<'a, T> {
    name: &'static str,
    values: &'a [T],
    next: usize,
}

impl<'a, T: Copy> Sparse<'a, T> {
    fn new(name: &'static str, values: &'a [T]) -> Self {
        Sparse {
            name,
            values,
            next: 0,
        }
    }

    fn take(&mut self) -> Result<T> {
        let v = self.values.get(self.next).copied().ok_or(Error::Length {
            field: format!("results.{}", self.name),
            expected: self.next + 1,
            got: self.values.len(),
        })?;
        self.next += 1;
        Ok(v)
    }

    /// Every entry must have been taken.
    fn finish(&self) -> Result<()> {
        if self.next == self.values.len() {
            Ok(())
        } else {
            Err(Error::Length {
                field: format!("results.{}", self.name),
                expected: self.next,
                got: self.values.len(),
            })
        }
    }
}

/// Every result of the columns, in order.
pub fn results_from_wire(cols: &v1::Results) -> Result<Vec<ProbeResult>> {
    let n = cols.backend.len();
    let dense: [(&'static str, usize); 10] = [
        ("backend", cols.backend.len()),
        ("prober", cols.prober.len()),
        ("start_delta_ns", cols.start_delta_ns.len()),
        ("lateness_us", cols.lateness_us.len()),
        ("total_us", cols.total_us.len()),
        ("connect_us", cols.connect_us.len()),
        ("tls_us", cols.tls_us.len()),
        ("first_byte_us", cols.first_byte_us.len()),
        ("outcome", cols.outcome.len()),
        ("verdict", cols.verdict.len()),
    ];
    if let Some((name, got)) = dense.iter().find(|(_, len)| *len != n) {
        return Err(Error::Length {
            field: format!("results.{name}"),
            expected: n,
            got: *got,
        });
    }
    let mut status = Sparse::new("status", &cols.status);
    let mut grpc_code = Sparse::new("grpc_code", &cols.grpc_code);
    let mut failure_reason = Sparse::new("failure_reason", &cols.failure_reason);
    let mut reason_status = Sparse::new("reason_status", &cols.reason_status);
    let mut out = Vec::with_capacity(n);
    let mut start = cols.base_ns;
    for i in 0..n {
        start = start.wrapping_add(cols.start_delta_ns[i]);
        let outcome = match outcome_from_wire(cols.outcome[i], || format!("results.outcome[{i}]"))?
        {
            WireOutcome::Done(o) => o,
            WireOutcome::Http => Outcome::HttpStatus(http_status(status.take()?, i)?),
            WireOutcome::Grpc => {
                let http = http_status(status.take()?, i)?;
                Outcome::GrpcStatus {
                    code: grpc_code.take()?,
                    http,
                }
            }
        };
        let verdict = match v1::Verdict::try_from(cols.verdict[i]) {
            Ok(v1::Verdict::Success) => Verdict::Success,
            Ok(v1::Verdict::NotCounted) => match outcome {
                Outcome::Local(local) => Verdict::NotCounted { local },
                other => {
                    return Err(Error::invalid(
                        format!("results.verdict[{i}]"),
                        "VERDICT_NOT_COUNTED",
                        format!("the outcome {} is not a local failure", other.kind()),
                    ));
                }
            },
            Ok(v1::Verdict::Failure) => {
                let wire = failure_reason.take()?;
                let field = || format!("results.failure_reason[{}]", failure_reason.next - 1);
                Verdict::Failure {
                    reason: reason_from_wire(wire, field, || reason_status.take())?,
                }
            }
            Ok(v1::Verdict::Unspecified) | Err(_) => {
                return Err(Error::UnknownEnum {
                    field: format!("results.verdict[{i}]"),
                    kind: "probesim.v1.Verdict",
                    value: cols.verdict[i],
                });
            }
        };
        out.push(ProbeResult {
            backend: cols.backend[i],
            prober: cols.prober[i],
            started_at: from_ns(start),
            lateness: from_us(cols.lateness_us[i]),
            measurement: Measurement {
                outcome,
                timings: Timings {
                    connect: phase_from_us(cols.connect_us[i]),
                    tls: phase_from_us(cols.tls_us[i]),
                    first_byte: phase_from_us(cols.first_byte_us[i]),
                    total: from_us(cols.total_us[i]),
                },
            },
            verdict,
        });
    }
    status.finish()?;
    grpc_code.finish()?;
    failure_reason.finish()?;
    reason_status.finish()?;
    Ok(out)
}

fn http_status(value: u32, i: usize) -> Result<u16> {
    u16::try_from(value).map_err(|_| {
        Error::invalid(
            format!("results.status (result {i})"),
            value,
            "not an HTTP status",
        )
    })
}
