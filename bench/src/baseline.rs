//! The baselines the engine is measured against, on the same targets in the same run:
//! - [`raw_connect`]: blocking connect/close loops on every core, the kernel's limit for TCP;
//! - [`blackbox`]: Debian's prometheus-blackbox-exporter, the usual way to probe from outside.

pub mod blackbox;
pub mod raw_connect;
