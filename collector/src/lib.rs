//! probesim-collector: ingest of agent streams, per-backend timelines, latency analysis, storage,
//! the JSON API, the web UI and reports (design.md, "Data flow").

pub mod analysis;
pub mod api;
pub mod cmd;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod report;
pub mod server;
pub mod store;
pub mod timeline;
pub mod ui;

pub use error::{Error, Result};
