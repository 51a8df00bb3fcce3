//! `probesim-collector serve` as a user runs it: settings from `PROBESIM_*` variables, the HTTP
//! listener up, a clean stop on SIGTERM with the database on disk.

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the collector may take to start listening (a debug build on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// Kills the collector if the test ends before it stopped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_takes_its_settings_from_the_environment_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/probesim.db");
    let http = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_probesim-collector"))
        .arg("serve")
        .env("PROBESIM_HTTP_LISTEN", http.to_string())
        .env("PROBESIM_GRPC_LISTEN", free_port().to_string())
        .env("PROBESIM_DB", &db)
        .env("PROBESIM_RETENTION", "2d")
        .env("PROBESIM_MAX_DB_SIZE", "64MiB")
        .env("PROBESIM_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);

    let started = Instant::now();
    let health = loop {
        if let Some(answer) = get(http, "/healthz") {
            break answer;
        }
        assert!(started.elapsed() < START_TIMEOUT, "no answer on {http}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let agents = get(http, "/api/v1/agents").unwrap();
    assert!(agents.ends_with("{\"agents\":[]}"), "{agents}");

    let status = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut log = String::new();
    running
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("\"signal\":\"SIGTERM\""), "{log}");
    assert!(
        log.lines().all(|l| l.starts_with('{')),
        "JSON log lines: {log}"
    );
    assert!(db.exists());
}

#[test]
fn serve_names_the_flag_and_value_it_cannot_use() {
    let table = [
        ("PROBESIM_MAX_DB_SIZE", "5XB", "--max-db-size"),
        ("PROBESIM_RETENTION", "0d", "--retention"),
        ("PROBESIM_HTTP_LISTEN", "localhost", "--http-listen"),
    ];
    for (var, value, flag) in table {
        let out = Command::new(env!("CARGO_BIN_EXE_probesim-collector"))
            .arg("serve")
            .env(var, value)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(flag) && err.contains(value),
            "{var}={value}: {err}"
        );
    }
}

/// Reads `/metrics` until `line` is in it.
fn wait_for_metric(http: SocketAddr, line: &str) -> String {
    let started = Instant::now();
    loop {
        let text = get(http, "/metrics").unwrap_or_default();
        if text.lines().any(|l| l == line) {
            return text;
        }
        assert!(
            started.elapsed() < START_TIMEOUT,
            "no {line:?} in /metrics:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_stores_what_an_agent_streams_to_its_grpc_port() {
    use probesim_agent::event::Event;
    use probesim_agent::stream::{Client, StreamConfig, fixtures};

    let dir = tempfile::tempdir().unwrap();
    let (http, grpc) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_probesim-collector"))
        .arg("serve")
        .env("PROBESIM_HTTP_LISTEN", http.to_string())
        .env("PROBESIM_GRPC_LISTEN", grpc.to_string())
        .env("PROBESIM_DB", dir.path().join("probesim.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let events = fixtures::mixed_events();
    let results = events
        .iter()
        .filter(|e| matches!(e, Event::Result(_)))
        .count();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let handle = runtime.block_on(async {
        let mut config = StreamConfig::new(format!("http://{grpc}"), "node-1");
        config.spool_dir = None;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let handle = Client::start(config, rx).unwrap();
        for event in events {
            tx.send(event).await.unwrap();
        }
        handle
    });
    let metrics = wait_for_metric(http, &format!("probesim_collector_results_total {results}"));
    assert!(
        metrics
            .lines()
            .any(|l| l == "probesim_collector_ingest_streams_total 1"),
        "{metrics}"
    );
    let agents = get(http, "/api/v1/agents").unwrap();
    assert!(agents.contains("\"node\":\"node-1\""), "{agents}");
    runtime.block_on(handle.shutdown());

    let status = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(running.0.wait().unwrap().success());
}
