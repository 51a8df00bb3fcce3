//! Simulated agents: each opens its own connection and stream, says hello, declares its
//! backends, then sends pre-encoded result batches (only the sequence number changes) with a
//! bounded number in flight, and times every acknowledgement.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use probesim_agent::event::Event;
use probesim_agent::stream::fixtures;
use probesim_agent::stream::wire::{BatchBuilder, v1};
use probesim_proto::raw::{RawCodec, STREAM_PATH};
use prost::Message;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::histogram::Histogram;

/// Backends each simulated agent declares (and its results refer to).
pub const BACKENDS_PER_AGENT: u64 = 100;
/// Connections being set up at once: a burst of thousands of SYNs would overflow the listen
/// backlog and measure SYN retransmits instead of ingest.
const CONNECTING_AT_ONCE: usize = 64;
const CONNECT_ATTEMPTS: u32 = 5;

#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub port: u16,
    pub agents: usize,
    pub results_per_batch: usize,
    /// Total results per second over all agents; `None` sends as fast as acks allow.
    pub rate: Option<f64>,
    pub in_flight: usize,
}

/// Shared counters of all simulated agents.
#[derive(Debug, Default)]
pub struct LoadStats {
    pub ready: AtomicU64,
    pub connect_failures: AtomicU64,
    pub stream_errors: AtomicU64,
    pub batches_sent: AtomicU64,
    pub acks: Mutex<Histogram>,
    /// Acks are timed only while this is set (the measured window).
    pub measuring: AtomicBool,
}

/// The encoded fields of a batch other than its sequence (field 1), which comes first.
fn tail(batch: v1::Batch) -> Bytes {
    let encoded = v1::Batch {
        sequence: 0,
        ..batch
    }
    .encode_to_vec();
    Bytes::from(encoded)
}

/// A result batch of `n` results over the agent's backends, with realistic spreads of start
/// times and timings.
pub fn results_tail(n: usize) -> Bytes {
    let mut b = BatchBuilder::new();
    for i in 0..n as u64 {
        let mut r = fixtures::success(1 + i % BACKENDS_PER_AGENT, 0);
        r.started_at = fixtures::time(0) + Duration::from_micros(i * 37);
        r.measurement.timings.connect = Some(Duration::from_micros(60 + i % 90));
        r.measurement.timings.total = Duration::from_micros(90 + i % 120);
        b.push(&Event::Result(r));
    }
    tail(b.finish(0, fixtures::time(0), v1::Drops::default()))
}

pub fn declarations_tail() -> Bytes {
    let mut b = BatchBuilder::new();
    for id in 1..=BACKENDS_PER_AGENT {
        b.push(&Event::Backend(fixtures::backend(id)));
    }
    tail(b.finish(0, fixtures::time(0), v1::Drops::default()))
}

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// `AgentMessage { batch: Batch { sequence, ..tail } }`, encoded.
pub fn frame(sequence: u64, tail: &Bytes) -> Bytes {
    let mut seq = BytesMut::with_capacity(11);
    seq.put_u8(0x08); // Batch.sequence, varint
    put_varint(&mut seq, sequence);
    let mut out = BytesMut::with_capacity(tail.len() + 24);
    out.put_u8(0x12); // AgentMessage.batch, length-delimited
    put_varint(&mut out, (seq.len() + tail.len()) as u64);
    out.put_slice(&seq);
    out.put_slice(tail);
    out.freeze()
}

fn hello(i: usize) -> Bytes {
    v1::AgentMessage {
        message: Some(v1::agent_message::Message::Hello(v1::Hello {
            node: format!("bench-node-{i}"),
            instance: "bench".into(),
            build: "probesim-bench".into(),
            schema_revision: probesim_proto::SCHEMA_REVISION,
            ..Default::default()
        })),
    }
    .encode_to_vec()
    .into()
}

/// Runs every agent until `stop` is set.
/// Every agent connects, says hello and declares its backends, then waits for `go` before it
/// sends results, so that connecting is measured without load and load without connecting.
pub async fn run(
    config: LoadConfig,
    stats: Arc<LoadStats>,
    go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let results = results_tail(config.results_per_batch);
    let declarations = declarations_tail();
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    (0..config.agents)
        .map(|i| {
            let (config, stats, stop, go) =
                (config.clone(), stats.clone(), stop.clone(), go.clone());
            let (results, declarations, gate) =
                (results.clone(), declarations.clone(), gate.clone());
            tokio::spawn(async move {
                if agent(i, &config, &stats, go, stop, &results, &declarations, &gate)
                    .await
                    .is_err()
                {
                    stats.stream_errors.fetch_add(1, Relaxed);
                }
            })
        })
        .collect()
}

async fn connect(config: &LoadConfig, stats: &LoadStats) -> Result<tonic::transport::Channel, ()> {
    let url = format!("http://127.0.0.1:{}", config.port);
    for attempt in 0..CONNECT_ATTEMPTS {
        let endpoint = tonic::transport::Endpoint::from_shared(url.clone()).map_err(|_| ())?;
        match endpoint.tcp_nodelay(true).connect().await {
            Ok(channel) => return Ok(channel),
            Err(_) => {
                stats.connect_failures.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }
    Err(())
}

#[allow(clippy::too_many_arguments)]
async fn agent(
    i: usize,
    config: &LoadConfig,
    stats: &LoadStats,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
    results: &Bytes,
    declarations: &Bytes,
    gate: &Semaphore,
) -> Result<(), ()> {
    let (tx, rx) = mpsc::channel::<Bytes>(config.in_flight + 2);
    let mut responses = {
        let _permit = gate.acquire().await.map_err(|_| ())?;
        let channel = connect(config, stats).await?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.map_err(|_| ())?;
        tx.send(hello(i)).await.map_err(|_| ())?;
        let request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        let path = http::uri::PathAndQuery::from_static(STREAM_PATH);
        let mut responses = grpc
            .streaming(request, path, RawCodec)
            .await
            .map_err(|_| ())?
            .into_inner();
        // The welcome.
        responses.message().await.map_err(|_| ())?.ok_or(())?;
        responses
    };
    let mut sequence = 1;
    tx.send(frame(sequence, declarations))
        .await
        .map_err(|_| ())?;
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::from([(sequence, Instant::now())]);
    stats.ready.fetch_add(1, Relaxed);
    go.wait_for(|go| *go).await.map_err(|_| ())?;
    let period = config.rate.map(|rate| {
        let per_agent = rate / config.agents as f64;
        Duration::from_secs_f64(config.results_per_batch as f64 / per_agent.max(1e-3))
    });
    let mut tick = period.map(|p| {
        let mut t = tokio::time::interval_at(Instant::now() + p.mul_f64(fastrand::f64()), p);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut tokens = 0u32;
    loop {
        while in_flight.len() < config.in_flight && (tick.is_none() || tokens > 0) {
            sequence += 1;
            tx.send(frame(sequence, results)).await.map_err(|_| ())?;
            in_flight.push_back((sequence, Instant::now()));
            stats.batches_sent.fetch_add(1, Relaxed);
            tokens = tokens.saturating_sub(1);
        }
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            _ = async { match &mut tick { Some(t) => { t.tick().await; } None => std::future::pending().await } } => {
                tokens += 1;
            }
            message = responses.message() => {
                let bytes = message.map_err(|_| ())?.ok_or(())?;
                let ack = match v1::CollectorMessage::decode(bytes).map_err(|_| ())?.message {
                    Some(v1::collector_message::Message::Ack(a)) => a.sequence,
                    _ => continue,
                };
                let now = Instant::now();
                let measuring = stats.measuring.load(Relaxed);
                let mut hist = measuring.then(|| stats.acks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
                while in_flight.front().is_some_and(|(s, _)| *s <= ack) {
                    if let (Some((_, sent)), Some(h)) = (in_flight.pop_front(), hist.as_mut()) {
                        h.record(now - sent);
                    }
                }
            }
        }
    }
}
