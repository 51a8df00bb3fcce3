//! Agent messages as raw bytes on the stream, for tests that speak the wire themselves.

#![allow(dead_code)]

use bytes::Bytes;
use probesim_agent::stream::wire::v1;
use prost::Message;

pub fn encode(message: v1::agent_message::Message) -> Bytes {
    v1::AgentMessage {
        message: Some(message),
    }
    .encode_to_vec()
    .into()
}

/// The stream's first message, from agent `instance` on `node`.
pub fn hello(node: &str, instance: &str) -> Bytes {
    encode(v1::agent_message::Message::Hello(v1::Hello {
        node: node.into(),
        instance: instance.into(),
        ..Default::default()
    }))
}
