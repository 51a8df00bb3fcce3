//! `deployments/NAME/scale`: a Deployment's replica count as an `autoscaling/v1` Scale, which
//! `kubectl scale` reads and patches.

use serde_json::{Value, json};

use super::patch::{self, PatchType};
use super::route::Target;
use super::status::ApiError;
use super::write::{self, PATCH_ATTEMPTS, Written};
use crate::api::store::Store;

/// The Scale of a Deployment.
pub fn of(deployment: &Value) -> Value {
    let meta = &deployment["metadata"];
    let selector: Vec<String> = deployment["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        // A Deployment without `replicas` runs one, as the API server defaults it.
        "spec": {"replicas": deployment["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": deployment["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector.join(","),
        },
    })
}

pub fn get(store: &Store, target: &Target) -> Result<Value, ApiError> {
    Ok(of(&write::get(store, target)?))
}

/// Writes the replicas and resourceVersion of `scale` into the Deployment `current`.
fn store_scale(
    store: &Store,
    target: &Target,
    current: &Value,
    scale: &Value,
) -> Result<Value, ApiError> {
    let replicas = scale["spec"]["replicas"]
        .as_i64()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::new(
                422,
                "Invalid",
                format!(
                    "spec.replicas: Invalid value: {}: must be a number of replicas, 0 or more",
                    scale["spec"]["replicas"]
                ),
            )
        })?;
    let mut deployment = current.clone();
    deployment["spec"]["replicas"] = json!(replicas);
    deployment["metadata"]["resourceVersion"] = scale["metadata"]["resourceVersion"].clone();
    let name = target.name.as_deref().unwrap_or_default();
    store
        .update(deployment)
        .map_err(|e| ApiError::from_store(e, target.resource, name))
}

/// PUT of a Scale.
pub fn update(store: &Store, target: &Target, body: &[u8]) -> Result<Written, ApiError> {
    let scale = write::parse_body(body)?;
    let updated = store_scale(store, target, &write::get(store, target)?, &scale)?;
    Ok((200, of(&updated)))
}

/// PATCH of a Scale (kubectl sends a merge patch of `spec.replicas`).
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
        let current = write::get(store, target)?;
        let scale = of(&current);
        let patched = patch::apply(&scale, target.resource, patch_type, body)?;
        let precondition =
            patched["metadata"]["resourceVersion"] != scale["metadata"]["resourceVersion"];
        match store_scale(store, target, &current, &patched) {
            Ok(updated) => return Ok((200, of(&updated))),
            Err(e) if e.code == 409 && !precondition && attempt < PATCH_ATTEMPTS => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resource::Resource;
    use crate::api::server::route::Subresource;

    fn target() -> Target {
        Target {
            resource: Resource::Deployment,
            namespace: Some("web".into()),
            name: Some("d".into()),
            subresource: Some(Subresource::Scale),
            watch_path: false,
        }
    }

    #[test]
    fn a_scale_patch_changes_only_the_deployments_replicas() {
        let store = Store::new();
        store
            .create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "d", "namespace": "web"},
                           "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}}))
            .unwrap();
        let scale = get(&store, &target()).unwrap();
        assert_eq!(scale["spec"]["replicas"], 1);
        assert_eq!(scale["status"]["selector"], "app=web");
        let (code, scale) = patch(
            &store,
            &target(),
            "application/merge-patch+json",
            br#"{"spec":{"replicas":3}}"#,
        )
        .unwrap();
        assert_eq!((code, &scale["spec"]["replicas"]), (200, &json!(3)));
        let deployment = store.get(Resource::Deployment, "web", "d").unwrap();
        assert_eq!(deployment["spec"]["replicas"], 3);
        assert_eq!(deployment["spec"]["selector"]["matchLabels"]["app"], "web");
        let err = update(&store, &target(), br#"{"spec":{"replicas":-1}}"#).unwrap_err();
        assert_eq!(err.code, 422);
        let stale = br#"{"metadata":{"resourceVersion":"1"},"spec":{"replicas":2}}"#;
        assert_eq!(update(&store, &target(), stale).unwrap_err().code, 409);
    }
}
