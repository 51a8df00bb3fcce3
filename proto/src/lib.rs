//! `probesim.v1`: the wire schema between agents and the collector (`probesim/v1/*.proto`), its
//! generated Rust (checked in, see `tests/generated_code_is_current.rs`), and the conversions
//! between the wire and the agent's event model ([`probesim_agent::event`]).
//!
//! - [`BatchBuilder`] turns events into a [`v1::Batch`]; [`events_from_wire`] turns one back.
//! - [`strip`] empties a batch of its results (then transitions and lifecycle events) when an
//!   agent must make room, keeping its backend declarations.
//! - [`fixtures`]: sample events for tests and benchmarks.

#[allow(clippy::all, missing_debug_implementations, rust_2018_idioms)]
pub mod v1 {
    include!("gen/probesim.v1.rs");
}

pub mod backend;
pub mod batch;
pub mod enums;
pub mod error;
pub mod fixtures;
pub mod results;
pub mod time;

pub use batch::{BatchBuilder, Counts, StripLevel, Stripped, counts, events_from_wire, strip};
pub use error::{Error, Result};

/// The schema revision an agent announces in its hello; raised on incompatible changes.
pub const SCHEMA_REVISION: u32 = 1;
