//! Strategic merge patch for the lists the lab's objects have: lists of objects merge element
//! by element on their Kubernetes merge key (`containers` by `name`, container `ports` by
//! `containerPort`, ...), so `kubectl set image` or `apply` of one changed field keeps the rest of
//! a container; other lists are replaced. Directives: `$patch: replace|delete`,
//! `$setElementOrder/FIELD`, `$deleteFromPrimitiveList/FIELD`, `$retainKeys`.

use serde_json::{Map, Value};

use crate::api::resource::Resource;

const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// The `patchMergeKey` of a list field of `resource` (k8s.io/api's struct tags), if it merges.
fn merge_key(resource: Resource, field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "hostAliases" => Some("ip"),
        "conditions" => Some("type"),
        "taints" => Some("key"),
        "ownerReferences" => Some("uid"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" => match resource {
            Resource::Pod | Resource::Deployment => Some("containerPort"),
            Resource::Service => Some("port"),
            _ => None,
        },
        _ => None,
    }
}

/// Applies `patch` to `target` as kube-apiserver applies a strategic merge patch.
pub fn merge(resource: Resource, target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = without_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let mut orders = Vec::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            orders.push((field, value));
        } else if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            if let Some(list) = target[field].as_array_mut() {
                list.retain(|item| !value.as_array().is_some_and(|gone| gone.contains(item)));
            }
        } else if key.starts_with('$') {
            continue;
        } else if value.is_null() {
            if let Some(map) = target.as_object_mut() {
                map.remove(key);
            }
        } else if let Some(items) = value.as_array() {
            merge_list(resource, key, &mut target[key.as_str()], items);
        } else if value.is_object() {
            merge(resource, &mut target[key.as_str()], value);
        } else {
            target[key.as_str()] = value.clone();
        }
    }
    if let Some(retained) = patch.get("$retainKeys").and_then(Value::as_array)
        && let Some(map) = target.as_object_mut()
    {
        map.retain(|key, _| retained.iter().any(|r| r == key));
    }
    for (field, order) in orders {
        if let (Some(key), Some(order)) = (merge_key(resource, field), order.as_array()) {
            reorder(&mut target[field], key, order);
        }
    }
}

fn merge_list(resource: Resource, field: &str, target: &mut Value, items: &[Value]) {
    let replace = items.iter().any(|i| i["$patch"] == "replace");
    let key = merge_key(resource, field).filter(|_| !replace);
    let Some(key) = key else {
        *target = Value::Array(
            items
                .iter()
                .filter(|i| i["$patch"].is_null())
                .map(strip)
                .collect(),
        );
        return;
    };
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Some(list) = target.as_array_mut() else {
        return;
    };
    for item in items {
        let existing = list.iter().position(|e| e[key] == item[key]);
        match (item["$patch"].as_str(), existing) {
            (Some("delete"), Some(at)) => {
                list.remove(at);
            }
            (Some("delete"), None) => {}
            (_, Some(at)) => merge(resource, &mut list[at], item),
            (_, None) => list.push(strip(item)),
        }
    }
}

/// Orders `list` as `order` names its elements by `key`; elements it does not name go last.
fn reorder(list: &mut Value, key: &str, order: &[Value]) {
    if let Some(items) = list.as_array_mut() {
        items.sort_by_key(|item| {
            order
                .iter()
                .position(|o| o[key] == item[key])
                .unwrap_or(usize::MAX)
        });
    }
}

fn without_directives(map: &Map<String, Value>) -> Value {
    strip(&Value::Object(map.clone()))
}

/// A copy of `value` without directive keys, for parts of a patch that are taken whole.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
