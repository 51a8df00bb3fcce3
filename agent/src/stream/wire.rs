//! The agent's events on the wire (`probesim.v1`), both ways: the agent builds batches, the
//! collector reads them back.
//!
//! - [`BatchBuilder`] turns events into a [`v1::Batch`]; [`events_from_wire`] turns one back,
//!   with errors that name the field and the value.
//! - [`strip`] empties a batch of its results (then transitions and lifecycle events) when the
//!   agent must make room, keeping its backend declarations.

pub mod backend;
pub mod batch;
pub mod enums;
pub mod error;
pub mod results;
pub mod time;

pub use batch::{BatchBuilder, Counts, StripLevel, counts, events_from_wire, strip};
pub use error::{Error as WireError, Result};
pub use probesim_proto::v1;
