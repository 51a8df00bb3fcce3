use std::net::SocketAddr;

use super::*;
use crate::discovery::targets::Desired;
use crate::event::{SourceMode, SpecVersion};
use crate::lb::manual;
use crate::model::ObjectRef;

fn desired(lb: LbKind, kind: TargetKind, target: &str, registered: bool) -> Desired {
    let spec = manual::spec(
        lb,
        &manual::ManualProbe {
            protocol: Some(crate::model::ProbeProtocol::Http),
            port: 8080,
            path: Some("/".into()),
            interval_s: None,
            timeout_s: None,
            threshold: None,
            healthy_threshold: None,
            unhealthy_threshold: None,
            matcher: None,
            target: Some(kind),
        },
    )
    .expect("spec");
    Desired {
        key: BackendKey {
            lb,
            object: ObjectRef::new("Ingress", "shop", "web"),
            service: ObjectRef::new("Service", "shop", "web"),
            port: 80,
            node: "n1".into(),
            target: target.parse::<SocketAddr>().expect("addr"),
            target_kind: kind,
            pod: None,
            hop: Hop::Lb,
            source: SourceMode::Node,
            version: SpecVersion {
                version: "1.30".into(),
                what_if: false,
            },
        },
        spec: Arc::new(spec),
        registered,
        also_for: Vec::new(),
    }
}

fn plan(backends: &[Desired]) -> Plan {
    Plan {
        backends: backends
            .iter()
            .map(|d| (d.key.clone(), d.clone()))
            .collect(),
        ..Plan::default()
    }
}

fn names(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Add(b) => format!("add {}", b.id),
            Action::Respec { backend, .. } => format!("respec {}", backend.id),
            Action::Relabel(b) => format!("relabel {}", b.id),
            Action::Deregister(id) => format!("deregister {id}"),
            Action::Register(id) => format!("register {id}"),
            Action::Remove(id) => format!("remove {id}"),
        })
        .collect()
}

#[test]
fn alb_pod_targets_drain_on_deregistration_and_go_only_when_drained() {
    let mut registry = Registry::default();
    let pending = desired(LbKind::Alb, TargetKind::Pod, "10.244.0.5:8080", false);
    // Not registered yet: the ALB does not probe it.
    assert!(
        registry
            .apply(&plan(std::slice::from_ref(&pending)), |_| 10)
            .is_empty()
    );
    let ready = Desired {
        registered: true,
        ..pending.clone()
    };
    assert_eq!(
        names(&registry.apply(&plan(std::slice::from_ref(&ready)), |_| 10)),
        ["add 1"]
    );
    assert_eq!(registry.get(1).map(|b| b.probers), Some(10));
    // Terminating: deregistered, still probed while it drains.
    assert_eq!(
        names(&registry.apply(&plan(&[pending]), |_| 10)),
        ["deregister 1"]
    );
    assert_eq!(registry.draining().collect::<Vec<_>>(), [1]);
    // Gone from the endpoints: nothing more to do until the drain ends.
    assert!(registry.apply(&plan(&[]), |_| 10).is_empty());
    registry.remove(1);
    assert!(registry.is_empty());
}

#[test]
fn a_deregistered_target_that_comes_back_is_registered_again() {
    let mut registry = Registry::default();
    let ready = desired(LbKind::Nlb, TargetKind::Pod, "10.244.0.5:8080", true);
    registry.apply(&plan(std::slice::from_ref(&ready)), |_| 4);
    registry.apply(&plan(&[]), |_| 4);
    assert_eq!(
        names(&registry.apply(&plan(&[ready]), |_| 4)),
        ["register 1"]
    );
    assert!(registry.is_registered(1));
}

#[test]
fn node_targets_go_at_once_and_spec_or_label_changes_keep_the_id() {
    let mut registry = Registry::default();
    let node = desired(LbKind::AzureLb, TargetKind::Node, "10.224.0.4:32271", true);
    assert_eq!(
        names(&registry.apply(&plan(std::slice::from_ref(&node)), |_| 10)),
        ["add 1"]
    );
    let mut changed = node.clone();
    changed.spec = Arc::new(ProbeSpec {
        path: Some("/healthz".into()),
        ..(*node.spec).clone()
    });
    assert_eq!(
        names(&registry.apply(&plan(std::slice::from_ref(&changed)), |_| 10)),
        ["respec 1"]
    );
    let mut relabelled = changed.clone();
    relabelled.also_for = vec!["1.24".into()];
    let actions = registry.apply(&plan(std::slice::from_ref(&relabelled)), |_| 10);
    assert_eq!(names(&actions), ["relabel 1"]);
    assert!(registry.apply(&plan(&[relabelled]), |_| 10).is_empty());
    assert_eq!(names(&registry.apply(&plan(&[]), |_| 10)), ["remove 1"]);
    assert!(registry.get(1).is_none());
}
