//! The web UI: a few static files (collector/ui/) embedded in the binary and served next to the
//! JSON API on the collector's HTTP listener. Self-contained (no CDN, no build step): the pages
//! read `/api/v1/...` and draw with `<canvas>`, so they work in an air-gapped cluster.
//!
//! Routes: `/` and `/ui/` (the page), `/ui/<file>` (its scripts and styles). Every answer carries
//! a strong `ETag` (a hash of the file) and `Cache-Control: no-cache`, so a browser revalidates
//! and gets `304 Not Modified` until the collector is upgraded.

pub mod assets;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, Uri, header};
use http_body_util::Full;

pub use assets::{ASSETS, Asset};

/// How browsers may cache the UI's files: keep them, but ask every time whether they changed (the
/// file names carry no version).
pub const CACHE_CONTROL: &str = "no-cache";
/// Where the UI may load from: only this collector. Inline styles are allowed for the charts'
/// computed positions.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Whether `path` is the UI's (`/`, `/ui`, `/ui/...`) rather than the API's.
pub fn owns(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// The file a UI path names: the page for `/`, `/ui` and `/ui/`.
pub fn asset(path: &str) -> Option<&'static Asset> {
    let name = match path {
        "/" | "/ui" | "/ui/" => "index.html",
        _ => path.strip_prefix("/ui/")?,
    };
    ASSETS.iter().find(|a| a.name == name)
}

/// Answers a request for a UI path; `None` when the path is not the UI's (the API answers it).
pub fn handle(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response<Full<Bytes>>> {
    let path = uri.path();
    if !owns(path) {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed on {path}: the UI is read-only (GET, HEAD)\n"),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return Some(response);
    }
    let Some(asset) = asset(path) else {
        return Some(text(
            StatusCode::NOT_FOUND,
            format!("no UI file {path}; the UI starts at /\n"),
        ));
    };
    let etag = asset.etag();
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else if method == Method::HEAD {
        (StatusCode::OK, Bytes::new())
    } else {
        (StatusCode::OK, Bytes::from_static(asset.body))
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(asset.content_type),
    );
    if let Ok(value) = header::HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(CACHE_CONTROL),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    if method == Method::HEAD {
        h.insert(
            header::CONTENT_LENGTH,
            header::HeaderValue::from(asset.body.len()),
        );
    }
    Some(response)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests;
