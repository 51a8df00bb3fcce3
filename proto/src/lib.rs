//! `probesim.v1`: the wire schema between agents and the collector (`probesim/v1/*.proto`) and
//! its generated Rust (checked in, see `tests/generated_code_is_current.rs`).
//!
//! The conversions between the wire and the agent's event model live with that model, in
//! `probesim_agent::stream::wire`: the agent's streaming client needs them and this crate, so
//! this crate cannot depend on the agent.

#[allow(clippy::all, missing_debug_implementations, rust_2018_idioms)]
pub mod v1 {
    include!("gen/probesim.v1.rs");
}

pub mod raw;

/// The schema revision an agent announces in its hello; raised on incompatible changes.
pub const SCHEMA_REVISION: u32 = 1;
