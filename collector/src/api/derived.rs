//! The API's figures computed by the analysis module (`crate::analysis`): registration,
//! detection and drain latencies per backend, and the per-Service summary.
//!
//! Placeholder until the analysis module is merged: both functions return an empty list. At
//! merge, their bodies become calls to the analysis functions over the same `History`, with the
//! results serialized as they are (the routes, parameters and envelopes stay as documented in
//! `collector/API.md`).

use crate::model::History;

/// Latencies per backend over the history's range (`GET /api/v1/latencies`).
pub fn latencies(history: &History) -> Vec<serde_json::Value> {
    let _ = history;
    Vec::new()
}

/// One summary per Service over the history's range (`GET /api/v1/services`).
pub fn service_summaries(history: &History) -> Vec<serde_json::Value> {
    let _ = history;
    Vec::new()
}
