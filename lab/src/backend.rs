//! Programmable backends: the lab's pods and the probers' test targets. Each answers per path
//! with a status code (or a gRPC status) after a delay, or misbehaves at the connection level
//! (reset, close, hold, garbage); its behaviour can change while it runs, and it can stop
//! accepting new connections while finishing the ones it has, like a pod after SIGTERM.

mod serve;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How a backend answers one request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// For gRPC backends: the `grpc-status` of the answer.
    pub grpc_status: Option<u32>,
    pub delay: Duration,
    pub body: String,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            grpc_status: None,
            delay: Duration::ZERO,
            body: String::new(),
        }
    }

    pub fn grpc(code: u32) -> Answer {
        Answer {
            grpc_status: Some(code),
            ..Answer::status(200)
        }
    }

    pub fn after(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }

    pub fn with_body(mut self, body: &str) -> Answer {
        self.body = body.to_owned();
        self
    }
}

/// What a backend does with a new connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConnBehavior {
    /// Answers requests by its routes.
    #[default]
    Serve,
    /// Reads the request, then resets the connection (RST).
    Reset,
    /// Reads the request, then closes the connection (FIN) without answering.
    Close,
    /// Accepts and never answers (a hung process).
    Hold,
    /// Answers with bytes that are not HTTP.
    Garbage,
}

/// A backend's whole behaviour; replace it at any time with [`Backend::set`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Behavior {
    pub routes: BTreeMap<String, Answer>,
    /// The answer for paths without a route.
    pub fallback: Answer,
    pub conn: ConnBehavior,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            routes: BTreeMap::new(),
            fallback: Answer::status(404),
            conn: ConnBehavior::Serve,
        }
    }
}

impl Behavior {
    /// Answers `path` with `answer`.
    pub fn route(mut self, path: &str, answer: Answer) -> Behavior {
        self.routes.insert(path.to_owned(), answer);
        self
    }

    pub fn fallback(mut self, answer: Answer) -> Behavior {
        self.fallback = answer;
        self
    }

    pub fn conn(mut self, conn: ConnBehavior) -> Behavior {
        self.conn = conn;
        self
    }

    /// ingress-nginx's default backend: 404 on `/`, 200 on `/healthz`.
    pub fn ingress_nginx_default_backend() -> Behavior {
        Behavior::default().route("/healthz", Answer::status(200).with_body("ok"))
    }

    pub fn answer(&self, path: &str) -> &Answer {
        self.routes.get(path).unwrap_or(&self.fallback)
    }
}

/// The protocol a backend speaks.
#[derive(Clone, Debug)]
pub enum Protocol {
    /// HTTP/1.1 in clear text.
    Http,
    /// HTTP/1.1 over TLS with a self-signed certificate.
    Https(tls::ServerTls),
    /// gRPC: HTTP/2 with prior knowledge (h2c), or over TLS with ALPN `h2`.
    Grpc(Option<tls::ServerTls>),
}

/// Counters a test or the lab's ground truth reads.
#[derive(Debug, Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
}

/// A running backend.
#[derive(Debug)]
pub struct Backend {
    addr: SocketAddr,
    behavior: watch::Sender<Behavior>,
    accepting: watch::Sender<bool>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Backend {
    /// Listens on `bind` (port 0 picks one) and serves until dropped.
    pub async fn start(
        bind: SocketAddr,
        protocol: Protocol,
        behavior: Behavior,
    ) -> std::io::Result<Backend> {
        Backend::serve(TcpListener::bind(bind).await?, protocol, behavior)
    }

    /// Serves on a listener bound elsewhere, e.g. inside a pod's network namespace (a socket
    /// stays in the namespace it was created in), on the current tokio runtime.
    pub fn serve(
        listener: TcpListener,
        protocol: Protocol,
        behavior: Behavior,
    ) -> std::io::Result<Backend> {
        let addr = listener.local_addr()?;
        let (behavior_tx, behavior_rx) = watch::channel(behavior);
        let (accepting_tx, accepting_rx) = watch::channel(true);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(serve::accept_loop(
            listener,
            Arc::new(protocol),
            behavior_rx,
            accepting_rx,
            counters.clone(),
        ));
        Ok(Backend {
            addr,
            behavior: behavior_tx,
            accepting: accepting_tx,
            counters,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the behaviour; connections already being answered finish with the old one.
    pub fn set(&self, behavior: Behavior) {
        self.behavior.send_replace(behavior);
    }

    /// Closes the listening socket: new connections are refused, open ones are still answered.
    pub fn stop_accepting(&self) {
        self.accepting.send_replace(false);
    }

    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}
