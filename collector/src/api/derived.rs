//! The API's figures computed by the analysis module ([`crate::analysis`]): registration,
//! detection and drain latencies per backend, and the per-Service summary, in the JSON shape of
//! the report (collector/REPORT.md).

use crate::analysis::{self, AnalysisConfig};
use crate::model::History;
use crate::report::ServiceReport;

fn services(history: &History) -> Vec<ServiceReport> {
    analysis::analyze(history, &AnalysisConfig::default()).services
}

fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Latencies per backend and per Service over the history's range (`GET /api/v1/latencies`).
pub fn latencies(history: &History) -> Vec<serde_json::Value> {
    services(history)
        .iter()
        .map(|s| {
            serde_json::json!({
                "service": s.service,
                "latencies": to_value(&s.latencies),
                "backends": s.backends.iter().map(to_value).collect::<Vec<_>>(),
                "pods": s.pods.iter().map(to_value).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// One summary per Service over the history's range (`GET /api/v1/services`).
pub fn service_summaries(history: &History) -> Vec<serde_json::Value> {
    services(history).iter().map(to_value).collect()
}
