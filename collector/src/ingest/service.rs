//! One task per agent stream: hello, then batches → dedupe → sink → ack.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use probesim_agent::stream::wire::{counts, events_from_wire, time};
use probesim_proto::v1::{self, agent_message, collector_message};
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::RESPONSE_QUEUE;
use super::hello::agent_info;
use super::metrics::{IngestMetrics, add};
use crate::model::{AgentId, AgentInfo, Batch, DropCounts, Sink, SinkError};

/// The `probesim.v1.Ingest` service over a sink.
#[derive(Debug)]
pub struct IngestService<S> {
    shared: Arc<Shared<S>>,
}

#[derive(Debug)]
struct Shared<S> {
    sink: Arc<S>,
    metrics: Arc<IngestMetrics>,
    /// Per agent: the highest sequence taken, behind a lock held while a batch is stored, so
    /// that two streams of one agent (a reconnect before the old stream noticed) never store a
    /// batch twice. Entries stay for the life of the process: one per agent ever seen.
    agents: Mutex<HashMap<AgentId, Arc<tokio::sync::Mutex<u64>>>>,
    /// Set when the server shuts down: every stream ends with `UNAVAILABLE`, so that the
    /// server's graceful shutdown, which waits for open streams, does not wait for agents.
    closing: tokio::sync::watch::Sender<bool>,
}

impl<S: Sink> IngestService<S> {
    pub fn new(sink: Arc<S>) -> Self {
        Self::with_metrics(sink, Arc::default())
    }

    /// A service counting into `metrics` (the store's, so that its `/metrics` shows them).
    pub fn with_metrics(sink: Arc<S>, metrics: Arc<IngestMetrics>) -> Self {
        IngestService {
            shared: Arc::new(Shared {
                sink,
                metrics,
                agents: Mutex::default(),
                closing: tokio::sync::watch::Sender::new(false),
            }),
        }
    }

    pub fn metrics(&self) -> Arc<IngestMetrics> {
        self.shared.metrics.clone()
    }

    /// Ends every open stream (agents reconnect elsewhere or later) and refuses new ones.
    pub fn close_streams(&self) -> impl Fn() + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || {
            shared.closing.send_replace(true);
        }
    }
}

type Outbound = mpsc::Sender<Result<v1::CollectorMessage, Status>>;

#[tonic::async_trait]
impl<S: Sink> v1::ingest_server::Ingest for IngestService<S> {
    type StreamStream = ReceiverStream<Result<v1::CollectorMessage, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<v1::AgentMessage>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            add(&shared.metrics.streams_open, 1);
            if let Err(status) = shared.run(inbound, &tx).await {
                tracing::warn!(?peer, code = ?status.code(), message = status.message(), "ingest: stream ended with an error");
                let _ = tx.send(Err(status)).await;
            }
            shared
                .metrics
                .streams_open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn send_message(message: collector_message::Message) -> v1::CollectorMessage {
    v1::CollectorMessage {
        message: Some(message),
    }
}

impl<S: Sink> Shared<S> {
    /// Reads one message, counting what could not be decoded; the server's shutdown ends the
    /// stream.
    async fn next(
        &self,
        inbound: &mut Streaming<v1::AgentMessage>,
    ) -> Result<Option<v1::AgentMessage>, Status> {
        let mut closing = self.closing.subscribe();
        let message = tokio::select! {
            m = inbound.message() => m,
            _ = closing.wait_for(|c| *c) => {
                return Err(Status::unavailable("the collector is shutting down"));
            }
        };
        match message {
            Ok(m) => Ok(m),
            Err(status) if status.code() == tonic::Code::Cancelled => Ok(None),
            Err(status) => {
                add(&self.metrics.decode_errors, 1);
                Err(status)
            }
        }
    }

    async fn run(
        &self,
        mut inbound: Streaming<v1::AgentMessage>,
        tx: &Outbound,
    ) -> Result<(), Status> {
        let hello = match self.next(&mut inbound).await? {
            None => return Ok(()),
            Some(v1::AgentMessage {
                message: Some(agent_message::Message::Hello(hello)),
            }) => hello,
            Some(_) => {
                add(&self.metrics.protocol_errors, 1);
                return Err(Status::invalid_argument(
                    "the first message of a stream must be a hello",
                ));
            }
        };
        let info = agent_info(&hello, SystemTime::now()).map_err(|e| {
            add(&self.metrics.protocol_errors, 1);
            Status::invalid_argument(e)
        })?;
        add(&self.metrics.streams, 1);
        self.sink.agent_connected(&info);
        tracing::info!(agent = %info.id, build = %info.build, "ingest: agent connected");
        let result = self.serve_agent(&info, &mut inbound, tx).await;
        self.sink.agent_disconnected(&info.id, SystemTime::now());
        tracing::info!(agent = %info.id, "ingest: agent disconnected");
        result
    }

    fn agent_lock(&self, id: &AgentId) -> Arc<tokio::sync::Mutex<u64>> {
        let mut agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        agents.entry(id.clone()).or_default().clone()
    }

    async fn serve_agent(
        &self,
        info: &AgentInfo,
        inbound: &mut Streaming<v1::AgentMessage>,
        tx: &Outbound,
    ) -> Result<(), Status> {
        let lock = self.agent_lock(&info.id);
        let last = {
            let mut high = lock.lock().await;
            *high = (*high).max(self.sink.last_sequence(&info.id).unwrap_or(0));
            *high
        };
        let welcome = collector_message::Message::Welcome(v1::Welcome {
            last_sequence: last,
        });
        if tx.send(Ok(send_message(welcome))).await.is_err() {
            return Ok(());
        }
        while let Some(message) = self.next(inbound).await? {
            let reply = match message.message {
                Some(agent_message::Message::Batch(batch)) => {
                    let sequence = self.take_batch(info, &lock, batch).await?;
                    collector_message::Message::Ack(v1::Ack { sequence })
                }
                Some(agent_message::Message::Heartbeat(_)) => {
                    collector_message::Message::Heartbeat(v1::Heartbeat {
                        sent_at_ns: time::to_ns(SystemTime::now()),
                    })
                }
                Some(agent_message::Message::Hello(_)) | None => {
                    add(&self.metrics.protocol_errors, 1);
                    return Err(Status::invalid_argument(format!(
                        "agent {}: a stream has exactly one hello, then batches and heartbeats",
                        info.id
                    )));
                }
            };
            if tx.send(Ok(send_message(reply))).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Stores one batch unless it is a duplicate; returns the sequence to acknowledge.
    async fn take_batch(
        &self,
        info: &AgentInfo,
        lock: &tokio::sync::Mutex<u64>,
        batch: v1::Batch,
    ) -> Result<u64, Status> {
        let sequence = batch.sequence;
        add(&self.metrics.bytes, batch.encoded_len() as u64);
        let mut high = lock.lock().await;
        if sequence <= *high {
            add(&self.metrics.duplicates, 1);
            return Ok(sequence);
        }
        let c = counts(&batch);
        let events = events_from_wire(&batch).map_err(|e| {
            add(&self.metrics.decode_errors, 1);
            Status::invalid_argument(format!("agent {} batch {sequence}: {e}", info.id))
        })?;
        let dropped = batch.dropped.unwrap_or_default();
        let model = Batch {
            agent: info.id.clone(),
            sequence,
            sent_at: time::from_ns(batch.sent_at_ns),
            events,
            dropped: DropCounts {
                results: dropped.results,
                transitions: dropped.transitions,
                lifecycle: dropped.lifecycle,
            },
        };
        match self.sink.accept(model).await {
            Ok(()) => {}
            // The batch can never be stored: resending it would loop forever. It is counted,
            // logged and acknowledged.
            Err(e @ SinkError::UnknownBackend { .. }) => {
                add(&self.metrics.sink_errors, 1);
                tracing::error!(agent = %info.id, sequence, error = %e, "ingest: batch refused");
            }
            Err(e) => {
                add(&self.metrics.sink_errors, 1);
                return Err(Status::unavailable(format!(
                    "agent {} batch {sequence}: {e}",
                    info.id
                )));
            }
        }
        *high = sequence;
        add(&self.metrics.batches, 1);
        add(&self.metrics.results, c.results);
        Ok(sequence)
    }
}
