//! An agent's batches in flight on one stream: handed to the sink in sequence order, answered
//! in the order they came once stored, their fate shared with copies on other streams.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use probesim_agent::stream::wire::{counts, events_from_wire, time};
use probesim_proto::v1::{self, collector_message};
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tonic::Status;

use super::{Outbound, Shared, lock, send_message};
use crate::ingest::metrics::add;
use crate::model::{AgentInfo, Batch, DropCounts, Sink, SinkError};

/// The fate of a batch in flight: `None` until stored (`Some(true)`) or refused (`Some(false)`).
pub(super) type Fate = watch::Receiver<Option<bool>>;

/// One agent's sequences.
#[derive(Debug, Default)]
pub(super) struct Sequences {
    /// The highest sequence handed to the sink.
    pub(super) taken: u64,
    /// The highest sequence stored: what a new stream's welcome says.
    pub(super) stored: u64,
    /// Batches handed to the sink and not stored yet.
    pub(super) in_flight: HashMap<u64, Fate>,
}

/// A reply of a stream, sent in the order its messages came.
pub(super) enum Reply<'a> {
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

impl<S: Sink> Shared<S> {
    /// Sends the replies in order, each batch's ack once it is stored. After the first refused
    /// batch (or once the agent stopped listening) nothing more is taken or acknowledged, but
    /// what was taken is settled.
    pub(super) async fn answer(
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
    pub(super) fn settle(
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
    pub(super) fn take_batch(
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
