//! The TCP prober: a fresh connection, success when the handshake completes, then a close with FIN
//! (Azure's four-way close) or RST.

use std::net::SocketAddr;

use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::lb::outcome::{Outcome, Phase};
use crate::model::CloseMode;
use crate::probe::{ProbeRequest, Timings, classify};

/// Opens a connection to `req.addr` (from `req.bind` if given) before `deadline`. With
/// [`CloseMode::Rst`] the socket lingers zero seconds, so dropping it sends RST whatever protocol
/// runs on top.
pub async fn connect(
    req: &ProbeRequest,
    deadline: Instant,
    timings: &mut Timings,
) -> Result<TcpStream, Outcome> {
    let addr: SocketAddr = req.addr;
    let start = Instant::now();
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| classify::io_error(&e, Phase::Connect))?;
    if req.wire.close == CloseMode::Rst {
        // A zero linger does not block on close: the kernel sends RST and frees the socket.
        socket2::SockRef::from(&socket)
            .set_linger(Some(std::time::Duration::ZERO))
            .map_err(|e| classify::io_error(&e, Phase::Connect))?;
    }
    if let Some(bind) = req.bind {
        socket
            .bind(bind)
            .map_err(|e| classify::io_error(&e, Phase::Connect))?;
    }
    // Probes are tiny: no delayed ACK games, no Nagle.
    let _ = socket.set_nodelay(true);
    match tokio::time::timeout_at(deadline, socket.connect(addr)).await {
        Err(_elapsed) => Err(Outcome::Timeout {
            phase: Phase::Connect,
        }),
        Ok(Err(e)) => Err(classify::io_error(&e, Phase::Connect)),
        Ok(Ok(stream)) => {
            timings.connect = Some(start.elapsed());
            Ok(stream)
        }
    }
}

pub async fn probe(req: &ProbeRequest, deadline: Instant, timings: &mut Timings) -> Outcome {
    match connect(req, deadline, timings).await {
        Ok(stream) => {
            drop(stream);
            Outcome::Connected
        }
        Err(outcome) => outcome,
    }
}
