//! PATCH bodies: JSON merge patch, strategic merge patch (as a merge patch) and JSON patch.
//!
//! A strategic merge patch is applied as a merge patch without its `$` directives: maps merge
//! and lists are replaced. That is exact for what `kubectl annotate`, `label`, `cordon`,
//! `scale` and `rollout restart` send; it is not for a list merged by key (`kubectl apply` of a
//! changed container list), which the lab does not need.

use serde_json::Value;

use super::status::ApiError;

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

/// `object` with `patch` applied.
pub fn apply(object: &Value, patch_type: PatchType, patch: &[u8]) -> Result<Value, ApiError> {
    let invalid = |e: &dyn std::fmt::Display| ApiError::bad_request(format!("invalid patch: {e}"));
    let mut patched = object.clone();
    match patch_type {
        PatchType::Merge | PatchType::StrategicMerge => {
            let mut patch: Value = serde_json::from_slice(patch).map_err(|e| invalid(&e))?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("invalid patch: not a JSON object"));
            }
            if patch_type == PatchType::StrategicMerge {
                strip_directives(&mut patch);
            }
            json_patch::merge(&mut patched, &patch);
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

/// Removes strategic-merge directives (`$patch`, `$retainKeys`, `$setElementOrder/...`, ...).
fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !key.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
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
        let patched = apply(&node(), PatchType::Merge, patch).unwrap();
        assert_eq!(patched["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(patched["metadata"]["annotations"]["note"], "x");
        assert_eq!(patched["spec"], node()["spec"]);
    }

    #[test]
    fn strategic_patches_drop_directives_and_merge_maps_as_kubectl_cordon_expects() {
        let patch = br#"{"spec":{"unschedulable":true,"$setElementOrder/taints":[{"key":"x"}]},
                         "metadata":{"$retainKeys":["labels"]}}"#;
        let patched = apply(&node(), PatchType::StrategicMerge, patch).unwrap();
        assert_eq!(patched["spec"]["unschedulable"], true);
        assert_eq!(patched["spec"]["taints"], node()["spec"]["taints"]);
        assert!(patched["metadata"].get("$retainKeys").is_none());
        assert!(patched["spec"].get("$setElementOrder/taints").is_none());
    }

    #[test]
    fn json_patches_apply_and_a_failing_operation_is_invalid() {
        let ops = br#"[{"op":"add","path":"/spec/unschedulable","value":true},
                       {"op":"remove","path":"/metadata/labels/a"}]"#;
        let patched = apply(&node(), PatchType::Json, ops).unwrap();
        assert_eq!(patched["spec"]["unschedulable"], true);
        assert_eq!(patched["metadata"]["labels"], json!({"b": "2"}));
        let err = apply(
            &node(),
            PatchType::Json,
            br#"[{"op":"remove","path":"/nope"}]"#,
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        let err = apply(&node(), PatchType::Merge, b"[1]").unwrap_err();
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
