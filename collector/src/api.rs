//! The collector's HTTP listener: the JSON API (`/api/v1/...`), `/metrics` and `/healthz`
//! (collector/API.md), and the web UI ([`crate::ui`]). Read-only, plain HTTP/1.1.

pub mod derived;
pub mod json;
pub mod lanes;
pub mod overview;
pub mod params;
pub mod routes;

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::store::Store;

/// Binds the HTTP listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|source| Error::Http {
        addr: addr.to_string(),
        source,
    })
}

/// Serves the API on `listener` until `shutdown`; open connections finish their request.
pub async fn serve<S: Store>(
    listener: TcpListener,
    store: S,
    shutdown: CancellationToken,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: a passing condition, keep serving.
                    tracing::warn!(error = %e, listener = %addr, "accepting an HTTP connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return Ok(()),
        };
        let store = store.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let store = store.clone();
                async move {
                    let response = match crate::ui::handle(req.method(), req.uri(), req.headers()) {
                        Some(response) => response,
                        None => routes::handle(&store, req.method(), req.uri()).await,
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "HTTP connection ended with an error");
            }
        });
    }
}
