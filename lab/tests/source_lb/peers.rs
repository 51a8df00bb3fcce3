//! A TCP server that records who connected: the peer address (and its scope, for link-local
//! peers) is what shows where a probe came from. It answers any request with `200 ok`, so it
//! serves TCP and HTTP probes alike.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use probesim_agent::netns::{NetNs, NetnsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// How long a connection may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Request heads are read up to this size.
const MAX_HEAD: usize = 8 * 1024;

/// Listens inside a namespace on a thread of its own; dropping it stops both.
pub struct PeerServer {
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), NetnsError>>>,
}

impl PeerServer {
    pub fn start(ns: &NetNs, bind: SocketAddr) -> PeerServer {
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = peers.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let thread = ns
            .spawn(move || async move {
                let listener = match TcpListener::bind(bind).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, peer)) = accepted {
                                seen.lock().unwrap_or_else(PoisonError::into_inner).push(peer);
                                tokio::spawn(answer(stream));
                            }
                        }
                    }
                }
            })
            .expect("server thread");
        ready_rx
            .recv()
            .expect("server thread ended")
            .unwrap_or_else(|e| panic!("listen on {bind} in {}: {e}", ns.name()));
        PeerServer {
            peers,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Every peer that connected, in order.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last peer that connected.
    pub fn last_peer(&self) -> Option<SocketAddr> {
        self.peers().last().copied()
    }
}

/// Reads the request head, if any, and answers `200 ok`; a bare TCP probe just closes.
async fn answer(mut stream: TcpStream) {
    let mut head = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(READ_TIMEOUT, read).await;
    if !head.is_empty() {
        let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        let _ = stream.write_all(answer.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
