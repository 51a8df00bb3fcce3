//! What the ingest tests share: an in-memory sink that checks for duplicates, a collector that
//! runs on its own runtime (so that killing it kills every connection, as a crashed process
//! would), an agent client, and a TCP proxy that can cut the agent off.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use probesim_agent::event::Event;
use probesim_agent::stream::{Client, Handle, StreamConfig};
use probesim_collector::ingest::{self, IngestConfig, IngestMetrics};
use probesim_collector::model::{AgentId, AgentInfo, Batch, Sink, SinkError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Keeps every batch; a batch at or below an agent's last stored sequence is a duplicate that
/// ingest should have dropped, and is counted.
#[derive(Debug, Default)]
pub struct MemSink {
    pub state: Mutex<SinkState>,
    results: AtomicUsize,
}

#[derive(Debug, Default)]
pub struct SinkState {
    pub batches: Vec<Batch>,
    pub last: HashMap<AgentId, u64>,
    pub duplicates_stored: u64,
    pub connected: Vec<AgentInfo>,
    pub disconnected: u64,
}

impl Sink for MemSink {
    fn agent_connected(&self, agent: &AgentInfo) {
        self.state.lock().unwrap().connected.push(agent.clone());
    }

    fn agent_disconnected(&self, _agent: &AgentId, _at: SystemTime) {
        self.state.lock().unwrap().disconnected += 1;
    }

    fn last_sequence(&self, agent: &AgentId) -> Option<u64> {
        self.state.lock().unwrap().last.get(agent).copied()
    }

    async fn accept(&self, batch: Batch) -> Result<(), SinkError> {
        let mut s = self.state.lock().unwrap();
        let last = s.last.entry(batch.agent.clone()).or_default();
        if batch.sequence <= *last {
            s.duplicates_stored += 1;
        } else {
            *last = batch.sequence;
        }
        let results = batch
            .events
            .iter()
            .filter(|e| matches!(e, Event::Result(_)))
            .count();
        s.batches.push(batch);
        self.results.fetch_add(results, Ordering::SeqCst);
        Ok(())
    }
}

impl MemSink {
    /// Results stored (duplicates included), cheap to poll.
    pub fn result_count(&self) -> usize {
        self.results.load(Ordering::SeqCst)
    }

    /// Every stored result's prober number (the tests number their results with it), in
    /// storage order.
    pub fn result_numbers(&self) -> Vec<u32> {
        let s = self.state.lock().unwrap();
        s.batches
            .iter()
            .flat_map(|b| b.events.iter())
            .filter_map(|e| match e {
                Event::Result(r) => Some(r.prober),
                _ => None,
            })
            .collect()
    }

    pub fn sequences(&self) -> Vec<u64> {
        let s = self.state.lock().unwrap();
        s.batches.iter().map(|b| b.sequence).collect()
    }
}

/// A collector on a runtime of its own thread.
pub struct Collector {
    pub addr: SocketAddr,
    pub metrics: Arc<IngestMetrics>,
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    /// Listens on `addr` (port 0 for any).
    pub fn start(sink: Arc<MemSink>, addr: SocketAddr, config: IngestConfig) -> Collector {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (kill, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let started = rt.block_on(async {
                // The port of a killed collector may take a moment to be free again.
                let mut listener = TcpListener::bind(addr).await;
                for _ in 0..50 {
                    if listener.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    listener = TcpListener::bind(addr).await;
                }
                let listener = listener.unwrap();
                let addr = listener.local_addr().unwrap();
                let (metrics, _task) =
                    ingest::spawn(listener, sink, config, std::future::pending());
                (addr, metrics)
            });
            ready_tx.send(started).unwrap();
            let _ = kill_rx.recv();
            rt.shutdown_background();
        });
        let (addr, metrics) = ready_rx.recv().unwrap();
        Collector {
            addr,
            metrics,
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the collector at once: every connection is dropped, nothing is flushed.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A client config for tests: fast batches and retries.
pub fn agent_config(url: &str, spool: Option<&std::path::Path>) -> StreamConfig {
    let mut c = StreamConfig::new(url, "node-a");
    c.spool_dir = spool.map(|p| p.to_owned());
    c.batch_interval = Duration::from_millis(20);
    c.max_batch_events = 500;
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(400);
    c.heartbeat_interval = Duration::from_millis(500);
    c.silence_timeout = Duration::from_secs(3);
    c.connect_timeout = Duration::from_secs(2);
    c.shutdown_grace = Duration::from_secs(2);
    c
}

pub fn start_agent(config: StreamConfig) -> (Handle, mpsc::Sender<Event>) {
    let (tx, rx) = mpsc::channel(10_000);
    (Client::start(config, rx).unwrap(), tx)
}

/// Result number `n` of backend 1 (the number is the prober, so that the tests can check for
/// loss, duplicates and order).
pub fn numbered(n: u32) -> Event {
    let mut r = probesim_agent::stream::fixtures::success(1, u64::from(n));
    r.prober = n;
    Event::Result(r)
}

/// Sends results `from..to` at about `per_s` results a second.
pub async fn produce(tx: &mpsc::Sender<Event>, from: u32, to: u32, per_s: u32) {
    let chunk = (per_s / 100).max(1);
    let mut next = tokio::time::Instant::now();
    for start in (from..to).step_by(chunk as usize) {
        for n in start..(start + chunk).min(to) {
            tx.send(numbered(n)).await.unwrap();
        }
        next += Duration::from_millis(10);
        tokio::time::sleep_until(next).await;
    }
}

/// Waits until `done` holds, for at most `limit`.
pub async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// A TCP proxy to `upstream` that can cut every connection and refuse new ones.
pub struct Proxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(loopback()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(generation);
        let (c, g) = (cut.clone(), generation.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: the agent sees its connection closed
                }
                let mut cut_signal = g.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_signal.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            cut,
            generation,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
