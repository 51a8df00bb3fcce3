//! The TCP prober: a fresh connection, success when the handshake completes, then a close with FIN
//! (Azure's four-way close) or RST.
//!
//! The connect is done by hand on a non-blocking socket rather than through `tokio::net`, because
//! the agent's targets are mostly on its own node (NodePorts, health-check node ports, local pod
//! IPs behind a veth): there the kernel completes the handshake inside the `connect` call, and a
//! second `connect` tells so at once. Such a probe costs `socket`, `connect`, `connect`, `close`
//! and never touches the reactor; only a handshake still pending is registered with it and
//! awaited. That is the blocking loop's syscall count, where the reactor path takes seven.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::lb::outcome::{Outcome, Phase};
use crate::model::{CloseMode, ProbeProtocol};
use crate::probe::{ProbeRequest, Timings, classify};

/// A connection attempt after its first `connect` call.
enum Started {
    Connected(Socket),
    Pending(Socket),
}

/// Opens a connection to `req.addr` (from `req.bind` if given) before `deadline`. With
/// [`CloseMode::Rst`] the socket lingers zero seconds, so dropping it sends RST whatever protocol
/// runs on top.
pub async fn connect(
    req: &ProbeRequest,
    deadline: Instant,
    timings: &mut Timings,
) -> Result<TcpStream, Outcome> {
    let start = Instant::now();
    let socket = match begin(req).map_err(connect_error)? {
        Started::Connected(socket) => socket,
        Started::Pending(socket) => {
            let stream = finish(socket, deadline).await?;
            timings.connect = Some(start.elapsed());
            return Ok(stream);
        }
    };
    timings.connect = Some(start.elapsed());
    TcpStream::from_std(socket.into()).map_err(connect_error)
}

/// A TCP-only probe: a connection that completes at once is closed without ever reaching the
/// reactor.
pub async fn probe(req: &ProbeRequest, deadline: Instant, timings: &mut Timings) -> Outcome {
    let start = Instant::now();
    let result = match begin(req) {
        Ok(Started::Connected(socket)) => {
            drop(socket);
            Ok(())
        }
        Ok(Started::Pending(socket)) => finish(socket, deadline).await.map(drop),
        Err(e) => Err(connect_error(e)),
    };
    match result {
        Ok(()) => {
            timings.connect = Some(start.elapsed());
            Outcome::Connected
        }
        Err(outcome) => outcome,
    }
}

/// Creates the socket and starts the handshake; asks once more whether it has completed, which
/// it has for local targets.
fn begin(req: &ProbeRequest) -> io::Result<Started> {
    let addr: SocketAddr = req.addr;
    let (domain, ty, proto) = (
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(socket2::Protocol::TCP),
    );
    let socket = match req.source.as_ref().and_then(|s| s.factory()) {
        None => Socket::new(domain, ty, proto)?,
        Some(factory) => factory.socket(domain, ty, proto)?,
    };
    if req.wire.close == CloseMode::Rst {
        // A zero linger does not block on close: the kernel sends RST and frees the socket.
        socket.set_linger(Some(std::time::Duration::ZERO))?;
    }
    if let Some(bind) = req.bind {
        socket.bind(&SockAddr::from(bind))?;
    }
    if req.protocol != ProbeProtocol::Tcp {
        // Requests are tiny: no Nagle. A TCP-only probe sends nothing.
        socket.set_tcp_nodelay(true)?;
    }
    // A non-blocking connect answers EINPROGRESS when it has begun, and a second one EALREADY
    // while the handshake is still pending.
    let target = SockAddr::from(addr);
    match socket.connect(&target) {
        Ok(()) => return Ok(Started::Connected(socket)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    match socket.connect(&target) {
        Ok(()) => Ok(Started::Connected(socket)),
        Err(e) if e.raw_os_error() == Some(libc::EALREADY) => Ok(Started::Pending(socket)),
        Err(e) => Err(e),
    }
}

/// Waits for a pending handshake on the reactor until `deadline`.
async fn finish(socket: Socket, deadline: Instant) -> Result<TcpStream, Outcome> {
    let stream = TcpStream::from_std(socket.into()).map_err(connect_error)?;
    match tokio::time::timeout_at(deadline, stream.writable()).await {
        Err(_elapsed) => Err(Outcome::Timeout {
            phase: Phase::Connect,
        }),
        Ok(Err(e)) => Err(connect_error(e)),
        // Writable means the handshake ended; `SO_ERROR` says how.
        Ok(Ok(())) => match stream.take_error() {
            Ok(None) => Ok(stream),
            Ok(Some(e)) | Err(e) => Err(connect_error(e)),
        },
    }
}

fn connect_error(e: io::Error) -> Outcome {
    classify::io_error(&e, Phase::Connect)
}
