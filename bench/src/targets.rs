//! The probed targets, served by a child process so that the prober's CPU and memory are
//! measured alone: `probesim-bench serve-targets` binds its ports on 127.0.0.1 only, prints them
//! as one JSON line, and serves until its stdin closes (the parent ended, however it ended) or
//! its lifetime runs out.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use probesim_lab::backend::{Answer, Backend, Behavior, Protocol as BackendProtocol};
use socket2::{Domain, Socket, Type};

use crate::cli::{Protocol, ServeArgs};

/// The path HTTP probes ask for; the targets answer 200 there.
pub const HEALTH_PATH: &str = "/healthz";
/// Pending connections per listening port: the kernel's somaxconn caps it; a full backlog would
/// show up as SYN retransmits (1 s), i.e. as timeouts in the figures.
const BACKLOG: i32 = 4096;
/// How long the child may take to print its ports.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Body of the hidden `serve-targets` subcommand.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    // The runtime and the backends serve on the runtime's workers while this thread waits
    // below; they live until the process exits.
    let mut runtime = None;
    let mut backends = Vec::new();
    let ports = match args.protocol {
        Protocol::Tcp => serve_tcp(args.ports)?,
        Protocol::Http => {
            let rt = runtime.insert(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(args.threads.max(1))
                    .enable_all()
                    .build()?,
            );
            backends = rt.block_on(serve_http(args.ports))?;
            backends.iter().map(|b| b.addr().port()).collect()
        }
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &ports)?;
    writeln!(out)?;
    out.flush()?;
    drop(out);

    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Nothing is ever written to stdin: this returns when the parent closes it or dies.
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(args.lifetime);
    // Blocked accept threads and runtime workers end with the process.
    drop((backends, runtime));
    std::process::exit(0)
}

fn loopback_listener() -> anyhow::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// TCP targets accept and close: one blocking thread per port, two syscalls per connection.
fn serve_tcp(ports: u16) -> anyhow::Result<Vec<u16>> {
    let mut out = Vec::with_capacity(usize::from(ports));
    for _ in 0..ports {
        let listener = loopback_listener()?;
        out.push(listener.local_addr()?.port());
        std::thread::spawn(move || {
            loop {
                // Errors (EMFILE, ECONNABORTED) are transient: the prober sees them as failures.
                let _ = listener.accept();
            }
        });
    }
    Ok(out)
}

/// HTTP targets are the lab's programmable backends answering 200 on [`HEALTH_PATH`] (tokio's
/// listen backlog of 1024 per port).
async fn serve_http(ports: u16) -> anyhow::Result<Vec<Backend>> {
    let behavior = Behavior::default().route(HEALTH_PATH, Answer::status(200).with_body("ok"));
    let bind = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let mut out = Vec::with_capacity(usize::from(ports));
    for _ in 0..ports {
        let backend = Backend::start(bind, BackendProtocol::Http, behavior.clone())
            .await
            .context("starting an HTTP target")?;
        out.push(backend);
    }
    Ok(out)
}

/// The running child process serving the targets; dropping it kills the child.
#[derive(Debug)]
pub struct TargetServers {
    child: Child,
    ports: Vec<u16>,
}

impl TargetServers {
    /// Starts `probesim-bench serve-targets` and waits for its ports.
    pub fn spawn(
        protocol: Protocol,
        ports: u16,
        threads: usize,
        lifetime: Duration,
    ) -> anyhow::Result<TargetServers> {
        let exe = std::env::current_exe().context("locating the probesim-bench binary")?;
        let protocol = match protocol {
            Protocol::Tcp => "tcp",
            Protocol::Http => "http",
        };
        let mut child = Command::new(exe)
            .args(["serve-targets", "--protocol", protocol])
            .args(["--ports", &ports.to_string()])
            .args(["--threads", &threads.to_string()])
            .args(["--lifetime", &format!("{}s", lifetime.as_secs().max(1))])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the target servers")?;
        let stdout = child.stdout.take();
        let mut servers = TargetServers {
            child,
            ports: Vec::new(),
        };
        let Some(stdout) = stdout else {
            bail!("target servers: no stdout")
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let line = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .context("target servers did not print their ports in time")?
            .context("reading the target servers' ports")?;
        servers.ports = serde_json::from_str(line.trim())
            .with_context(|| format!("target servers printed `{}`", line.trim()))?;
        if servers.ports.len() != usize::from(ports) {
            bail!(
                "target servers listen on {} ports, not {ports}",
                servers.ports.len()
            );
        }
        Ok(servers)
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Target `i`'s address: targets are spread over the ports round-robin.
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::LOCALHOST,
            self.ports[i % self.ports.len()],
        ))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TargetServers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
