//! Reads and writes of one object: GET, POST, PUT, PATCH, DELETE and the `status` subresource.

use serde_json::{Value, json};

use super::discovery::has_status;
use super::patch::{self, PatchType};
use super::query::Query;
use super::route::{Subresource, Target};
use super::status::ApiError;
use crate::api::store::{Store, StoreError};

/// Times a PATCH is re-applied when the object changed between its read and its write (the
/// real server retries the same way; a lab object is not written that often).
pub(super) const PATCH_ATTEMPTS: usize = 5;

/// HTTP status and object of a successful write.
pub type Written = (u16, Value);

fn name(target: &Target) -> &str {
    target.name.as_deref().unwrap_or_default()
}

fn namespace(target: &Target) -> &str {
    target.namespace.as_deref().unwrap_or_default()
}

pub fn get(store: &Store, target: &Target) -> Result<Value, ApiError> {
    store
        .get(target.resource, namespace(target), name(target))
        .ok_or_else(|| ApiError::not_found(target.resource, name(target)))
}

pub(super) fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the request body is not a JSON object: {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    }
    Ok(value)
}

/// Checks an object sent for `target` against the path and fills in what the path says.
fn conform(target: &Target, object: &mut Value) -> Result<(), ApiError> {
    let resource = target.resource;
    let field = |object: &Value, field: &str| object[field].as_str().map(str::to_owned);
    match field(object, "apiVersion") {
        Some(v) if v != resource.api_version() => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                resource.api_version()
            )));
        }
        _ => object["apiVersion"] = json!(resource.api_version()),
    }
    match field(object, "kind") {
        Some(k) if k != resource.kind() => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind()
            )));
        }
        _ => object["kind"] = json!(resource.kind()),
    }
    if let Some(ns) = &target.namespace {
        match object["metadata"]["namespace"].as_str() {
            Some(given) if !given.is_empty() && given != ns => {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
                )));
            }
            _ => object["metadata"]["namespace"] = json!(ns),
        }
    }
    if let Some(name) = &target.name {
        match object["metadata"]["name"].as_str() {
            Some(given) if given != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({given}) does not match the name on the URL ({name})"
                )));
            }
            _ => object["metadata"]["name"] = json!(name),
        }
    }
    Ok(())
}

/// POST to a collection.
pub fn create(store: &Store, target: &Target, body: &[u8]) -> Result<Written, ApiError> {
    let mut object = parse_body(body)?;
    conform(target, &mut object)?;
    let name = object["metadata"]["name"]
        .as_str()
        .or(object["metadata"]["generateName"].as_str())
        .unwrap_or_default()
        .to_owned();
    let created = store
        .create(object)
        .map_err(|e| ApiError::from_store(e, target.resource, &name))?;
    Ok((201, created))
}

/// What a write through `target` may change: only `status` through `/status`, everything but
/// `status` otherwise, for resources that have the subresource.
fn restrict(target: &Target, current: &Value, mut wanted: Value) -> Value {
    if target.subresource == Some(Subresource::Status) {
        let mut object = current.clone();
        object["status"] = wanted["status"].take();
        object["metadata"]["resourceVersion"] = wanted["metadata"]["resourceVersion"].take();
        object
    } else if has_status(target.resource) {
        wanted["status"] = current["status"].clone();
        if let Some(map) = wanted.as_object_mut()
            && map["status"].is_null()
        {
            map.remove("status");
        }
        wanted
    } else {
        wanted
    }
}

/// PUT to an object or its status.
pub fn update(store: &Store, target: &Target, body: &[u8]) -> Result<Written, ApiError> {
    let mut object = parse_body(body)?;
    conform(target, &mut object)?;
    let current = get(store, target)?;
    let object = restrict(target, &current, object);
    let updated = store
        .update(object)
        .map_err(|e| ApiError::from_store(e, target.resource, name(target)))?;
    Ok((200, updated))
}

/// PATCH of an object or its status.
pub fn patch(
    store: &Store,
    target: &Target,
    content_type: &str,
    body: &[u8],
) -> Result<Written, ApiError> {
    let patch_type = PatchType::of(content_type)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = get(store, target)?;
        let mut patched = patch::apply(&current, target.resource, patch_type, body)?;
        // The identity stays that of the path; a resourceVersion the patch sets is a precondition.
        for field in ["apiVersion", "kind"] {
            patched[field] = current[field].clone();
        }
        for field in ["name", "namespace", "uid"] {
            patched["metadata"][field] = current["metadata"][field].clone();
        }
        if patched["metadata"]["resourceVersion"].is_null() {
            patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        }
        let precondition =
            patched["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"];
        let object = restrict(target, &current, patched);
        match store.update(object) {
            Ok(updated) => return Ok((200, updated)),
            Err(StoreError::Conflict { .. }) if !precondition && attempt < PATCH_ATTEMPTS => {}
            Err(e) => return Err(ApiError::from_store(e, target.resource, name(target))),
        }
    }
}

/// DELETE of an object: graceful for Pods on a node, at once otherwise. 202 while the object
/// still exists (terminating), 200 once gone, as kube-apiserver answers.
pub fn delete(
    store: &Store,
    target: &Target,
    query: &Query,
    body: &[u8],
) -> Result<Written, ApiError> {
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("DeleteOptions are not JSON: {e}")))?
    };
    let grace = query
        .grace_period
        .or_else(|| options["gracePeriodSeconds"].as_i64());
    let current = get(store, target)?;
    for (field, precondition) in [("uid", "uid"), ("resourceVersion", "resourceVersion")] {
        if let Some(wanted) = options["preconditions"][precondition].as_str()
            && current["metadata"][field].as_str() != Some(wanted)
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: {field} in precondition: {wanted}, {field} in object meta: {}",
                    current["metadata"][field].as_str().unwrap_or_default()
                ),
            ));
        }
    }
    let (resource, ns, name) = (target.resource, namespace(target), name(target));
    let deleted = store
        .delete_gracefully(resource, ns, name, grace)
        .map_err(|e| ApiError::from_store(e, resource, name))?;
    let code = if store.get(resource, ns, name).is_some() {
        202
    } else {
        200
    };
    Ok((code, deleted))
}
