//! The gRPC prober (ALB `GRPC` target groups): a unary call with an empty message over HTTP/2
//! (h2c, or TLS with ALPN `h2`); the outcome is the `grpc-status` the target answers, from the
//! trailers or a trailers-only response, else mapped from the HTTP status as the gRPC spec says.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::lb::outcome::{LocalFailure, Outcome, Phase};
use crate::probe::tls::{self, TlsConfigs};
use crate::probe::{MAX_BODY_BYTES, ProbeRequest, Timings, classify, tcp};

/// An empty protobuf message in gRPC's length-prefixed framing: not compressed, length 0.
const EMPTY_MESSAGE: [u8; 5] = [0, 0, 0, 0, 0];

pub async fn probe(
    req: &ProbeRequest,
    deadline: Instant,
    configs: &TlsConfigs,
    start: Instant,
    timings: &mut Timings,
) -> Outcome {
    let result = if req.grpc_tls {
        match tls::connect(req, deadline, configs, true, timings).await {
            Ok(stream) => call(stream, req, deadline, start, timings).await,
            Err(outcome) => Err(outcome),
        }
    } else {
        match tcp::connect(req, deadline, timings).await {
            Ok(stream) => call(stream, req, deadline, start, timings).await,
            Err(outcome) => Err(outcome),
        }
    };
    result.unwrap_or_else(|outcome| outcome)
}

fn request(req: &ProbeRequest) -> Result<Request<Full<Bytes>>, Outcome> {
    let scheme = if req.grpc_tls { "https" } else { "http" };
    let uri = format!("{scheme}://{}{}", req.addr, req.path);
    let mut builder = Request::post(uri)
        .header(hyper::header::CONTENT_TYPE, "application/grpc")
        .header(hyper::header::TE, "trailers");
    if let Some(ua) = &req.wire.user_agent {
        builder = builder.header(hyper::header::USER_AGENT, ua.as_str());
    }
    builder
        .body(Full::new(Bytes::from_static(&EMPTY_MESSAGE)))
        .map_err(|_| Outcome::Local(LocalFailure::Other))
}

async fn call<S>(
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
    let exchange = async {
        let (mut sender, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Full<Bytes>>(TokioIo::new(io))
            .await
            .map_err(|e| classify::hyper_error(&e))?;
        let mut conn = std::pin::pin!(conn);
        // As in the HTTP prober: an ended connection is never polled again.
        let mut conn_done = false;
        let mut response = std::pin::pin!(sender.send_request(request));
        let response: Response<_> = tokio::select! {
            biased;
            r = response.as_mut() => r.map_err(|e| classify::hyper_error(&e))?,
            ended = conn.as_mut() => {
                conn_done = true;
                match ended {
                    Ok(()) => response.await.map_err(|e| classify::hyper_error(&e))?,
                    Err(e) => return Err(classify::hyper_error(&e)),
                }
            }
        };
        let first_byte = start.elapsed();
        let http = response.status().as_u16();
        if let Some(code) = grpc_status(response.headers()) {
            return Ok((first_byte, Outcome::GrpcStatus { code, http }));
        }
        let mut body = response.into_body();
        let mut read = 0usize;
        loop {
            let frame = tokio::select! {
                biased;
                frame = body.frame() => frame,
                _ = conn.as_mut(), if !conn_done => {
                    conn_done = true;
                    continue;
                }
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        let code = grpc_status(trailers);
                        return Ok((first_byte, status_or_http(code, http)));
                    }
                    read += frame.data_ref().map_or(0, Bytes::len);
                    if read > MAX_BODY_BYTES {
                        return Ok((first_byte, Outcome::Malformed));
                    }
                }
                Some(Err(e)) => return Err(classify::hyper_error(&e)),
                None => return Ok((first_byte, status_or_http(None, http))),
            }
        }
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Err(_elapsed) => Err(Outcome::Timeout {
            phase: Phase::Response,
        }),
        Ok(Err(outcome)) => Err(outcome),
        Ok(Ok((first_byte, outcome))) => {
            timings.first_byte = Some(first_byte);
            Ok(outcome)
        }
    }
}

fn grpc_status(headers: &hyper::HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A response without `grpc-status`: a non-gRPC server. Its HTTP status maps to a gRPC code as
/// the gRPC specification's "HTTP to gRPC status code mapping" says; a 200 without a status is
/// malformed.
fn status_or_http(code: Option<u32>, http: u16) -> Outcome {
    let code = match (code, http) {
        (Some(code), _) => code,
        (None, 200) => return Outcome::Malformed,
        (None, 400) => 13,
        (None, 401) => 16,
        (None, 403) => 7,
        (None, 404) => 12,
        (None, 429 | 502 | 503 | 504) => 14,
        (None, _) => 2,
    };
    Outcome::GrpcStatus { code, http }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_without_grpc_status_map_as_the_grpc_spec_says() {
        for (http, code) in [
            (400, 13),
            (401, 16),
            (403, 7),
            (404, 12),
            (429, 14),
            (503, 14),
            (500, 2),
        ] {
            assert_eq!(
                status_or_http(None, http),
                Outcome::GrpcStatus { code, http }
            );
        }
        assert_eq!(status_or_http(None, 200), Outcome::Malformed);
        assert_eq!(
            status_or_http(Some(0), 200),
            Outcome::GrpcStatus { code: 0, http: 200 }
        );
    }
}
