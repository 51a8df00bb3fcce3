//! One task per agent stream: hello, then batches → dedupe → sink → ack.
//!
//! An agent's batches pipeline: each is handed to the sink as it arrives (in sequence order,
//! under the agent's lock) and acknowledged, in order, once the sink has stored it, so several
//! batches of one agent can ride one flush instead of one flush each. An acknowledgement still
//! means stored: a copy of a batch whose first copy is still in flight (a reconnect on another
//! stream) waits for the first copy's fate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use probesim_agent::stream::wire::time;
use probesim_proto::v1::{self, agent_message, collector_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::RESPONSE_QUEUE;
use super::hello::agent_info;
use super::metrics::{IngestMetrics, add};
use crate::model::{AgentId, AgentInfo, Sink};
use pipeline::{Reply, Sequences};

/// The `probesim.v1.Ingest` service over a sink.
#[derive(Debug)]
pub struct IngestService<S> {
    shared: Arc<Shared<S>>,
}

#[derive(Debug)]
struct Shared<S> {
    sink: Arc<S>,
    metrics: Arc<IngestMetrics>,
    /// Per agent: its sequences taken, stored and in flight, so that two streams of one agent
    /// (a reconnect before the old stream noticed) never store a batch twice. Entries stay for
    /// the life of the process: one per agent ever seen.
    agents: Mutex<HashMap<AgentId, Arc<Mutex<Sequences>>>>,
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

    fn sequences(&self, id: &AgentId) -> Arc<Mutex<Sequences>> {
        let mut agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        agents.entry(id.clone()).or_default().clone()
    }

    async fn serve_agent(
        &self,
        info: &AgentInfo,
        inbound: &mut Streaming<v1::AgentMessage>,
        tx: &Outbound,
    ) -> Result<(), Status> {
        let sequences = self.sequences(&info.id);
        let last = {
            let mut seq = lock(&sequences);
            let durable = self.sink.last_sequence(&info.id).unwrap_or(0);
            seq.stored = seq.stored.max(durable);
            seq.taken = seq.taken.max(seq.stored);
            seq.stored
        };
        let welcome = collector_message::Message::Welcome(v1::Welcome {
            last_sequence: last,
        });
        if tx.send(Ok(send_message(welcome))).await.is_err() {
            return Ok(());
        }
        // The queue bounds an agent's batches in flight on one stream.
        let (queue, replies) = mpsc::channel(super::RESPONSE_QUEUE);
        let stop = CancellationToken::new();
        let read = self.read(info, inbound, &sequences, queue, &stop);
        let answer = async {
            let answered = self.answer(info, &sequences, replies, tx).await;
            stop.cancel();
            answered
        };
        // Both run to their end, so that every batch handed to the sink is settled: its fate
        // known to copies on other streams, the agent's sequences right for its resend.
        let (read, answered) = tokio::join!(read, answer);
        answered.and(read)
    }

    /// Reads the stream's messages and hands its batches to the sink, in order, until the
    /// stream ends or `stop` (the answers stopped: a batch refused, the agent gone).
    async fn read<'a>(
        &'a self,
        info: &AgentInfo,
        inbound: &mut Streaming<v1::AgentMessage>,
        sequences: &Mutex<Sequences>,
        queue: mpsc::Sender<Reply<'a>>,
        stop: &CancellationToken,
    ) -> Result<(), Status> {
        loop {
            let message = tokio::select! {
                m = self.next(inbound) => m?,
                () = stop.cancelled() => None,
            };
            let Some(message) = message else {
                return Ok(());
            };
            let reply = match message.message {
                Some(agent_message::Message::Batch(batch)) => {
                    self.take_batch(info, sequences, batch)?
                }
                Some(agent_message::Message::Heartbeat(_)) => {
                    Reply::Now(collector_message::Message::Heartbeat(v1::Heartbeat {
                        sent_at_ns: time::to_ns(SystemTime::now()),
                    }))
                }
                Some(agent_message::Message::Hello(_)) | None => {
                    add(&self.metrics.protocol_errors, 1);
                    return Err(Status::invalid_argument(format!(
                        "agent {}: a stream has exactly one hello, then batches and heartbeats",
                        info.id
                    )));
                }
            };
            if let Err(mpsc::error::SendError(reply)) = queue.send(reply).await {
                // Nobody answers any more; a batch handed to the sink is still settled.
                if let Reply::Stored {
                    sequence,
                    stored,
                    fate,
                    ..
                } = reply
                {
                    let _ = self.settle(info, sequences, sequence, stored.await, fate);
                }
                return Ok(());
            }
        }
    }
}

mod pipeline;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
