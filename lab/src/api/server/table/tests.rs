use std::time::Duration;

use super::*;

const KUBECTL_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

#[test]
fn kubectls_accept_header_asks_for_a_table_and_plain_json_does_not() {
    assert_eq!(
        Form::negotiate(KUBECTL_ACCEPT, ""),
        Form::Table(Include::Metadata)
    );
    assert_eq!(
        Form::negotiate(KUBECTL_ACCEPT, "Object"),
        Form::Table(Include::Object)
    );
    assert_eq!(Form::negotiate("application/json, */*", ""), Form::Object);
    assert_eq!(Form::negotiate("", "Object"), Form::Object);
}

#[test]
fn ages_read_like_kubectls() {
    let table = [
        (-5, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (192, "3m12s"),
        (900, "15m"),
        (3 * 3600 + 60, "3h1m"),
        (5 * 3600, "5h"),
        (30 * 3600, "30h"),
        (3 * 86_400 + 7200, "3d2h"),
        (40 * 86_400, "40d"),
        (3 * 365 * 86_400 + 86_400, "3y1d"),
        (9 * 365 * 86_400, "9y"),
    ];
    for (seconds, expected) in table {
        assert_eq!(human_duration(seconds), expected, "{seconds}");
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let created = json!(crate::api::store::timestamp(
        UNIX_EPOCH + Duration::from_secs(1_000_000 - 95)
    ));
    assert_eq!(age(&created, now), "95s");
    assert_eq!(age(&Value::Null, now), "<unknown>");
}

fn pod_cells(pod: Value) -> Vec<Value> {
    let (_, cells) = columns::of(Resource::Pod);
    cells(&pod)
}

#[test]
fn pod_rows_show_readiness_restarts_and_terminating_like_kubectl() {
    let running = json!({
        "metadata": {"name": "web-1"},
        "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "podIP": "10.244.1.4", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 1, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 2,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
        ]},
    });
    assert_eq!(
        pod_cells(running.clone()),
        vec![
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!(3),
            json!("10.244.1.4"),
            json!("n1")
        ]
    );
    let mut terminating = running;
    terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(pod_cells(terminating)[1], "Terminating");
    let fresh = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
    assert_eq!(
        pod_cells(fresh),
        vec![
            json!("0/1"),
            json!("Pending"),
            json!(0),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn a_table_carries_columns_once_asked_and_rows_with_metadata() {
    let node = json!({
        "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/agent": ""}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "nodeInfo": {"kubeletVersion": "v1.30.4"},
                   "addresses": [{"type": "InternalIP", "address": "10.224.0.4"}]},
    });
    let now = SystemTime::now();
    let with_headers = table(Resource::Node, &[&node], Include::Metadata, true, now);
    let names: Vec<&str> = with_headers["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Name", "Status", "Roles", "Version", "Age", "Internal-IP"]
    );
    let row = &with_headers["rows"][0];
    assert_eq!(row["cells"][0], "n1");
    assert_eq!(row["cells"][1], "Ready,SchedulingDisabled");
    assert_eq!(row["cells"][2], "agent");
    assert_eq!(row["cells"][4], "<unknown>");
    assert_eq!(row["cells"][5], "10.224.0.4");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["metadata"]["name"], "n1");
    let without = table(Resource::Node, &[&node], Include::Nothing, false, now);
    assert_eq!(without["columnDefinitions"], json!([]));
    assert!(without["rows"][0].get("object").is_none());
}

#[test]
fn every_resource_fills_as_many_cells_as_it_has_columns() {
    let empty = json!({"metadata": {"name": "x"}});
    for resource in Resource::ALL {
        let (columns, cells) = columns::of(resource);
        assert_eq!(cells(&empty).len(), columns.len(), "{resource}");
    }
    let (_, cells) = columns::of(Resource::Service);
    let service = json!({"spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.10",
        "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}], "selector": {"app": "web"}}});
    assert_eq!(
        cells(&service),
        vec![
            json!("LoadBalancer"),
            json!("10.0.0.10"),
            json!("<pending>"),
            json!("80:31000/TCP"),
            json!("app=web")
        ]
    );
}
