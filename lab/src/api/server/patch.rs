//! PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch and JSON patch (RFC 6902).

use serde_json::Value;

use super::status::ApiError;
use crate::api::resource::Resource;

mod strategic;

/// The patch formats kube-apiserver accepts, by `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    StrategicMerge,
    Json,
}

impl PatchType {
    pub fn of(content_type: &str) -> Result<PatchType, ApiError> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::StrategicMerge),
            "application/json-patch+json" => Ok(PatchType::Json),
            other => Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format ({other:?}); accepted media types are \
                     application/json-patch+json, application/merge-patch+json, \
                     application/strategic-merge-patch+json"
                ),
            )),
        }
    }
}

/// `object`, a `resource`, with `patch` applied.
pub fn apply(
    object: &Value,
    resource: Resource,
    patch_type: PatchType,
    patch: &[u8],
) -> Result<Value, ApiError> {
    let invalid = |e: &dyn std::fmt::Display| ApiError::bad_request(format!("invalid patch: {e}"));
    let mut patched = object.clone();
    match patch_type {
        PatchType::Merge | PatchType::StrategicMerge => {
            let patch: Value = serde_json::from_slice(patch).map_err(|e| invalid(&e))?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("invalid patch: not a JSON object"));
            }
            if patch_type == PatchType::StrategicMerge {
                strategic::merge(resource, &mut patched, &patch);
            } else {
                json_patch::merge(&mut patched, &patch);
            }
        }
        PatchType::Json => {
            let patch: json_patch::Patch =
                serde_json::from_slice(patch).map_err(|e| invalid(&e))?;
            json_patch::patch(&mut patched, &patch).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the JSON patch does not apply: {e}"),
                )
            })?;
        }
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node() -> Value {
        json!({"metadata": {"name": "n1", "labels": {"a": "1", "b": "2"}},
               "spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]}})
    }

    #[test]
    fn merge_patches_set_and_remove_keys_as_kubectl_label_and_annotate_expect() {
        let patch = br#"{"metadata":{"labels":{"a":null,"c":"3"},"annotations":{"note":"x"}}}"#;
        let patched = apply(&node(), Resource::Node, PatchType::Merge, patch).unwrap();
        assert_eq!(patched["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(patched["metadata"]["annotations"]["note"], "x");
        assert_eq!(patched["spec"], node()["spec"]);
    }

    #[test]
    fn strategic_patches_merge_maps_as_kubectl_cordon_expects() {
        let patch = br#"{"spec":{"unschedulable":true,"$setElementOrder/taints":[{"key":"x"}]}}"#;
        let patched = apply(&node(), Resource::Node, PatchType::StrategicMerge, patch).unwrap();
        assert_eq!(patched["spec"]["unschedulable"], true);
        assert_eq!(patched["spec"]["taints"], node()["spec"]["taints"]);
        assert!(patched["spec"].get("$setElementOrder/taints").is_none());
        assert_eq!(patched["metadata"], node()["metadata"]);
    }

    #[test]
    fn json_patches_apply_and_a_failing_operation_is_invalid() {
        let ops = br#"[{"op":"add","path":"/spec/unschedulable","value":true},
                       {"op":"remove","path":"/metadata/labels/a"}]"#;
        let patched = apply(&node(), Resource::Node, PatchType::Json, ops).unwrap();
        assert_eq!(patched["spec"]["unschedulable"], true);
        assert_eq!(patched["metadata"]["labels"], json!({"b": "2"}));
        let err = apply(
            &node(),
            Resource::Node,
            PatchType::Json,
            br#"[{"op":"remove","path":"/nope"}]"#,
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        let err = apply(&node(), Resource::Node, PatchType::Merge, b"[1]").unwrap_err();
        assert_eq!(err.code, 400);
    }

    #[test]
    fn content_types_select_the_patch_format() {
        assert_eq!(
            PatchType::of("application/merge-patch+json; charset=utf-8").unwrap(),
            PatchType::Merge
        );
        assert_eq!(
            PatchType::of("application/strategic-merge-patch+json").unwrap(),
            PatchType::StrategicMerge
        );
        assert_eq!(
            PatchType::of("application/apply-patch+yaml")
                .unwrap_err()
                .code,
            415
        );
    }
}
