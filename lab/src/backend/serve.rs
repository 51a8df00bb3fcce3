//! The accept loop and the per-connection behaviour of a backend.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Behavior, ConnBehavior, Counters, Protocol};

type Body = BoxBody<Bytes, Infallible>;

/// A `grpc.health.v1.HealthCheckResponse{status: SERVING}` in gRPC framing.
const HEALTH_SERVING: [u8; 7] = [0, 0, 0, 0, 2, 0x08, 0x01];

pub(super) async fn accept_loop(
    listener: TcpListener,
    protocol: Arc<Protocol>,
    behavior: watch::Receiver<Behavior>,
    mut accepting: watch::Receiver<bool>,
    counters: Arc<Counters>,
) {
    // Connections live in this set, so that stopping the backend (aborting this task) ends them.
    let mut connections = JoinSet::new();
    let mut listener = Some(listener);
    loop {
        tokio::select! {
            accepted = async { listener.as_ref()?.accept().await.ok() }, if listener.is_some() => {
                let Some((stream, _peer)) = accepted else { continue };
                counters.connections.fetch_add(1, Ordering::Relaxed);
                let current = behavior.borrow().clone();
                connections.spawn(connection(stream, protocol.clone(), current, behavior.clone(), counters.clone()));
            }
            changed = accepting.changed() => {
                if changed.is_err() || !*accepting.borrow() {
                    listener = None;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    protocol: Arc<Protocol>,
    behavior: Behavior,
    updates: watch::Receiver<Behavior>,
    counters: Arc<Counters>,
) {
    match behavior.conn {
        ConnBehavior::Serve => {}
        ConnBehavior::Reset => {
            read_some(&mut stream).await;
            let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
            return;
        }
        ConnBehavior::Close => {
            read_some(&mut stream).await;
            return;
        }
        ConnBehavior::Hold => return std::future::pending().await,
        ConnBehavior::Garbage => {
            read_some(&mut stream).await;
            let _ = stream.write_all(b"SSH-2.0-not-http\r\n\r\n").await;
            return;
        }
    }
    match &*protocol {
        Protocol::Http => http1(stream, updates, counters).await,
        Protocol::Https(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.0.clone());
            if let Ok(stream) = acceptor.accept(stream).await {
                http1(stream, updates, counters).await;
            }
        }
        Protocol::Grpc(None) => http2(stream, updates, counters).await,
        Protocol::Grpc(Some(tls)) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.0.clone());
            if let Ok(stream) = acceptor.accept(stream).await {
                http2(stream, updates, counters).await;
            }
        }
    }
}

async fn read_some(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let _ = stream.read(&mut buf).await;
}

async fn http1<S>(io: S, updates: watch::Receiver<Behavior>, counters: Arc<Counters>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        answer(req, updates.borrow().clone(), counters.clone(), false)
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn http2<S>(io: S, updates: watch::Receiver<Behavior>, counters: Arc<Counters>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        answer(req, updates.borrow().clone(), counters.clone(), true)
    });
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn answer(
    req: Request<Incoming>,
    behavior: Behavior,
    counters: Arc<Counters>,
    grpc: bool,
) -> Result<Response<Body>, Infallible> {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let answer = behavior.answer(req.uri().path()).clone();
    // Read the request body (a gRPC message) before answering, as a real server does.
    let _ = req.into_body().collect().await;
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = Response::builder().status(answer.status);
    let body: Body = match (grpc, answer.grpc_status) {
        (true, Some(0)) => {
            response = response.header("content-type", "application/grpc");
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", 0.into());
            let frames = [
                Ok(Frame::data(Bytes::from_static(&HEALTH_SERVING))),
                Ok(Frame::trailers(trailers)),
            ];
            BodyExt::boxed(StreamBody::new(stream::iter(frames)))
        }
        (true, Some(code)) => {
            // Trailers-only: the status travels in the headers.
            response = response
                .header("content-type", "application/grpc")
                .header("grpc-status", code);
            BodyExt::boxed(Full::new(Bytes::new()))
        }
        _ => BodyExt::boxed(Full::new(Bytes::from(answer.body))),
    };
    Ok(response.body(body).unwrap_or_else(|_| {
        let mut fallback = Response::new(BodyExt::boxed(Full::new(Bytes::new())));
        *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    }))
}
