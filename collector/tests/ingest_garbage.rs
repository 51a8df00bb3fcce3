//! Garbage on the gRPC port gets an error status (or a closed connection when it is not even
//! HTTP/2); the collector keeps serving the other agents.

#![allow(clippy::unwrap_used)]

#[path = "ingest_support/harness.rs"]
mod harness;
#[path = "ingest_support/raw.rs"]
mod raw;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use harness::*;
use probesim_agent::event::Event;
use probesim_agent::stream::fixtures;
use probesim_agent::stream::wire::{BatchBuilder, v1};
use probesim_collector::ingest::IngestConfig;
use probesim_proto::raw::{RawCodec, STREAM_PATH};
use raw::encode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// Sends `messages` (already encoded) on one stream and returns the status it ended with.
async fn raw_stream(url: &str, messages: Vec<Bytes>) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let request = tonic::Request::new(tokio_stream::iter(messages));
    let path = http::uri::PathAndQuery::from_static(STREAM_PATH);
    let mut responses = match grpc.streaming(request, path, RawCodec).await {
        Ok(r) => r.into_inner(),
        Err(status) => return status,
    };
    loop {
        match responses.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => return tonic::Status::ok("ended"),
            Err(status) => return status,
        }
    }
}

fn hello() -> Bytes {
    raw::hello("node-g", "garbage")
}

fn batch_with_bad_outcome() -> Bytes {
    let mut b = BatchBuilder::new();
    b.push(&Event::Backend(fixtures::backend(1)));
    b.push(&Event::Result(fixtures::success(1, 0)));
    let mut batch = b.finish(1, fixtures::time(0), v1::Drops::default());
    batch.results.as_mut().unwrap().outcome[0] = 77;
    encode(v1::agent_message::Message::Batch(batch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_an_error_status_and_the_collector_keeps_serving_agents() {
    let sink = Arc::new(MemSink::default());
    let config = IngestConfig {
        max_message_bytes: 64 * 1024,
        ..IngestConfig::default()
    };
    let collector = Collector::start(sink.clone(), loopback(), config);
    let url = collector.url();

    // Not HTTP/2 at all: the connection is closed.
    let mut tcp = tokio::net::TcpStream::connect(collector.addr)
        .await
        .unwrap();
    tcp.write_all(b"GET / HTTP/1.0\r\n\r\n\x00\xff\x13garbage")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;

    let cases: Vec<(&str, Vec<Bytes>, Code, &str)> = vec![
        (
            "not protobuf",
            vec![Bytes::from_static(b"\xff\xff\xff\xff garbage")],
            Code::Internal,
            "",
        ),
        (
            "oversized",
            vec![Bytes::from(vec![0x0a; 200 * 1024])],
            Code::OutOfRange,
            "",
        ),
        (
            "batch before hello",
            vec![batch_with_bad_outcome()],
            Code::InvalidArgument,
            "first message of a stream must be a hello",
        ),
        (
            "hello without instance",
            vec![encode(v1::agent_message::Message::Hello(v1::Hello {
                node: "node-g".into(),
                ..Default::default()
            }))],
            Code::InvalidArgument,
            "hello.instance: missing",
        ),
        (
            "unknown enum value",
            vec![hello(), batch_with_bad_outcome()],
            Code::InvalidArgument,
            "results.outcome[0]: unknown probesim.v1.Outcome value 77",
        ),
        (
            "second hello",
            vec![hello(), hello()],
            Code::InvalidArgument,
            "exactly one hello",
        ),
    ];
    for (name, messages, code, text) in cases {
        let status = raw_stream(&url, messages).await;
        assert_eq!(status.code(), code, "{name}: {status:?}");
        assert!(status.message().contains(text), "{name}: {status:?}");
    }
    let m = collector.metrics.snapshot();
    assert!(m.decode_errors >= 3, "{m:?}");
    assert!(m.protocol_errors >= 3, "{m:?}");
    assert_eq!(m.batches, 0, "{m:?}");

    // A well-behaved agent is still served.
    let (agent, tx) = start_agent(agent_config(&url, None));
    tx.send(Event::Backend(fixtures::backend(1))).await.unwrap();
    produce(&tx, 0, 1_000, 50_000).await;
    assert!(wait_for(Duration::from_secs(10), || sink.result_count() == 1_000).await);
    drop(tx);
    agent.shutdown().await;
}
