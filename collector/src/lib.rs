//! probesim-collector: ingest of agent streams, per-backend timelines, latency analysis, storage,
//! the JSON API, the web UI and reports (design.md, "Data flow").

pub mod ingest;
pub mod model;
