//! An agent's batches pipeline through ingest: each is handed to the sink as it arrives, the
//! acks come in order once the sink stored them, and a copy of a batch in flight on another
//! stream (a reconnect) is neither stored twice nor acknowledged before the first copy is stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "ingest_support/raw.rs"]
mod raw;

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use probesim_agent::stream::fixtures;
use probesim_agent::stream::wire::{BatchBuilder, v1};
use probesim_collector::ingest::{self, IngestConfig};
use probesim_collector::model::{AgentId, AgentInfo, Batch, Sink, SinkError};
use probesim_proto::raw::{RawCodec, STREAM_PATH};
use prost::Message;
use raw::encode;
use tokio::sync::{mpsc, watch};
use tonic::Streaming;

/// Takes batches when `accept` is called (as the SQLite store does) and stores them when the
/// test releases their sequence.
#[derive(Debug)]
struct GatedSink {
    taken: Mutex<Vec<u64>>,
    released: watch::Sender<u64>,
}

impl Sink for GatedSink {
    fn agent_connected(&self, _agent: &AgentInfo) {}

    fn agent_disconnected(&self, _agent: &AgentId, _at: SystemTime) {}

    fn last_sequence(&self, _agent: &AgentId) -> Option<u64> {
        None
    }

    fn accept(
        &self,
        batch: Batch,
    ) -> impl std::future::Future<Output = Result<(), SinkError>> + Send {
        self.taken.lock().unwrap().push(batch.sequence);
        let mut released = self.released.subscribe();
        async move {
            released
                .wait_for(|r| *r >= batch.sequence)
                .await
                .map(|_| ())
                .map_err(|e| SinkError::Storage(e.to_string()))
        }
    }
}

fn hello() -> Bytes {
    raw::hello("node-p", "pipeline")
}

fn batch(sequence: u64) -> Bytes {
    let b = BatchBuilder::new();
    encode(v1::agent_message::Message::Batch(b.finish(
        sequence,
        fixtures::time(0),
        v1::Drops::default(),
    )))
}

/// One agent stream: what to send, and what came back.
struct Stream {
    send: mpsc::Sender<Bytes>,
    replies: Streaming<Bytes>,
}

impl Stream {
    async fn open(url: &str) -> Stream {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let (send, rx) = mpsc::channel(16);
        send.send(hello()).await.unwrap();
        let request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        let path = http::uri::PathAndQuery::from_static(STREAM_PATH);
        let replies = grpc
            .streaming(request, path, RawCodec)
            .await
            .unwrap()
            .into_inner();
        let mut stream = Stream { send, replies };
        let welcome = stream.next().await;
        assert!(
            matches!(welcome, v1::collector_message::Message::Welcome(_)),
            "{welcome:?}"
        );
        stream
    }

    async fn next(&mut self) -> v1::collector_message::Message {
        let bytes = tokio::time::timeout(Duration::from_secs(10), self.replies.message())
            .await
            .expect("a reply within 10 s")
            .unwrap()
            .expect("the stream is open");
        v1::CollectorMessage::decode(bytes)
            .unwrap()
            .message
            .unwrap()
    }

    async fn ack(&mut self) -> u64 {
        match self.next().await {
            v1::collector_message::Message::Ack(a) => a.sequence,
            other => panic!("expected an ack: {other:?}"),
        }
    }
}

async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_batches_pipeline_and_acks_keep_their_order_and_mean_stored() {
    let sink = Arc::new(GatedSink {
        taken: Mutex::new(Vec::new()),
        released: watch::Sender::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (metrics, server) = ingest::spawn(
        listener,
        sink.clone(),
        IngestConfig::default(),
        std::future::pending(),
    );
    let taken = || sink.taken.lock().unwrap().clone();

    // Three batches are all handed to the sink before the first is stored.
    let mut first = Stream::open(&url).await;
    for sequence in 1..=3 {
        first.send.send(batch(sequence)).await.unwrap();
    }
    until("three batches taken", || taken() == [1, 2, 3]).await;
    assert_eq!(metrics.snapshot().batches, 0, "nothing is stored yet");
    // Stored out of the order they were released in, acknowledged in the order they came.
    sink.released.send_replace(2);
    assert_eq!((first.ack().await, first.ack().await), (1, 2));
    sink.released.send_replace(3);
    assert_eq!(first.ack().await, 3);

    // A reconnect on a second stream while batch 4 is in flight on the first: batch 3 (stored)
    // is acknowledged at once, the copy of 4 only once the first copy is stored.
    first.send.send(batch(4)).await.unwrap();
    until("batch 4 taken", || taken() == [1, 2, 3, 4]).await;
    let mut second = Stream::open(&url).await;
    second.send.send(batch(3)).await.unwrap();
    second.send.send(batch(4)).await.unwrap();
    assert_eq!(second.ack().await, 3);
    let early = tokio::time::timeout(Duration::from_millis(300), second.next()).await;
    assert!(
        early.is_err(),
        "the copy of 4 was acknowledged before it was stored: {early:?}"
    );
    sink.released.send_replace(4);
    assert_eq!((first.ack().await, second.ack().await), (4, 4));
    assert_eq!(taken(), [1, 2, 3, 4], "no batch taken twice");
    let m = metrics.snapshot();
    assert_eq!((m.batches, m.duplicates), (4, 2), "{m:?}");
    server.abort();
}
