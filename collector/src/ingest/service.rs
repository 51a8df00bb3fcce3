//! One task per agent stream: hello, then batches → dedupe → sink → ack.
//!
//! An agent's batches pipeline: each is handed to the sink as it arrives (in sequence order,
//! under the agent's lock) and acknowledged, in order, once the sink has stored it, so several
//! batches of one agent can ride one flush instead of one flush each. An acknowledgement still
//! means stored: a copy of a batch whose first copy is still in flight (a reconnect on another
//! stream) waits for the first copy's fate.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use probesim_agent::stream::wire::{counts, events_from_wire, time};
use probesim_proto::v1::{self, agent_message, collector_message};
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
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

/// The fate of a batch in flight: `None` until stored (`Some(true)`) or refused (`Some(false)`).
type Fate = watch::Receiver<Option<bool>>;

/// One agent's sequences.
#[derive(Debug, Default)]
struct Sequences {
    /// The highest sequence handed to the sink.
    taken: u64,
    /// The highest sequence stored: what a new stream's welcome says.
    stored: u64,
    /// Batches handed to the sink and not stored yet.
    in_flight: HashMap<u64, Fate>,
}

/// A reply of a stream, sent in the order its messages came.
enum Reply<'a> {
    /// Sent as is (a heartbeat's answer, the ack of a batch stored before).
    Now(collector_message::Message),
    /// Acknowledged once the sink stored it.
    Stored {
        sequence: u64,
        results: u64,
        stored: Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>,
        fate: watch::Sender<Option<bool>>,
    },
    /// A copy of a batch in flight on another stream: acknowledged once that one is stored.
    Copy { sequence: u64, fate: Fate },
}

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

    /// Sends the replies in order, each batch's ack once it is stored. After the first refused
    /// batch (or once the agent stopped listening) nothing more is taken or acknowledged, but
    /// what was taken is settled.
    async fn answer(
        &self,
        info: &AgentInfo,
        sequences: &Mutex<Sequences>,
        mut replies: mpsc::Receiver<Reply<'_>>,
        tx: &Outbound,
    ) -> Result<(), Status> {
        let mut failed: Option<Status> = None;
        let mut listening = true;
        while let Some(reply) = replies.recv().await {
            let message = match reply {
                Reply::Now(message) => Ok(message),
                Reply::Stored {
                    sequence,
                    results,
                    stored,
                    fate,
                } => self
                    .settle(info, sequences, sequence, stored.await, fate)
                    .map(|()| {
                        add(&self.metrics.batches, 1);
                        add(&self.metrics.results, results);
                        collector_message::Message::Ack(v1::Ack { sequence })
                    }),
                Reply::Copy { sequence, mut fate } => {
                    let stored = fate.wait_for(|f| f.is_some()).await.map(|f| *f);
                    match stored {
                        Ok(Some(true)) => Ok(collector_message::Message::Ack(v1::Ack { sequence })),
                        _ => Err(Status::unavailable(format!(
                            "agent {} batch {sequence}: its first copy was not stored",
                            info.id
                        ))),
                    }
                }
            };
            match message {
                Err(status) => {
                    if failed.is_none() {
                        failed = Some(status);
                        replies.close();
                    }
                }
                Ok(message) if failed.is_none() && listening => {
                    if tx.send(Ok(send_message(message))).await.is_err() {
                        listening = false;
                        replies.close();
                    }
                }
                Ok(_) => {}
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Records a batch's fate: stored, or refused (then everything in flight is refused with
    /// it: a failed flush refuses what it holds and what was taken since), and tells copies
    /// waiting on other streams.
    fn settle(
        &self,
        info: &AgentInfo,
        sequences: &Mutex<Sequences>,
        sequence: u64,
        answer: Result<(), SinkError>,
        fate: watch::Sender<Option<bool>>,
    ) -> Result<(), Status> {
        let outcome = self.stored(info, sequence, answer);
        {
            let mut seq = lock(sequences);
            seq.in_flight.remove(&sequence);
            if outcome.is_ok() {
                seq.stored = seq.stored.max(sequence);
            } else {
                // Start again from what is stored, so that the agent's resend is taken.
                let durable = self.sink.last_sequence(&info.id).unwrap_or(0);
                seq.taken = durable.max(seq.stored);
            }
        }
        fate.send_replace(Some(outcome.is_ok()));
        outcome
    }

    /// Hands one batch to the sink unless it is a duplicate; the reply that acknowledges it.
    fn take_batch(
        &self,
        info: &AgentInfo,
        sequences: &Mutex<Sequences>,
        batch: v1::Batch,
    ) -> Result<Reply<'_>, Status> {
        let sequence = batch.sequence;
        add(&self.metrics.bytes, batch.encoded_len() as u64);
        let mut seq = lock(sequences);
        if sequence <= seq.taken {
            add(&self.metrics.duplicates, 1);
            return Ok(match seq.in_flight.get(&sequence) {
                Some(fate) => Reply::Copy {
                    sequence,
                    fate: fate.clone(),
                },
                None => Reply::Now(collector_message::Message::Ack(v1::Ack { sequence })),
            });
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
        // Called under the agent's lock: the sink takes an agent's batches in sequence order.
        let stored = Box::pin(self.sink.accept(model));
        let (fate, watched) = watch::channel(None);
        seq.taken = sequence;
        seq.in_flight.insert(sequence, watched);
        Ok(Reply::Stored {
            sequence,
            results: c.results,
            stored,
            fate,
        })
    }

    /// What the sink's answer means for the batch's ack.
    fn stored(
        &self,
        info: &AgentInfo,
        sequence: u64,
        answer: Result<(), SinkError>,
    ) -> Result<(), Status> {
        match answer {
            Ok(()) => Ok(()),
            // The batch can never be stored: resending it would loop forever. It is counted,
            // logged and acknowledged.
            Err(e @ SinkError::UnknownBackend { .. }) => {
                add(&self.metrics.sink_errors, 1);
                tracing::error!(agent = %info.id, sequence, error = %e, "ingest: batch refused");
                Ok(())
            }
            Err(e) => {
                add(&self.metrics.sink_errors, 1);
                Err(Status::unavailable(format!(
                    "agent {} batch {sequence}: {e}",
                    info.id
                )))
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
