use serde_json::json;

use super::*;

fn deployment() -> Value {
    json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80, "name": "http"}],
         "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}}},
        {"name": "sidecar", "image": "envoy:1"},
    ]}}}})
}

fn containers(value: &Value) -> &Value {
    &value["spec"]["template"]["spec"]["containers"]
}

fn patched(patch: Value) -> Value {
    let mut object = deployment();
    merge(Resource::Deployment, &mut object, &patch);
    object
}

#[test]
fn kubectl_set_image_changes_one_container_and_keeps_the_rest_of_it() {
    let after = patched(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:2"}]}}}}));
    let web = &containers(&after)[0];
    assert_eq!(web["image"], "nginx:2");
    assert_eq!(web["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(web["ports"][0]["name"], "http");
    assert_eq!(containers(&after)[1]["image"], "envoy:1");
}

#[test]
fn elements_are_added_deleted_and_reordered_by_their_merge_key() {
    let after = patched(json!({"spec": {"template": {"spec": {
    "$setElementOrder/containers": [{"name": "init"}, {"name": "web"}],
    "containers": [
        {"name": "sidecar", "$patch": "delete"},
        {"name": "init", "image": "busybox"},
        {"name": "web", "ports": [{"containerPort": 8080}]},
    ]}}}}));
    let names: Vec<&str> = containers(&after)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["init", "web"]);
    // Ports merge by containerPort: 80 stays, 8080 joins.
    assert_eq!(containers(&after)[1]["ports"].as_array().unwrap().len(), 2);
}

#[test]
fn lists_without_a_merge_key_and_replace_directives_are_replaced() {
    let mut slice = json!({"endpoints": [{"addresses": ["10.244.1.4"]}], "ports": [{"port": 80}]});
    merge(
        Resource::EndpointSlice,
        &mut slice,
        &json!({"ports": [{"port": 8080}]}),
    );
    assert_eq!(slice["ports"], json!([{"port": 8080}]));
    let after = patched(json!({"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "x"}]}}}}));
    assert_eq!(containers(&after), &json!([{"name": "only", "image": "x"}]));
    let after = patched(json!({"spec": {"$patch": "replace", "replicas": 5}}));
    assert_eq!(after["spec"], json!({"replicas": 5}));
}

#[test]
fn nulls_remove_keys_and_primitive_lists_lose_the_listed_values() {
    let mut pod = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]}});
    merge(
        Resource::Pod,
        &mut pod,
        &json!({"metadata": {"labels": {"a": null, "c": "3"},
                             "$deleteFromPrimitiveList/finalizers": ["x"]}}),
    );
    assert_eq!(pod["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    assert_eq!(pod["metadata"]["finalizers"], json!(["y"]));
    let mut spec = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}});
    merge(
        Resource::Deployment,
        &mut spec,
        &json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}),
    );
    assert_eq!(spec["strategy"], json!({"type": "Recreate"}));
}
