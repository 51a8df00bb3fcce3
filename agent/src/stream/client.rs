//! The client's loop: one task owns the batch being built, the window and the link, and
//! `select!`s over incoming events, the batch timer, the link's messages and a heartbeat tick.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use probesim_proto::v1::{self, agent_message, collector_message};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tonic::Status;
use tonic::transport::Endpoint;

use super::backoff::Backoff;
use super::config::StreamConfig;
use super::connection::{Session, connect};
use super::error::StreamError;
use super::metrics::{DropCounter, StreamMetrics, add, set};
use super::sequence::Sequencer;
use super::window::Window;
use super::wire::BatchBuilder;
use crate::event::Event;

/// Events taken from the channel per wake-up, so that a busy producer costs one wake-up per
/// many events.
const RECV_BURST: usize = 1024;

type Connecting = Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send>>;

pub(super) struct Worker {
    pub config: StreamConfig,
    pub endpoint: Endpoint,
    pub hello: v1::Hello,
    pub window: Window,
    pub sequence: Sequencer,
    pub metrics: Arc<StreamMetrics>,
    pub drops: Arc<DropCounter>,
}

struct Up {
    session: Session,
    welcomed: bool,
    last_heard: Instant,
}

enum Wake {
    Stop,
    Events(bool),
    Seal,
    Retry,
    Connected(Result<Session, StreamError>),
    Message(Option<Result<v1::CollectorMessage, Status>>),
    Tick,
    Deadline,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn connecting(f: &mut Option<Connecting>) -> Result<Session, StreamError> {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn message(up: &mut Option<Up>) -> Option<Result<v1::CollectorMessage, Status>> {
    match up {
        Some(up) => up.session.inbound.recv().await,
        None => std::future::pending().await,
    }
}

impl Worker {
    pub async fn run(mut self, mut rx: mpsc::Receiver<Event>, mut stop: watch::Receiver<bool>) {
        let mut builder = BatchBuilder::new();
        let mut batch_started: Option<Instant> = None;
        let mut backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max);
        let mut retry_at = Some(Instant::now());
        let mut pending: Option<Connecting> = None;
        let mut up: Option<Up> = None;
        let mut draining_until: Option<Instant> = None;
        let mut heartbeat = tokio::time::interval(self.config.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if let Some(deadline) = draining_until
                && ((self.window.is_empty() && builder.is_empty()) || Instant::now() >= deadline)
            {
                break;
            }
            if retry_at.is_some_and(|t| t <= Instant::now()) && pending.is_none() && up.is_none() {
                retry_at = None;
                let endpoint = self.endpoint.clone();
                let hello = self.hello.clone();
                let queue = self.config.max_in_flight + 4;
                let timeout = self.config.connect_timeout;
                pending = Some(Box::pin(async move {
                    tokio::time::timeout(timeout, connect(endpoint, hello, queue))
                        .await
                        .unwrap_or_else(|_| {
                            Err(StreamError::Connect {
                                collector: "collector".into(),
                                message: format!("no stream within {timeout:?}"),
                            })
                        })
                }));
            }
            if let Some(link) = &up
                && link.welcomed
                && !self.pump(&link.session)
            {
                self.lost(&mut up, &mut retry_at, &mut backoff, "stream closed");
                continue;
            }
            let seal_at = batch_started.map(|t| t + self.config.batch_interval);
            let input = draining_until.is_none();
            let wake = tokio::select! {
                biased;
                _ = stop.changed(), if input => Wake::Stop,
                m = message(&mut up) => Wake::Message(m),
                r = connecting(&mut pending) => Wake::Connected(r),
                open = self.receive(&mut rx, &mut builder), if input => Wake::Events(open),
                _ = sleep_until(seal_at) => Wake::Seal,
                _ = sleep_until(retry_at) => Wake::Retry,
                _ = heartbeat.tick() => Wake::Tick,
                _ = sleep_until(draining_until) => Wake::Deadline,
            };
            match wake {
                Wake::Stop | Wake::Events(false) => {
                    while let Ok(event) = rx.try_recv() {
                        self.add(&mut builder, &event);
                    }
                    self.seal(&mut builder);
                    batch_started = None;
                    draining_until = Some(Instant::now() + self.config.shutdown_grace);
                }
                Wake::Events(true) => {
                    // `add` seals full batches; the timer runs for a batch that has events.
                    if builder.is_empty() {
                        batch_started = None;
                    } else if batch_started.is_none() {
                        batch_started = Some(Instant::now());
                    }
                }
                Wake::Seal => {
                    self.seal(&mut builder);
                    batch_started = None;
                }
                Wake::Retry | Wake::Deadline => {}
                Wake::Connected(Ok(session)) => {
                    pending = None;
                    up = Some(Up {
                        session,
                        welcomed: false,
                        last_heard: Instant::now(),
                    });
                }
                Wake::Connected(Err(e)) => {
                    pending = None;
                    add(&self.metrics.connect_failures, 1);
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?delay, "stream: cannot reach the collector");
                    retry_at = Some(Instant::now() + delay);
                }
                Wake::Message(Some(Ok(m))) => {
                    if let Some(link) = &mut up {
                        link.last_heard = Instant::now();
                        self.handle(link, m, &mut backoff);
                    }
                }
                Wake::Message(Some(Err(status))) => {
                    let why = format!("{}: {}", status.code(), status.message());
                    self.lost(&mut up, &mut retry_at, &mut backoff, &why);
                }
                Wake::Message(None) => {
                    self.lost(&mut up, &mut retry_at, &mut backoff, "stream reader ended");
                }
                Wake::Tick => {
                    if builder.is_empty() && self.drops.pending() {
                        self.seal(&mut builder);
                    }
                    self.heartbeat(&mut up, &mut retry_at, &mut backoff);
                }
            }
        }
        self.window.spill_all();
        if let Err(e) = self.sequence.finish() {
            add(&self.metrics.spool_errors, 1);
            tracing::error!(error = %e, "stream: cannot record the last sequence number");
        }
        set(&self.metrics.connected, 0);
        tracing::info!(unacknowledged = self.window.len(), "stream: stopped");
    }

    /// Waits for events and takes a burst of them; false when every sender is gone.
    async fn receive(
        &mut self,
        rx: &mut mpsc::Receiver<Event>,
        builder: &mut BatchBuilder,
    ) -> bool {
        let Some(first) = rx.recv().await else {
            return false;
        };
        self.add(builder, &first);
        for _ in 0..RECV_BURST {
            if builder.len() >= self.config.max_batch_events {
                break;
            }
            match rx.try_recv() {
                Ok(event) => self.add(builder, &event),
                Err(_) => break,
            }
        }
        true
    }

    fn add(&mut self, builder: &mut BatchBuilder, event: &Event) {
        builder.push(event);
        if builder.len() >= self.config.max_batch_events {
            self.seal(builder);
        }
    }

    /// Seals the batch being built (with what producers dropped since the last one) into the
    /// window.
    fn seal(&mut self, builder: &mut BatchBuilder) {
        if builder.is_empty() && !self.drops.pending() {
            return;
        }
        let own = self.drops.take();
        self.metrics.dropped.add(own);
        let (sequence, recorded) = self.sequence.take();
        if let Err(e) = recorded {
            add(&self.metrics.spool_errors, 1);
            tracing::error!(error = %e, "stream: cannot reserve sequence numbers");
        }
        let batch = std::mem::take(builder).finish(sequence, SystemTime::now(), own.into());
        add(&self.metrics.batches_sealed, 1);
        self.window.push(batch);
    }

    /// Sends what the in-flight bound allows; false when the stream is gone.
    fn pump(&mut self, session: &Session) -> bool {
        while self.window.in_flight() < self.config.max_in_flight && self.window.has_unsent() {
            let permit = match session.outbound.try_reserve() {
                Ok(p) => p,
                Err(mpsc::error::TrySendError::Full(())) => return true,
                Err(mpsc::error::TrySendError::Closed(())) => return false,
            };
            let Some(batch) = self.window.next_to_send() else {
                break;
            };
            permit.send(v1::AgentMessage {
                message: Some(agent_message::Message::Batch(batch)),
            });
            add(&self.metrics.batches_sent, 1);
        }
        true
    }

    fn handle(&mut self, link: &mut Up, m: v1::CollectorMessage, backoff: &mut Backoff) {
        match m.message {
            Some(collector_message::Message::Welcome(w)) => {
                link.welcomed = true;
                backoff.reset();
                add(&self.metrics.connects, 1);
                set(&self.metrics.connected, 1);
                self.window.rewind();
                self.acknowledge(w.last_sequence);
                tracing::info!(
                    last_sequence = w.last_sequence,
                    unacknowledged = self.window.len(),
                    "stream: connected"
                );
            }
            Some(collector_message::Message::Ack(a)) => self.acknowledge(a.sequence),
            Some(collector_message::Message::Heartbeat(_)) | None => {}
        }
    }

    fn acknowledge(&mut self, sequence: u64) {
        let (batches, events) = self.window.acknowledge(sequence);
        add(&self.metrics.batches_acked, batches);
        add(&self.metrics.events_acked, events);
        self.metrics
            .last_acked
            .fetch_max(sequence, std::sync::atomic::Ordering::Relaxed);
    }

    fn heartbeat(
        &mut self,
        up: &mut Option<Up>,
        retry_at: &mut Option<Instant>,
        backoff: &mut Backoff,
    ) {
        let Some(link) = up else {
            return;
        };
        if link.last_heard.elapsed() > self.config.silence_timeout {
            let why = format!(
                "the collector was silent for {:?}",
                self.config.silence_timeout
            );
            self.lost(up, retry_at, backoff, &why);
            return;
        }
        let beat = v1::AgentMessage {
            message: Some(agent_message::Message::Heartbeat(v1::Heartbeat {
                sent_at_ns: super::wire::time::to_ns(SystemTime::now()),
            })),
        };
        // A full queue already tells the collector that the agent is alive.
        let _ = link.session.outbound.try_send(beat);
    }

    fn lost(
        &mut self,
        up: &mut Option<Up>,
        retry_at: &mut Option<Instant>,
        backoff: &mut Backoff,
        why: &str,
    ) {
        if up.take().is_some() {
            add(&self.metrics.connect_failures, 1);
        }
        set(&self.metrics.connected, 0);
        self.window.rewind();
        let delay = backoff.next_delay();
        tracing::warn!(why, retry_in = ?delay, unacknowledged = self.window.len(), "stream: lost the collector");
        *retry_at = Some(Instant::now() + delay);
    }
}
