//! Debian's prometheus-blackbox-exporter on the same targets: started on 127.0.0.1 with a
//! generated configuration, and asked for probes as fast as a driver can ask: C keep-alive
//! clients call `/probe?module=...&target=...` round-robin over the targets. Its CPU and memory
//! come from /proc/PID; `probe_success 0` answers count as errors. It runs under coreutils'
//! `timeout`, so that it ends by itself even if the harness is killed.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::cli::{EngineArgs, Protocol};
use crate::measure;
use crate::report::{Figures, mib};
use crate::targets::{HEALTH_PATH, TargetServers};

const INSTALL_HINT: &str = "the blackbox baseline needs Debian's prometheus-blackbox-exporter: \
     check `apt-cache policy prometheus-blackbox-exporter`, then \
     `apt-get install -y prometheus-blackbox-exporter`";
/// How long the exporter may take to answer `/-/healthy` after it started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// The exporter outlives the run by at most this much if the harness is lost.
const EXPORTER_GRACE: Duration = Duration::from_secs(60);
/// Beyond the probe's own timeout, how long one `/probe` request may take.
const REQUEST_SLACK: Duration = Duration::from_secs(3);

/// Finds the exporter's binary (a path, or a name looked up in PATH), or says how to install it.
pub fn locate(bin: &str) -> anyhow::Result<PathBuf> {
    if bin.contains('/') {
        let path = PathBuf::from(bin);
        if path.is_file() {
            return Ok(path);
        }
    } else if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(bin))
            .find(|p| p.is_file())
    }) {
        return Ok(found);
    }
    bail!("`{bin}` not found; {INSTALL_HINT}")
}

/// The generated configuration: one module per protocol, with the engine's timeout.
fn config(timeout: Duration) -> String {
    let t = format!("{}ms", timeout.as_millis());
    format!(
        "modules:\n  \
           tcp_connect:\n    prober: tcp\n    timeout: {t}\n    tcp:\n      preferred_ip_protocol: ip4\n  \
           http_2xx:\n    prober: http\n    timeout: {t}\n    http:\n      preferred_ip_protocol: ip4\n      valid_status_codes: [200]\n"
    )
}

/// The exporter process and its files; dropping it stops the exporter and removes the files.
#[derive(Debug)]
struct Exporter {
    /// coreutils `timeout`, the exporter's parent.
    wrapper: Child,
    pid: u32,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Exporter {
    fn start(bin: &Path, timeout: Duration, lifetime: Duration) -> anyhow::Result<Exporter> {
        let dir = std::env::temp_dir().join(format!("probesim-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let config_file = dir.join("blackbox.yml");
        std::fs::write(&config_file, config(timeout))?;
        let port = free_loopback_port()?;
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        let log = std::fs::File::create(dir.join("exporter.log"))?;
        let wrapper = Command::new("timeout")
            .arg("--kill-after=5s")
            .arg(format!("{}s", lifetime.as_secs().max(1)))
            .arg(bin)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting prometheus-blackbox-exporter under coreutils `timeout`")?;
        let mut exporter = Exporter {
            wrapper,
            pid: 0,
            addr,
            dir,
        };
        exporter.pid = exporter.find_child()?;
        Ok(exporter)
    }

    /// The exporter's pid: the child of the `timeout` wrapper.
    fn find_child(&mut self) -> anyhow::Result<u32> {
        let parent = self.wrapper.id();
        let deadline = std::time::Instant::now() + STARTUP_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.wrapper.try_wait()? {
                bail!("prometheus-blackbox-exporter exited at once ({status}); see its log");
            }
            let found = std::fs::read_dir("/proc")?
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .find(|&pid| measure::proc_ppid(pid) == Some(parent));
            if let Some(pid) = found {
                return Ok(pid);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!("prometheus-blackbox-exporter did not start")
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            let status =
                tokio::time::timeout(Duration::from_secs(1), get_status(self.addr, "/-/healthy"))
                    .await;
            if matches!(status, Ok(Ok(StatusCode::OK))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("exporter.log")).unwrap_or_default();
        bail!(
            "prometheus-blackbox-exporter did not become healthy on {}:\n{log}",
            self.addr
        )
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // `timeout` passes SIGTERM on to the exporter and exits with it.
        let _ = kill(Pid::from_raw(self.wrapper.id() as i32), Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if matches!(self.wrapper.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.wrapper.try_wait(), Ok(None)) {
            if self.pid != 0 && measure::proc_ppid(self.pid) == Some(self.wrapper.id()) {
                let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
            }
            let _ = self.wrapper.kill();
            let _ = self.wrapper.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

async fn get_status(addr: SocketAddr, path: &str) -> anyhow::Result<StatusCode> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    let conn = tokio::spawn(conn);
    let request = Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let status = sender.send_request(request).await?.status();
    conn.abort();
    Ok(status)
}

/// Whether a `/probe` answer says `probe_success 1`.
fn probe_succeeded(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("probe_success "))
            .is_some_and(|v| v.trim() == "1")
    })
}

#[derive(Debug, Default)]
struct ClientTally {
    probes: u64,
    failed: u64,
    transport_errors: u64,
}

/// One keep-alive client: asks for probes of the targets in turn until `deadline`, reconnecting
/// after a failed request.
async fn client(
    exporter: SocketAddr,
    paths: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
    request_timeout: Duration,
) -> ClientTally {
    let mut tally = ClientTally::default();
    let host = exporter.to_string();
    while Instant::now() < deadline {
        let Ok(Ok(stream)) =
            tokio::time::timeout(request_timeout, TcpStream::connect(exporter)).await
        else {
            tally.transport_errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) = http1::handshake(TokioIo::new(stream)).await else {
            tally.transport_errors += 1;
            continue;
        };
        let conn = tokio::spawn(conn);
        while Instant::now() < deadline {
            let path = &paths[next.fetch_add(1, Ordering::Relaxed) % paths.len()];
            let Ok(request) = Request::get(path.as_str())
                .header(hyper::header::HOST, host.as_str())
                .body(Empty::<Bytes>::new())
            else {
                tally.transport_errors += 1;
                continue;
            };
            let exchange = async {
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((status, body))
            };
            match tokio::time::timeout(request_timeout, exchange).await {
                Ok(Ok((status, body))) => {
                    tally.probes += 1;
                    if status != StatusCode::OK || !probe_succeeded(&body) {
                        tally.failed += 1;
                    }
                }
                _ => {
                    tally.transport_errors += 1;
                    break;
                }
            }
        }
        conn.abort();
    }
    tally
}

/// Drives the exporter for the run's duration against the engine's targets.
pub async fn measure(
    args: &EngineArgs,
    servers: &TargetServers,
    bin: &Path,
) -> anyhow::Result<Figures> {
    let exporter = Exporter::start(bin, args.timeout, args.duration + EXPORTER_GRACE)?;
    exporter.wait_healthy().await?;
    let paths: Vec<String> = (0..args.targets as usize)
        .map(|i| {
            let addr = servers.addr(i);
            match args.protocol {
                Protocol::Tcp => format!("/probe?module=tcp_connect&target={addr}"),
                Protocol::Http => {
                    format!("/probe?module=http_2xx&target=http://{addr}{HEALTH_PATH}")
                }
            }
        })
        .collect();
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));

    let exporter_cpu_before = measure::proc_cpu(exporter.pid)?;
    let server_cpu_before = measure::proc_cpu(servers.pid())?;
    let driver_cpu_before = measure::self_cpu()?;
    let load = measure::MachineLoad::start()?;
    let start = Instant::now();
    let deadline = start + args.duration;
    let clients: Vec<_> = (0..args.blackbox_clients)
        .map(|_| {
            tokio::spawn(client(
                exporter.addr,
                paths.clone(),
                next.clone(),
                deadline,
                args.timeout + REQUEST_SLACK,
            ))
        })
        .collect();
    let mut tally = ClientTally::default();
    for c in clients {
        let t = c.await?;
        tally.probes += t.probes;
        tally.failed += t.failed;
        tally.transport_errors += t.transport_errors;
    }
    let elapsed = start.elapsed();
    let cpu = measure::proc_cpu(exporter.pid)?.saturating_sub(exporter_cpu_before);
    let server_cpu = measure::proc_cpu(servers.pid())?.saturating_sub(server_cpu_before);
    let driver_cpu = measure::self_cpu()?.saturating_sub(driver_cpu_before);
    let others = load.others_since(cpu + server_cpu + driver_cpu)?;
    let rss_kib = measure::status_kib(Some(exporter.pid), "VmHWM")?;
    drop(exporter);

    let mut figures = Figures {
        name: "blackbox_exporter".to_owned(),
        probes: tally.probes,
        rss_mib: mib(rss_kib),
        target_server_cpu_s: server_cpu.as_secs_f64(),
        other_processes_cpu_s: others,
        ..Figures::default()
    };
    figures.derive_rates(elapsed, cpu);
    figures.count_error("probe_success_0", tally.failed);
    figures.count_error("driver_request_failed", tally.transport_errors);
    figures.details.extend([
        ("clients".to_owned(), json!(args.blackbox_clients)),
        ("driver_cpu_s".to_owned(), json!(driver_cpu.as_secs_f64())),
        ("close".to_owned(), json!("fin")),
    ]);
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_success_is_read_from_the_metrics_text() {
        let ok = b"# HELP probe_success Displays whether or not the probe was a success\n\
                   # TYPE probe_success gauge\nprobe_success 1\n";
        let failed = b"probe_duration_seconds 0.001\nprobe_success 0\n";
        assert!(probe_succeeded(ok));
        assert!(!probe_succeeded(failed));
        assert!(!probe_succeeded(b"probe_success_total 1\n"));
        assert!(!probe_succeeded(b""));
    }

    #[test]
    fn the_generated_configuration_has_both_modules_with_the_timeout() {
        let c = config(Duration::from_secs(2));
        assert!(c.contains("  tcp_connect:\n    prober: tcp\n    timeout: 2000ms\n"));
        assert!(c.contains("  http_2xx:\n    prober: http\n    timeout: 2000ms\n"));
    }

    #[test]
    fn a_missing_binary_says_how_to_install_it() {
        let e = locate("probesim-no-such-exporter").expect_err("missing");
        assert!(
            e.to_string()
                .contains("apt-get install -y prometheus-blackbox-exporter")
        );
    }
}
