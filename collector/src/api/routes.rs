//! The routes (collector/API.md documents each).

use std::time::SystemTime;

use bytes::Bytes;
use http::{Method, Response, StatusCode, Uri, header};
use http_body_util::Full;
use serde::Serialize;
use serde_json::json;

use super::derived;
use super::json;
use super::params::{self, ParamError, Params};
use super::{lanes, overview};
use crate::analysis::AnalysisConfig;
use crate::metrics;
use crate::report::{Format, render};
use crate::store::{Filter, Store};

pub type Body = Full<Bytes>;

const RANGE_AND_FILTER: &[&str] = &["from", "to", "service", "node", "lb", "version"];
const REPORT: &[&str] = &["from", "to", "service", "node", "lb", "version", "format"];
const FILTER: &[&str] = &["service", "node", "lb", "version"];
const RANGE: &[&str] = &["from", "to"];

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("no route {0}")]
    NoRoute(String),
    #[error("backend {0:?}: no such backend")]
    NoBackend(String),
    #[error("method {0} not allowed: the API is read-only (GET)")]
    Method(Method),
    #[error(transparent)]
    Store(#[from] crate::error::Error),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Param(_) => StatusCode::BAD_REQUEST,
            ApiError::NoRoute(_) | ApiError::NoBackend(_) => StatusCode::NOT_FOUND,
            ApiError::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn ok_json(value: &impl Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => respond(StatusCode::OK, "application/json", body),
        Err(e) => {
            let body = json!({ "error": format!("the response does not serialize: {e}") });
            respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                body.to_string(),
            )
        }
    }
}

fn error(e: &ApiError) -> Response<Body> {
    if e.status() == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %e, "API request failed");
    }
    let body = json!({ "error": e.to_string() }).to_string();
    respond(e.status(), "application/json", body)
}

/// Answers one request.
pub async fn handle<S: Store>(store: &S, method: &Method, uri: &Uri) -> Response<Body> {
    let result = if method == Method::GET {
        route(store, uri, SystemTime::now()).await
    } else {
        Err(ApiError::Method(method.clone()))
    };
    result.unwrap_or_else(|e| error(&e))
}

async fn route<S: Store>(
    store: &S,
    uri: &Uri,
    now: SystemTime,
) -> Result<Response<Body>, ApiError> {
    let path = uri.path();
    let query = uri.query();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        ["healthz"] => Ok(respond(StatusCode::OK, "text/plain; charset=utf-8", "ok\n")),
        ["metrics"] => {
            params::parse(query, &[])?;
            let text = metrics::render(
                store.metrics(),
                &store.backends_now(&Filter::default()),
                &store.agents(),
            );
            Ok(respond(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            ))
        }
        ["api", "v1", "backends"] => {
            let p = params::parse(query, FILTER)?;
            let backends: Vec<_> = store
                .backends_now(&p.filter)
                .iter()
                .map(json::backend_now)
                .collect();
            Ok(ok_json(&json!({ "backends": backends })))
        }
        ["api", "v1", "backends", id] => {
            params::parse(query, &[])?;
            let id = backend_id(id)?;
            let b = store
                .backend_now(id)
                .ok_or_else(|| ApiError::NoBackend(id.to_string()))?;
            Ok(ok_json(&json::backend_now(&b)))
        }
        ["api", "v1", "backends", id, "timeline"] => {
            let p = params::parse(query, RANGE)?;
            let id = backend_id(id)?;
            let timeline = store
                .timeline(id, p.range(now)?)
                .await?
                .ok_or_else(|| ApiError::NoBackend(id.to_string()))?;
            let current = store.backend_now(id);
            Ok(ok_json(&json::timeline(
                &timeline,
                current.as_ref().map(|b| &b.now),
            )))
        }
        ["api", "v1", "history"] => {
            let (p, history) = history(store, query, now).await?;
            let backends: Vec<_> = history
                .backends
                .iter()
                .map(|b| json::history_backend(b, store.backend_id(&b.key)))
                .collect();
            let range = p.range(now)?;
            Ok(ok_json(&json!({
                "from": json::stamp(range.from),
                "to": json::stamp(range.to),
                "latency_buckets_ms": crate::model::LATENCY_BUCKETS_MS,
                "agents": history.agents.iter().map(json::agent_info).collect::<Vec<_>>(),
                "backends": backends,
                "lifecycle": history.lifecycle.iter().map(json::lifecycle).collect::<Vec<_>>(),
                "gaps": history.gaps.iter().map(json::gap).collect::<Vec<_>>(),
            })))
        }
        ["api", "v1", "latencies"] => {
            let (_, history) = history(store, query, now).await?;
            Ok(ok_json(
                &json!({ "latencies": derived::latencies(&history) }),
            ))
        }
        ["api", "v1", "services"] => {
            let (_, history) = history(store, query, now).await?;
            Ok(ok_json(
                &json!({ "services": derived::service_summaries(&history) }),
            ))
        }
        ["api", "v1", "report"] => {
            let p = params::parse(query, REPORT)?;
            let name = p.format.as_deref().unwrap_or("text");
            let format: Format = name.parse().map_err(|e: crate::report::ReportError| {
                ApiError::Param(params::ParamError {
                    name: "format".to_owned(),
                    value: name.to_owned(),
                    reason: e.to_string(),
                })
            })?;
            let history = store.history(p.range(now)?, p.filter.clone()).await?;
            let report = crate::analysis::analyze(&history, &AnalysisConfig::default());
            let content_type = match format {
                Format::Json => "application/json",
                Format::Markdown => "text/markdown; charset=utf-8",
                Format::Text => "text/plain; charset=utf-8",
            };
            Ok(respond(
                StatusCode::OK,
                content_type,
                render(&report, format),
            ))
        }
        ["api", "v1", "overview"] => {
            let p = params::parse(query, FILTER)?;
            Ok(ok_json(&overview::overview(&store.backends_now(&p.filter))))
        }
        ["api", "v1", "lanes"] => {
            let (p, history) = history(store, query, now).await?;
            let lanes = lanes::lanes(&history, p.range(now)?, |k| store.backend_id(k));
            Ok(ok_json(&lanes))
        }
        ["api", "v1", "agents"] => {
            params::parse(query, &[])?;
            let agents: Vec<_> = store.agents().iter().map(|a| json::agent(a, now)).collect();
            Ok(ok_json(&json!({ "agents": agents })))
        }
        _ => Err(ApiError::NoRoute(path.to_owned())),
    }
}

fn backend_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().map_err(|_| {
        ApiError::Param(ParamError {
            name: "backend id".to_owned(),
            value: text.to_owned(),
            reason: "not a number".to_owned(),
        })
    })
}

async fn history<S: Store>(
    store: &S,
    query: Option<&str>,
    now: SystemTime,
) -> Result<(Params, crate::model::History), ApiError> {
    let p = params::parse(query, RANGE_AND_FILTER)?;
    let history = store.history(p.range(now)?, p.filter.clone()).await?;
    Ok((p, history))
}
