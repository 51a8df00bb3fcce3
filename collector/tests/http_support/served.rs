//! The collector's HTTP listener on 127.0.0.1 over a store, and raw HTTP/1.1 requests to it:
//! what the route tests share.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

use probesim_collector::api;
use probesim_collector::store::{SqliteStore, StoreConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A store in a temporary directory (kept while the directory is).
pub async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db"), StoreConfig::default())
        .await
        .unwrap();
    (dir, store)
}

/// The HTTP listener serving `store` on an ephemeral port of 127.0.0.1.
pub struct Served {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    server: JoinHandle<probesim_collector::error::Result<()>>,
}

impl Served {
    pub async fn start(store: &SqliteStore) -> Served {
        let listener = api::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(api::serve(listener, store.clone(), shutdown.clone()));
        Served {
            addr,
            shutdown,
            server,
        }
    }

    /// Stops the listener; it must end cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap().unwrap();
    }
}

/// Status, head (lowercase) and body of one request; `extra` holds more header lines, each
/// ending in CRLF.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    extra: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: collector\r\nConnection: close\r\n{extra}\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_owned())
}

/// The `content-type` of a head as [`request`] returns it; empty when there is none.
pub fn content_type(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("")
        .to_owned()
}
