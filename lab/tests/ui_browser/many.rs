//! Thousands of made-up backends for the UI's scale check: [`SERVICES`] Services of
//! [`PER_SERVICE`] pods on [`NODES`] nodes, every prober registering, a tenth of the backends
//! failing later, a few probe results each.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use probesim_agent::event::{Backend, Event};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::ObjectRef;
use probesim_collector::model::{AgentInfo, Batch, DropCounts, Sink};
use probesim_collector::store::SqliteStore;
use probesim_collector::store::synthetic;

pub const SERVICES: usize = 20;
pub const PER_SERVICE: usize = 250;
pub const NODES: usize = 50;
/// Results per backend.
const RESULTS: u64 = 6;

pub fn total() -> usize {
    SERVICES * PER_SERVICE
}

/// Fills `store`, the data starting `ago` before now.
pub async fn fill(store: SqliteStore, ago: Duration) -> Result<(), String> {
    let start = SystemTime::now() - ago;
    let mut per_node: Vec<Vec<Event>> = vec![Vec::new(); NODES];
    for i in 0..total() {
        let (service, node) = (i / PER_SERVICE, i % NODES);
        let node_name = format!("node-{node:02}");
        let id = (i / NODES) as u64;
        let template = synthetic::backend(id, &format!("web-{service:02}"), &node_name, 1);
        let mut key = template.key.clone();
        let address = Ipv4Addr::new(
            10,
            100 + (i / 65_000) as u8,
            ((i / 250) % 256) as u8,
            (i % 250) as u8 + 1,
        );
        key.target = SocketAddr::new(IpAddr::V4(address), 8080);
        key.pod = Some(format!("default/web-{service:02}-{i:05}"));
        key.object = ObjectRef::new("Ingress", "default", &format!("web-{service:02}"));
        let backend = Arc::new(Backend {
            key,
            ..(*template).clone()
        });
        let spec = backend.spec.clone();
        let events = &mut per_node[node];
        events.push(Event::Backend(backend));
        for prober in 0..synthetic::PROBERS {
            let at =
                start + Duration::from_millis(1_000 + u64::from(prober) * 150 + (i as u64 % 1000));
            events.push(Event::Transition(synthetic::transition(
                id,
                prober,
                LbState::Initial,
                LbState::Healthy,
                None,
                at,
            )));
            if i % 10 == 3 {
                let at = at + Duration::from_secs(60);
                let reason = Some(Reason::TargetResponseCodeMismatch(503));
                events.push(Event::Transition(synthetic::transition(
                    id,
                    prober,
                    LbState::Healthy,
                    LbState::Unhealthy,
                    reason,
                    at,
                )));
            }
        }
        for n in 0..RESULTS {
            let at = start + Duration::from_secs(5 + n * 20);
            let outcome = if i % 10 == 3 && n >= 3 {
                Outcome::HttpStatus(503)
            } else {
                Outcome::HttpStatus(200)
            };
            let r = synthetic::result(
                &spec,
                id,
                (n % 8) as u32,
                at,
                outcome,
                Duration::from_millis(3),
            );
            events.push(Event::Result(r));
        }
    }
    for (node, events) in per_node.into_iter().enumerate() {
        let name = format!("node-{node:02}");
        store.agent_connected(&AgentInfo {
            id: super::synthetic::agent_id(&name),
            node: name.clone(),
            cloud: None,
            k8s_version: "1.33".to_owned(),
            what_if_versions: Vec::new(),
            build: "synthetic".to_owned(),
            connected_at: start,
        });
        let batch = Batch {
            agent: super::synthetic::agent_id(&name),
            sequence: 1,
            sent_at: SystemTime::now(),
            events,
            dropped: DropCounts::default(),
        };
        store
            .accept(batch)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}
