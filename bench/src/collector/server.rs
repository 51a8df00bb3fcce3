//! The collector under test, in a child process of its own so that its CPU and memory are
//! measured alone: `probesim-bench collector-server` serves ingest on 127.0.0.1, prints its port
//! as one JSON line, then answers each line on stdin with its figures as one JSON line, until
//! stdin closes (the parent ended, however it ended) or its lifetime runs out.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use probesim_collector::ingest::{self, IngestConfig, IngestMetrics};
use probesim_collector::store::{SqliteStore, StoreConfig};
use serde::{Deserialize, Serialize};

use super::sink::CountingSink;
use crate::cli::{CollectorServerArgs, SinkKind};
use crate::measure;

/// What the child reports when asked.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct ServerFigures {
    pub results: u64,
    pub batches: u64,
    pub bytes: u64,
    pub duplicates: u64,
    pub decode_errors: u64,
    pub streams_open: u64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    pub cpu_s: f64,
}

fn figures(m: &IngestMetrics) -> ServerFigures {
    let c = m.snapshot();
    ServerFigures {
        results: c.results,
        batches: c.batches,
        bytes: c.bytes,
        duplicates: c.duplicates,
        decode_errors: c.decode_errors,
        streams_open: c.streams_open,
        rss_kib: measure::self_rss_kib().unwrap_or(0),
        peak_rss_kib: measure::self_peak_rss_kib().unwrap_or(0),
        cpu_s: measure::self_cpu().map_or(0.0, |d| d.as_secs_f64()),
    }
}

/// Body of the hidden `collector-server` subcommand.
pub fn serve(args: &CollectorServerArgs) -> anyhow::Result<()> {
    crate::collector::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let (port, metrics, store) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let config = IngestConfig::default();
        let (metrics, store) = match args.sink {
            SinkKind::Counting => {
                let sink = Arc::new(CountingSink::default());
                let metrics = ingest::spawn(listener, sink, config, std::future::pending()).0;
                (metrics, None)
            }
            SinkKind::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("probesim-bench-store-")
                    .tempdir()?;
                let store =
                    SqliteStore::open(dir.path().join("probesim.db"), StoreConfig::default())
                        .await
                        .context("opening the store")?;
                let sink = Arc::new(store.clone());
                let metrics = ingest::spawn(listener, sink, config, std::future::pending()).0;
                (metrics, Some((store, dir)))
            }
        };
        anyhow::Ok((port, metrics, store))
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{port}")?;
    out.flush()?;
    let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.send(line.ok()).is_err() {
                return;
            }
        }
        let _ = tx.send(None);
    });
    let deadline = std::time::Instant::now() + args.lifetime;
    while let Ok(Some(_)) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        serde_json::to_writer(&mut out, &figures(&metrics))?;
        writeln!(out)?;
        out.flush()?;
    }
    if let Some((store, dir)) = store {
        runtime.block_on(store.close());
        drop(dir);
    }
    drop(runtime);
    std::process::exit(0)
}

/// The running child; dropping it kills it.
#[derive(Debug)]
pub struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub port: u16,
}

impl Server {
    pub fn spawn(threads: usize, sink: SinkKind, lifetime: Duration) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("locating the probesim-bench binary")?;
        let sink = match sink {
            SinkKind::Counting => "counting",
            SinkKind::Sqlite => "sqlite",
        };
        let mut child = Command::new(exe)
            .args(["collector-server", "--threads", &threads.to_string()])
            .args(["--sink", sink])
            .args(["--lifetime", &format!("{}s", lifetime.as_secs().max(1))])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the collector")?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            bail!("collector: no stdin or stdout");
        };
        let mut server = Server {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            port: 0,
        };
        let mut line = String::new();
        server
            .stdout
            .read_line(&mut line)
            .context("reading the collector's port")?;
        server.port = line
            .trim()
            .parse()
            .with_context(|| format!("the collector printed `{}`", line.trim()))?;
        Ok(server)
    }

    /// Asks the child for its figures.
    pub fn figures(&mut self) -> anyhow::Result<ServerFigures> {
        writeln!(self.stdin, "figures")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        serde_json::from_str(line.trim())
            .with_context(|| format!("the collector printed `{}`", line.trim()))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
