//! The writer task: a group commit every flush interval, retention every retention interval.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::{Instant, MissedTickBehavior, interval, interval_at};

use super::retention::{self, Swept};
use super::{Inner, Waiter, blocking_error, lock, write};
use crate::error::Result;
use crate::metrics::Metrics;
use crate::model::SinkError;
use crate::timeline::BackendRowId;

pub async fn run(inner: Arc<Inner>) {
    let mut flush_tick = interval(inner.config.flush_interval);
    flush_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let every = inner.config.retention_interval;
    let mut retention_tick = interval_at(Instant::now() + every, every);
    retention_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = flush_tick.tick() => flush(&inner).await,
            _ = retention_tick.tick() => {
                if let Err(e) = retention(&inner, SystemTime::now()).await {
                    tracing::error!(error = %e, "retention failed; it runs again later");
                }
            }
            () = inner.shutdown.cancelled() => break,
        }
    }
    lock(&inner.state).closed = true;
    flush(&inner).await;
}

/// Commits the pending flush and answers every batch waiting for it.
pub async fn flush(inner: &Arc<Inner>) {
    // One flush at a time, in the order they took their batches: a later agent sequence must
    // never be overwritten by an earlier one.
    let _serial = inner.flushing.lock().await;
    let (pending, waiters) = {
        let mut state = lock(&inner.state);
        (
            std::mem::take(&mut state.pending),
            std::mem::take(&mut state.waiters),
        )
    };
    if pending.is_empty() && waiters.is_empty() {
        return;
    }
    let started = Instant::now();
    let job = inner.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut conn = lock(&job.writer);
        let result = write::commit(&mut conn, &job.path, &pending, &job.upsert);
        (pending, result)
    })
    .await;
    match outcome {
        Ok((pending, Ok(()))) => {
            {
                let mut state = lock(&inner.state);
                state.durable.absorb(&pending);
                for backend in pending.backends.values() {
                    state.now.resize(backend.id, backend.probers);
                }
                state.now.apply(&pending.transitions);
                let durable = &state.durable;
                inner.metrics.stored(&pending, started.elapsed(), |row| {
                    durable.backends.get(&row).map(|b| b.key.lb)
                });
            }
            for (_, _, waiter) in waiters {
                let _ = waiter.send(Ok(()));
            }
        }
        Ok((_, Err(e))) => fail(inner, waiters, e.to_string()),
        Err(e) => fail(
            inner,
            waiters,
            blocking_error(&inner.path, "flush", e).to_string(),
        ),
    }
}

/// A failed commit: every batch not stored is refused (the agents send them again), including
/// those taken since, and the live registry forgets everything not stored.
fn fail(inner: &Inner, mut waiters: Vec<Waiter>, message: String) {
    tracing::error!(error = %message, "storing batches failed; they are not acknowledged");
    {
        let mut state = lock(&inner.state);
        state.live = state.durable.clone();
        state.pending = Default::default();
        waiters.append(&mut state.waiters);
        for (agent, sequence, _) in &waiters {
            let low = state.refused.entry(agent.clone()).or_insert(*sequence);
            *low = (*low).min(*sequence);
        }
    }
    Metrics::add(&inner.metrics.storage_errors, 1);
    Metrics::add(&inner.metrics.failed_batches, waiters.len() as u64);
    for (_, _, waiter) in waiters {
        let _ = waiter.send(Err(SinkError::Storage(message.clone())));
    }
}

/// One retention run on the writer connection, between flushes.
pub async fn retention(inner: &Arc<Inner>, now: SystemTime) -> Result<Swept> {
    let _serial = inner.flushing.lock().await;
    let job = inner.clone();
    let swept = tokio::task::spawn_blocking(move || {
        let mut conn = lock(&job.writer);
        retention::sweep(&mut conn, &job.path, now, &job.config)
    })
    .await
    .map_err(|e| blocking_error(&inner.path, "retention", e))??;
    Metrics::add(&inner.metrics.retention_deleted_rows, swept.rows);
    inner
        .metrics
        .db_used_bytes
        .store(swept.used_bytes, std::sync::atomic::Ordering::Relaxed);
    if !swept.backends.is_empty() {
        let mut state = lock(&inner.state);
        let state = &mut *state;
        // A backend declared again since it was deleted is stored again by the next flush.
        let gone: Vec<BackendRowId> = swept
            .backends
            .iter()
            .copied()
            .filter(|b| !state.pending.backends.contains_key(b))
            .collect();
        state.durable.forget_backends(&swept.backends);
        state.live.forget_backends(&gone);
        for backend in &gone {
            state.now.forget(*backend);
        }
    }
    if swept.rows > 0 {
        tracing::info!(
            rows = swept.rows,
            used_bytes = swept.used_bytes,
            "retention deleted old data"
        );
    }
    Ok(swept)
}
