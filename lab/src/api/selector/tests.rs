use serde_json::json;

use super::*;

fn labelled(labels: Value) -> Value {
    json!({"metadata": {"name": "web-1", "namespace": "shop", "labels": labels},
           "spec": {"nodeName": "node-2"}, "status": {"phase": "Running"}})
}

#[test]
fn label_selectors_match_like_kubernetes() {
    let app_web = labelled(json!({"app": "web", "tier": "front"}));
    let app_db = labelled(json!({"app": "db"}));
    let bare = labelled(json!(null));
    let table: &[(&str, [bool; 3])] = &[
        ("", [true, true, true]),
        ("app=web", [true, false, false]),
        ("app==web", [true, false, false]),
        ("app!=web", [false, true, true]),
        ("app in (web, db)", [true, true, false]),
        ("app notin (web)", [false, true, true]),
        ("tier", [true, false, false]),
        ("!tier", [false, true, true]),
        ("app=web,tier=front", [true, false, false]),
        ("app in (web,db),!tier", [false, true, false]),
        (" app = web , tier ", [true, false, false]),
        ("app=", [false, false, false]),
    ];
    for (selector, expected) in table {
        let parsed = LabelSelector::parse(selector).expect(selector);
        let got = [&app_web, &app_db, &bare].map(|o| parsed.matches(o));
        assert_eq!(&got, expected, "{selector:?}");
    }
}

#[test]
fn malformed_label_selectors_are_refused_with_the_requirement_named() {
    for bad in ["app in (web", "app within (x)", "a b=c", "app=we b", "=web"] {
        let err = LabelSelector::parse(bad).expect_err(bad);
        assert!(
            matches!(&err, SelectorError::Label { selector, .. } if selector == bad),
            "{bad}: {err}"
        );
    }
    let err = LabelSelector::parse("app=web,x in (a").unwrap_err();
    assert!(err.to_string().contains("\"x in (a\""), "{err}");
}

#[test]
fn field_selectors_compare_the_fields_the_server_indexes() {
    let pod = labelled(json!({}));
    let table = [
        ("spec.nodeName=node-2", true),
        ("spec.nodeName==node-2", true),
        ("spec.nodeName!=node-2", false),
        ("spec.nodeName=node-1", false),
        ("metadata.name=web-1,metadata.namespace=shop", true),
        ("metadata.namespace!=shop", false),
        ("status.phase=Running,spec.nodeName=node-2", true),
        ("status.podIP=", true),
        ("spec.hostNetwork=false", true),
        ("", true),
    ];
    for (selector, expected) in table {
        let parsed = FieldSelector::parse(selector, Resource::Pod).expect(selector);
        assert_eq!(parsed.matches(&pod), expected, "{selector:?}");
    }
    let node = json!({"metadata": {"name": "node-1"}, "spec": {}});
    let cordoned = FieldSelector::parse("spec.unschedulable=true", Resource::Node).unwrap();
    assert!(!cordoned.matches(&node));
    assert!(cordoned.matches(&json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}})));
}

#[test]
fn unsupported_fields_are_refused_with_the_servers_message() {
    let err = FieldSelector::parse("spec.nodeName=node-1", Resource::Service).unwrap_err();
    assert_eq!(err.to_string(), "field label not supported: spec.nodeName");
    let err = FieldSelector::parse("metadata.labels=x", Resource::Pod).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field label not supported: metadata.labels"
    );
    let err = FieldSelector::parse("spec.nodeName", Resource::Pod).unwrap_err();
    assert!(matches!(err, SelectorError::Field { .. }), "{err}");
}
