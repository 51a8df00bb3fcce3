//! `probesim.v1`: the wire schema between agents and the collector.
//!
//! The schema (hello, result batches with sequence numbers, acknowledgements, heartbeats and drop
//! counts) lands with the streaming work; this crate exists so that the workspace layout of
//! design.md is in place from the start.
