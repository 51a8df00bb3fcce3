//! probesim-collector: ingest of agent streams, per-backend timelines, latency analysis, storage,
//! the JSON API, the web UI and reports.
//!
//! Empty until the streaming schema exists; see design.md, "Data flow".
