//! The control plane's path to each node's kubelet (S7): from the agents' `node-proxy-failed`
//! and `node-proxy-restored` events, the intervals in which the API server answered but could
//! not reach a node (kubectl logs, exec and port-forward fail there; webhooks and metrics served
//! through the tunnel too).

use std::collections::BTreeMap;

use probesim_agent::event::{Lifecycle, LifecycleKind};

use crate::report::NodeProxyOutage;

/// One outage per failure, in time order; `to` is `None` while it lasts at the range's end.
pub fn outages(lifecycle: &[Lifecycle]) -> Vec<NodeProxyOutage> {
    let mut open: BTreeMap<String, NodeProxyOutage> = BTreeMap::new();
    let mut done = Vec::new();
    for event in lifecycle {
        let Some(node) = event.node.clone() else {
            continue;
        };
        match event.kind {
            LifecycleKind::NodeProxyFailed => {
                let error = event
                    .detail
                    .iter()
                    .find(|(k, _)| k == "error")
                    .map(|(_, v)| v.clone());
                open.entry(node.clone()).or_insert(NodeProxyOutage {
                    node,
                    from: event.seen_at,
                    to: None,
                    error,
                });
            }
            LifecycleKind::NodeProxyRestored => {
                if let Some(mut outage) = open.remove(&node) {
                    outage.to = Some(event.seen_at);
                    done.push(outage);
                }
            }
            _ => {}
        }
    }
    done.extend(open.into_values());
    done.sort_by(|a, b| a.from.cmp(&b.from).then_with(|| a.node.cmp(&b.node)));
    done
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use probesim_agent::model::ObjectRef;

    use super::*;

    fn event(kind: LifecycleKind, node: &str, at_s: u64) -> Lifecycle {
        Lifecycle {
            kind,
            object: ObjectRef::new("Node", "", node),
            node: Some(node.to_owned()),
            address: None,
            object_time: None,
            seen_at: UNIX_EPOCH + Duration::from_secs(at_s),
            detail: vec![("error".to_owned(), "HTTP 503".to_owned())],
        }
    }

    #[test]
    fn a_failure_and_its_restoration_make_one_outage_and_an_unrestored_one_stays_open() {
        let got = outages(&[
            event(LifecycleKind::NodeProxyFailed, "n0", 10),
            event(LifecycleKind::PodReady, "n0", 11),
            event(LifecycleKind::NodeProxyFailed, "n1", 12),
            event(LifecycleKind::NodeProxyRestored, "n0", 14),
            event(LifecycleKind::NodeProxyRestored, "n2", 15),
        ]);
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(
            got,
            vec![
                NodeProxyOutage {
                    node: "n0".into(),
                    from: at(10),
                    to: Some(at(14)),
                    error: Some("HTTP 503".into()),
                },
                NodeProxyOutage {
                    node: "n1".into(),
                    from: at(12),
                    to: None,
                    error: Some("HTTP 503".into()),
                },
            ]
        );
    }
}
