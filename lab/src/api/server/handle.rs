//! Requests: from path and method to the store, and the responses that go back.

use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response};
use serde_json::Value;
use tokio::time::Instant;

use super::query::Query;
use super::route::{Route, Subresource, Target};
use super::table::{self, Form};
use super::{
    ApiError, ApiServer, Body, MAX_BODY, TUNNEL_DOWN_MESSAGE, discovery, list, scale, watch, write,
};
use crate::api::resource::Resource;
use crate::api::selector::{FieldSelector, LabelSelector, Selector};

impl ApiServer {
    pub(super) async fn answer(&self, request: Request<Incoming>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let response = self.route(request).await.unwrap_or_else(|error| {
            tracing::debug!(%method, %path, %error, "API server: request failed");
            json(error.code, &error.status())
        });
        tracing::trace!(%method, %path, status = %response.status(), "API server");
        response
    }

    async fn route(&self, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let route = Route::parse(&path).ok_or_else(|| ApiError::no_route(&path))?;
        let read_only = |value: Value| {
            if method == Method::GET {
                Ok(json(200, &value))
            } else {
                Err(ApiError::method_not_allowed(&method, &path))
            }
        };
        match route {
            Route::Version => read_only(self.shared.version.to_json()),
            Route::Health => Ok(text(200, "ok")),
            Route::OpenApiV2 if method != Method::GET => {
                Err(ApiError::method_not_allowed(&method, &path))
            }
            Route::OpenApiV2 => {
                let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
                let protobuf =
                    accept.is_some_and(|a| a.contains(discovery::OPENAPI_V2_PROTOBUF_ACCEPT));
                let document = discovery::openapi_v2(&self.shared.version, protobuf);
                Ok(if protobuf {
                    full(200, document, discovery::OPENAPI_V2_PROTOBUF)
                } else {
                    json_bytes(200, document)
                })
            }
            Route::OpenApiV3 => read_only(discovery::openapi_v3()),
            Route::CoreVersions => {
                let host = request
                    .headers()
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default();
                read_only(discovery::core_versions(host))
            }
            Route::Groups => read_only(discovery::group_list()),
            Route::Group(group) => read_only(discovery::api_group(group)),
            Route::Resources { group } => read_only(discovery::resource_list(group)),
            Route::NodeProxy { node } => self.node_proxy(&node),
            Route::Object(target) => self.objects(request, target).await,
        }
    }

    /// `/api/v1/nodes/NODE/proxy/...`: the kubelet answers `ok` when the tunnel to it is up.
    fn node_proxy(&self, node: &str) -> Result<Response<Body>, ApiError> {
        if self.shared.store.get(Resource::Node, "", node).is_none() {
            return Err(ApiError::not_found(Resource::Node, node));
        }
        if !self.node_tunnel_up(node) {
            return Err(ApiError::new(
                503,
                "ServiceUnavailable",
                TUNNEL_DOWN_MESSAGE,
            ));
        }
        Ok(text(200, "ok"))
    }

    async fn objects(
        &self,
        request: Request<Incoming>,
        target: Target,
    ) -> Result<Response<Body>, ApiError> {
        let query = Query::parse(request.uri().query().unwrap_or_default())?;
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let accept = request
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let form = table::Form::negotiate(accept, &query.include_object);
        if query.dry_run && method != Method::GET {
            return Err(ApiError::bad_request(
                "dryRun is not supported by the lab's API server: the write was not made",
            ));
        }
        let store = &*self.shared.store;
        let named = target.name.is_some();
        if target.subresource == Some(Subresource::Scale) {
            let (code, scale) = match method {
                Method::GET => (200, scale::get(store, &target)?),
                Method::PUT => scale::update(store, &target, &body(request).await?)?,
                Method::PATCH => {
                    scale::patch(store, &target, &content_type, &body(request).await?)?
                }
                _ => return Err(ApiError::method_not_allowed(&method, &path)),
            };
            return Ok(json(code, &scale));
        }
        let written = match method {
            Method::GET if query.watch || target.watch_path => {
                return self.watch(&target, &query, form);
            }
            Method::GET if named => {
                let object = write::get(store, &target)?;
                return Ok(match form {
                    Form::Object => json(200, &object),
                    Form::Table(include) => {
                        let table = table::table(
                            target.resource,
                            &[&object],
                            include,
                            true,
                            SystemTime::now(),
                        );
                        json(200, &table)
                    }
                });
            }
            Method::GET => {
                let selector = selector(&target, &query)?;
                let page = list::list(store, &target, &query, &selector).await?;
                return Ok(match form {
                    Form::Object => json_bytes(200, page.to_json(target.resource)),
                    Form::Table(include) => {
                        let table = table::page(target.resource, &page, include, SystemTime::now());
                        json(200, &table)
                    }
                });
            }
            Method::POST
                if !named && (target.namespace.is_some() || !target.resource.namespaced()) =>
            {
                write::create(store, &target, &body(request).await?)?
            }
            Method::PUT if named => write::update(store, &target, &body(request).await?)?,
            Method::PATCH if named => {
                write::patch(store, &target, &content_type, &body(request).await?)?
            }
            Method::DELETE if named => {
                write::delete(store, &target, &query, &body(request).await?)?
            }
            _ => return Err(ApiError::method_not_allowed(&method, &path)),
        };
        let (code, object) = written;
        Ok(json(code, &object))
    }

    fn watch(
        &self,
        target: &Target,
        query: &Query,
        form: Form,
    ) -> Result<Response<Body>, ApiError> {
        let filter = watch::Filter {
            resource: target.resource,
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            selector: selector(target, query)?,
        };
        let config = &self.shared.config;
        let from = if query.send_initial_events {
            None
        } else {
            query.revision()?
        };
        let options = watch::Options {
            from,
            bookmarks: query.allow_bookmarks.then_some(config.bookmark_interval),
            initial_events_end: query.send_initial_events && query.allow_bookmarks,
            until: Instant::now() + query.timeout.unwrap_or(config.watch_timeout),
            form,
        };
        let watch = watch::Watch::start(&self.shared.store, filter, options);
        let body = StreamBody::new(watch.into_stream());
        Ok(with_type(
            Response::new(BodyExt::boxed_unsync(body)),
            "application/json",
        ))
    }
}

fn selector(target: &Target, query: &Query) -> Result<Selector, ApiError> {
    Ok(Selector {
        labels: LabelSelector::parse(&query.label_selector)?,
        fields: FieldSelector::parse(&query.field_selector, target.resource)?,
    })
}

async fn body(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| {
            ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("the request body could not be read (at most {MAX_BODY} bytes): {e}"),
            )
        })
}

fn with_type(mut response: Response<Body>, content_type: &'static str) -> Response<Body> {
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn full(code: u16, bytes: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(bytes.into()).boxed_unsync());
    *response.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    with_type(response, content_type)
}

fn json_bytes(code: u16, bytes: Vec<u8>) -> Response<Body> {
    full(code, bytes, "application/json")
}

fn json(code: u16, value: &Value) -> Response<Body> {
    json_bytes(code, serde_json::to_vec(value).unwrap_or_default())
}

fn text(code: u16, body: &'static str) -> Response<Body> {
    full(code, body, "text/plain; charset=utf-8")
}
