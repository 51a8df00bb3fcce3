//! The loop every controller runs: reconcile everything, then sleep until a relevant object
//! changes, a requested time comes, or the controllers stop.
//!
//! Level-triggered, like kube-controller-manager's controllers after an informer resync: each pass
//! reads the whole store, so a missed or lagged event costs nothing but a pass.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::api::{Resource, Store};

/// How soon a pass whose writes failed is retried, when nothing else wakes the controller.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Events folded into one pass at most; past that the next pass starts anyway.
const MAX_COALESCED: usize = 100_000;

/// One controller: what it follows and how it brings the store towards the desired state.
pub trait Reconcile: Send + 'static {
    /// Its name in logs.
    fn name(&self) -> &'static str;
    /// Whether a change of `resource` may need a pass.
    fn follows(&self, resource: Resource) -> bool;
    /// One pass over the store; returns when to look again even if nothing changes.
    fn reconcile(&mut self, store: &Store) -> Option<Duration>;
}

/// Runs `controller` until `stop` turns true (or its sender goes).
pub async fn run(
    store: Arc<Store>,
    mut controller: impl Reconcile,
    mut stop: watch::Receiver<bool>,
) {
    let name = controller.name();
    // Subscribed before the first pass, so nothing written during it goes unseen.
    let mut events = store.subscribe();
    tracing::debug!(controller = name, "started");
    loop {
        let wake = controller.reconcile(&store).map(|d| Instant::now() + d);
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => {
                    tracing::debug!(controller = name, "stopped");
                    return;
                }
                event = events.recv() => match event {
                    Ok(event) if controller.follows(event.resource) => break,
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(controller = name, missed, "lagged behind the store; resyncing");
                        break;
                    }
                    Err(RecvError::Closed) => return,
                },
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => break,
            }
        }
        // A burst of writes (a rollout step, a kubelet status update) needs one pass, not one each.
        for _ in 0..MAX_COALESCED {
            match events.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }
}
