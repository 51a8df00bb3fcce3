//! Working inside the lab's namespaces from ordinary code: run a future in a namespace, serve a
//! backend from one, and check reachability with a plain HTTP GET from a chosen source address.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::Deref;
use std::thread::JoinHandle;
use std::time::Duration;

use probesim_agent::netns::{NetNs, NetnsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::oneshot;

use crate::backend::{Backend, Behavior, Protocol};

/// Answers are read up to this size; the lab's servers answer far less.
const MAX_ANSWER: usize = 64 * 1024;

/// Runs `f` on a thread inside `ns` and waits for its output (blocking the caller).
pub fn block_in<F, Fut, T>(ns: &NetNs, f: F) -> Result<T, NetnsError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    match ns.spawn(f)?.join() {
        Ok(output) => output,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A [`Backend`] listening inside a namespace, on a thread of its own; dropping it stops both.
#[derive(Debug)]
pub struct NetnsBackend {
    backend: Backend,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), NetnsError>>>,
}

impl NetnsBackend {
    pub fn start(
        ns: &NetNs,
        bind: SocketAddr,
        protocol: Protocol,
        behavior: Behavior,
    ) -> std::io::Result<NetnsBackend> {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = ns
            .spawn(move || async move {
                match Backend::start(bind, protocol, behavior).await {
                    Ok(backend) => {
                        let _ = started_tx.send(Ok(backend));
                        // The backend's tasks run on this thread's runtime until told to stop.
                        let _ = stop_rx.await;
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                    }
                }
            })
            .map_err(std::io::Error::other)?;
        let backend = started_rx
            .recv()
            .map_err(|_| std::io::Error::other("the backend's thread ended before it started"))??;
        Ok(NetnsBackend {
            backend,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Deref for NetnsBackend {
    type Target = Backend;

    fn deref(&self) -> &Backend {
        &self.backend
    }
}

impl Drop for NetnsBackend {
    /// Stopping the thread's runtime ends the backend's tasks with it.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What an HTTP server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `method path` over HTTP/1.1 to `target` from `source` (any local address if `None`), on a
/// fresh connection closed after the answer; the whole exchange within `timeout`. Call it from a
/// thread inside the client's namespace.
pub async fn http_request(
    source: Option<Ipv4Addr>,
    target: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<HttpAnswer> {
    let exchange = async {
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
        }
        let mut stream = socket.connect(target).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: probesim-lab\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER as u64)
            .read_to_end(&mut raw)
            .await?;
        parse(&raw)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))?
}

/// `GET path`: see [`http_request`].
pub async fn http_get(
    source: Option<Ipv4Addr>,
    target: SocketAddr,
    path: &str,
    timeout: Duration,
) -> std::io::Result<HttpAnswer> {
    http_request(source, target, "GET", path, timeout).await
}

/// [`http_get`] from inside `ns`, blocking the caller until the answer or the timeout.
pub fn http_get_in(
    ns: &NetNs,
    source: Option<Ipv4Addr>,
    target: SocketAddr,
    path: &str,
    timeout: Duration,
) -> std::io::Result<HttpAnswer> {
    let path = path.to_owned();
    block_in(ns, move || async move {
        http_get(source, target, &path, timeout).await
    })
    .map_err(std::io::Error::other)?
}

fn parse(raw: &[u8]) -> std::io::Result<HttpAnswer> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let plain = parse(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!(plain.status, 503);
        assert_eq!(plain.header("content-type"), Some("application/json"));
        assert_eq!(plain.body, "{}");
        let chunked =
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .unwrap();
        assert_eq!(chunked.body, "abcde");
        assert!(parse(b"garbage").is_err());
    }
}
