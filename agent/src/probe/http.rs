//! The HTTP and HTTPS prober: `GET <path> HTTP/1.1` on a connection of its own, with the LB's
//! headers; redirects are not followed; only the status counts, and at most
//! [`MAX_BODY_BYTES`] of the body are read before the connection is closed.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::lb::outcome::{LocalFailure, Outcome, Phase};
use crate::model::ProbeProtocol;
use crate::probe::tls::{self, TlsConfigs};
use crate::probe::{MAX_BODY_BYTES, ProbeRequest, Timings, classify, tcp};

pub async fn probe(
    req: &ProbeRequest,
    deadline: Instant,
    configs: &TlsConfigs,
    start: Instant,
    timings: &mut Timings,
) -> Outcome {
    let result = if req.protocol == ProbeProtocol::Https {
        match tls::connect(req, deadline, configs, false, timings).await {
            Ok(stream) => exchange(stream, req, deadline, start, timings).await,
            Err(outcome) => Err(outcome),
        }
    } else {
        match tcp::connect(req, deadline, timings).await {
            Ok(stream) => exchange(stream, req, deadline, start, timings).await,
            Err(outcome) => Err(outcome),
        }
    };
    result.unwrap_or_else(|outcome| outcome)
}

/// The request an LB checker sends: `Host` is the target's address and port, as observed of
/// Azure's and AWS's checkers; the connection is not kept alive.
pub fn request(req: &ProbeRequest) -> Result<Request<Empty<Bytes>>, Outcome> {
    let mut builder = Request::get(&*req.path)
        .header(hyper::header::HOST, req.addr.to_string())
        .header(hyper::header::CONNECTION, "close");
    if let Some(ua) = &req.wire.user_agent {
        builder = builder.header(hyper::header::USER_AGENT, ua.as_str());
    }
    // A path that is not a valid request target is our configuration's fault, not the target's.
    builder
        .body(Empty::new())
        .map_err(|_| Outcome::Local(LocalFailure::Other))
}

async fn exchange<S>(
    io: S,
    req: &ProbeRequest,
    deadline: Instant,
    start: Instant,
    timings: &mut Timings,
) -> Result<Outcome, Outcome>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let request = request(req)?;
    let (mut sender, conn) = http1::Builder::new()
        .max_buf_size(16 * 1024)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| classify::hyper_error(&e))?;
    let mut conn = std::pin::pin!(conn);
    // The connection future drives the exchange and ends once the server closes (we ask it to);
    // it may end in the same poll that delivers the response, so an ended connection is followed
    // by a look at the response, and never polled again.
    let mut conn_done = false;
    let head = async {
        let mut response = std::pin::pin!(sender.send_request(request));
        tokio::select! {
            biased;
            r = response.as_mut() => r.map_err(|e| classify::hyper_error(&e)),
            ended = conn.as_mut() => {
                conn_done = true;
                match ended {
                    Ok(()) => response.await.map_err(|e| classify::hyper_error(&e)),
                    Err(e) => Err(classify::hyper_error(&e)),
                }
            }
        }
    };
    let response: Response<Incoming> = match tokio::time::timeout_at(deadline, head).await {
        Err(_elapsed) => {
            return Err(Outcome::Timeout {
                phase: Phase::Response,
            });
        }
        Ok(result) => result?,
    };
    timings.first_byte = Some(start.elapsed());
    let status = response.status().as_u16();
    // The status decides; the body is read only so the server sees an orderly exchange, within
    // what is left of the timeout, and never beyond a few KiB.
    let mut body = response.into_body();
    let drain = async {
        let mut read = 0usize;
        loop {
            tokio::select! {
                biased;
                frame = body.frame() => match frame {
                    Some(Ok(frame)) => {
                        read += frame.data_ref().map_or(0, Bytes::len);
                        if read >= MAX_BODY_BYTES {
                            break;
                        }
                    }
                    _ => break,
                },
                _ = conn.as_mut(), if !conn_done => conn_done = true,
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, drain).await;
    Ok(Outcome::HttpStatus(status))
}
