//! probesim-bench: the benchmark harness and its baselines. `probesim-bench engine` drives the
//! probe engine against loopback targets served by a child process, and measures the same
//! targets with a baseline in the same run: the kernel's raw connect loop, or Debian's
//! prometheus-blackbox-exporter. `probesim-bench collector` drives the collector's gRPC ingest with
//! simulated agents. See bench/README.md for the commands and the figures.

pub mod baseline;
pub mod cli;
pub mod collector;
pub mod engine;
pub mod histogram;
pub mod measure;
pub mod report;
pub mod targets;
