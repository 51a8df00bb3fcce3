//! The probe engine: for each (LB spec, target) K virtual probers evenly phased over the LB
//! interval (design.md, "Virtual probers"), scheduled from one task that owns every target.
//!
//! - Probes start on time and independently: a slow answer never shifts the next probe, as the
//!   clouds document for their own checkers. Lateness (start − due) travels with each result.
//! - Targets are added, changed and removed while running; a change restarts only that target,
//!   and its probes in flight are cancelled.
//! - Concurrency is bounded globally and per target (at most one probe in flight per virtual
//!   prober, with room for the previous one to end), and so is lateness: above its capacity the
//!   engine sheds probes instead of queueing them. A probe the bounds do not allow is skipped and
//!   counted: the engine's limit, never the backend's failure.
//! - Results go to a bounded channel with `try_send`: a slow consumer loses results, which are
//!   counted, and the engine never waits for it.

pub mod phase;
mod stats;

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::probe::tls::TlsConfigs;
use crate::probe::{self, Measurement, ProbeRequest};
pub use phase::Phasing;
pub use stats::{EngineStats, StatsSnapshot};

/// The caller's name for a (spec, target) pair.
pub type TargetId = u64;

/// Probes in flight at once, over all targets, unless configured. Thousands of targets at
/// 10 probes/s with millisecond answers need a few hundred; a black-holed target holds a slot for
/// its whole timeout, so 1 000 of them at 10/s with 2 s timeouts fill half of it and still get two
/// probes per second each. An HTTP probe in flight holds about 16 KiB: 4096 of them stay under
/// 70 MiB, and above capacity a lower bound keeps more of the machine for probes that finish.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4_096;
/// How late a probe may start, unless configured. A probe that cannot start by then is skipped
/// and counted: it no longer samples the moment it stands for, and running it anyway would let an
/// overload grow into a queue in which every later probe starts later still. 100 ms is a tenth of
/// a second-long check interval and the spacing of one target's probes at the default 10/s.
pub const DEFAULT_MAX_LATENESS: Duration = Duration::from_millis(100);
/// Results buffered for the consumer before new ones are dropped (and counted).
pub const DEFAULT_RESULT_CAPACITY: usize = 65_536;
/// Slots dispatched in one go before the scheduler looks at its control channel again.
const DISPATCH_BATCH: usize = 1024;
/// Control messages applied in one go before the scheduler looks at due slots again.
const CONTROL_BATCH: usize = 256;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub max_in_flight: usize,
    pub max_lateness: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_lateness: DEFAULT_MAX_LATENESS,
        }
    }
}

/// What to probe for one target, and how often.
#[derive(Clone, Debug)]
pub struct TargetSpec {
    pub request: ProbeRequest,
    /// The LB's interval.
    pub interval: Duration,
    /// Probes per second over all virtual probers of this target.
    pub rate_per_s: f64,
}

impl TargetSpec {
    fn same_as(&self, other: &TargetSpec) -> bool {
        let (a, b) = (&self.request, &other.request);
        a.addr == b.addr
            && a.protocol == b.protocol
            && a.path == b.path
            && a.timeout == b.timeout
            && a.wire == b.wire
            && a.grpc_tls == b.grpc_tls
            && a.bind == b.bind
            && match (&a.source, &b.source) {
                (None, None) => true,
                (Some(x), Some(y)) => x.same_as(y),
                _ => false,
            }
            && self.interval == other.interval
            && self.rate_per_s == other.rate_per_s
    }
}

/// One probe's result, as the engine hands it on.
#[derive(Clone, Copy, Debug)]
pub struct ProbeRecord {
    pub target: TargetId,
    /// Changes whenever the target's spec changes: results of an older generation belong to the
    /// old spec.
    pub generation: u64,
    /// The virtual prober, `0..K`.
    pub prober: u32,
    /// The probe's slot number since the target (re)started.
    pub slot: u64,
    /// K of this generation.
    pub probers: u32,
    pub due: Instant,
    /// Actual start − due.
    pub lateness: Duration,
    /// Wall-clock start, for stamping.
    pub started_at: SystemTime,
    pub measurement: Measurement,
}

enum Control {
    Upsert(TargetId, TargetSpec),
    Remove(TargetId),
}

/// A running engine; dropping it stops every probe.
#[derive(Debug)]
pub struct Engine {
    control: mpsc::UnboundedSender<Control>,
    stats: Arc<EngineStats>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the scheduler on the current tokio runtime; results go to `results`.
    pub fn start(config: EngineConfig, results: mpsc::Sender<ProbeRecord>) -> Engine {
        let (control, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(EngineStats::default());
        let shutdown = CancellationToken::new();
        let scheduler = Scheduler {
            targets: HashMap::new(),
            heap: BinaryHeap::new(),
            permits: Arc::new(Semaphore::new(config.max_in_flight)),
            max_lateness: config.max_lateness,
            tls: Arc::new(TlsConfigs::new()),
            results,
            stats: stats.clone(),
            shutdown: shutdown.clone(),
        };
        let task = tokio::spawn(scheduler.run(rx));
        Engine {
            control,
            stats,
            shutdown,
            task: Some(task),
        }
    }

    /// Adds a target, or changes it (a change restarts its probers; an identical spec is a no-op).
    pub fn upsert(&self, id: TargetId, spec: TargetSpec) {
        let _ = self.control.send(Control::Upsert(id, spec));
    }

    /// Removes a target and cancels its probes in flight.
    pub fn remove(&self, id: TargetId) {
        let _ = self.control.send(Control::Remove(id));
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops scheduling, cancels every probe in flight and waits for the scheduler to end.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

struct Target {
    spec: TargetSpec,
    request: Arc<ProbeRequest>,
    phasing: Phasing,
    generation: u64,
    start: Instant,
    in_flight: Arc<AtomicU32>,
    cancel: CancellationToken,
}

/// A slot waiting in the heap; ordered so the earliest due is on top.
#[derive(Debug, PartialEq, Eq)]
struct Slot {
    due: Instant,
    target: TargetId,
    generation: u64,
    slot: u64,
}

impl Ord for Slot {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .due
            .cmp(&self.due)
            .then_with(|| other.target.cmp(&self.target))
    }
}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

struct Scheduler {
    targets: HashMap<TargetId, Target>,
    /// One live slot per target; slots of removed or changed targets are dropped when popped.
    heap: BinaryHeap<Slot>,
    permits: Arc<Semaphore>,
    max_lateness: Duration,
    tls: Arc<TlsConfigs>,
    results: mpsc::Sender<ProbeRecord>,
    stats: Arc<EngineStats>,
    shutdown: CancellationToken,
}

impl Scheduler {
    async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) {
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        loop {
            let next = self.heap.peek().map(|s| s.due);
            if let Some(due) = next {
                sleep.as_mut().reset(due);
            }
            // Not biased: a burst of control messages (discovery adding thousands of targets)
            // must not hold back probes that are due, nor a busy schedule hold back control.
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                cmd = control.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.apply(cmd);
                    for _ in 1..CONTROL_BATCH {
                        match control.try_recv() {
                            Ok(cmd) => self.apply(cmd),
                            Err(_) => break,
                        }
                    }
                }
                () = &mut sleep, if next.is_some() => self.dispatch_due(),
            }
        }
        for target in self.targets.values() {
            target.cancel.cancel();
        }
    }

    fn apply(&mut self, cmd: Control) {
        match cmd {
            Control::Upsert(id, spec) => self.upsert(id, spec),
            Control::Remove(id) => self.remove(id),
        }
    }

    fn upsert(&mut self, id: TargetId, spec: TargetSpec) {
        let generation = match self.targets.get(&id) {
            Some(old) if old.spec.same_as(&spec) => return,
            Some(old) => {
                old.cancel.cancel();
                old.generation + 1
            }
            None => 0,
        };
        let phasing = Phasing::for_rate(spec.interval, spec.rate_per_s, id);
        let start = Instant::now();
        self.heap.push(Slot {
            due: start + phasing.due(0),
            target: id,
            generation,
            slot: 0,
        });
        let target = Target {
            request: Arc::new(spec.request.clone()),
            spec,
            phasing,
            generation,
            start,
            in_flight: Arc::new(AtomicU32::new(0)),
            cancel: self.shutdown.child_token(),
        };
        self.targets.insert(id, target);
    }

    fn remove(&mut self, id: TargetId) {
        if let Some(target) = self.targets.remove(&id) {
            target.cancel.cancel();
        }
    }

    fn dispatch_due(&mut self) {
        let now = Instant::now();
        for _ in 0..DISPATCH_BATCH {
            match self.heap.peek() {
                Some(top) if top.due <= now => {}
                _ => return,
            }
            let Some(slot) = self.heap.pop() else { return };
            self.dispatch(slot, now);
        }
    }

    fn dispatch(&mut self, slot: Slot, now: Instant) {
        let Some(target) = self.targets.get(&slot.target) else {
            return;
        };
        if target.generation != slot.generation {
            return;
        }
        self.heap.push(Slot {
            due: target.start + target.phasing.due(slot.slot + 1),
            slot: slot.slot + 1,
            ..slot
        });
        self.stats.scheduled.fetch_add(1, Ordering::Relaxed);
        if now.saturating_duration_since(slot.due) > self.max_lateness {
            self.stats.skipped_late.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // One probe per virtual prober, and one more each while the previous one is still ending:
        // with a timeout equal to the interval (Azure's TCP probes) the old probe times out at
        // the very moment the next is due.
        if target.in_flight.load(Ordering::Relaxed) >= target.phasing.probers.saturating_mul(2) {
            self.stats
                .skipped_target_limit
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.stats
                .skipped_global_limit
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        target.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(target.in_flight.clone());
        let request = target.request.clone();
        let cancel = target.cancel.clone();
        let tls = self.tls.clone();
        let results = self.results.clone();
        let stats = self.stats.clone();
        let max_lateness = self.max_lateness;
        let (target_id, generation, prober, probers) = (
            slot.target,
            slot.generation,
            target.phasing.prober(slot.slot),
            target.phasing.probers,
        );
        tokio::spawn(async move {
            let _permit = permit;
            let _in_flight = in_flight;
            let started = Instant::now();
            let lateness = started.saturating_duration_since(slot.due);
            // A task that waited too long for a worker is as late as a slot popped too late.
            if lateness > max_lateness {
                stats.skipped_late.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let started_at = SystemTime::now();
            stats.record_lateness(lateness);
            let measurement = tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    stats.cancelled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                m = probe::probe(&request, &tls) => m,
            };
            stats.completed.fetch_add(1, Ordering::Relaxed);
            let record = ProbeRecord {
                target: target_id,
                generation,
                prober,
                slot: slot.slot,
                probers,
                due: slot.due,
                lateness,
                started_at,
                measurement,
            };
            if results.try_send(record).is_err() {
                stats.results_dropped.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

/// Counts a target's probe in flight until the probe task ends, however it ends.
struct InFlight(Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
