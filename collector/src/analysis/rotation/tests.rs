use probesim_agent::lb::health::LbState::{Draining, Healthy, Initial, Unhealthy};
use probesim_agent::model::{LbKind, ProbeProtocol};

use super::*;
use crate::analysis::testing::*;

fn backend(b: B) -> BackendHistory {
    b.build()
}

#[test]
fn routing_table_over_a_drain_with_a_propagation_lag() {
    let alb = spec(LbKind::Alb, ProbeProtocol::Http, Some("/"), 80);
    let b = backend(
        B::new(
            "default/web",
            "node-1",
            probesim_agent::event::Hop::Lb,
            alb,
            1,
        )
        .change(0, Initial, Healthy, None, 10.0)
        .change(0, Healthy, Draining, None, 100.0),
    );
    let h = history(vec![b.clone()], Vec::new());
    let p = &probers(&b, &h)[0];
    let lag = secs(30.0);
    // (time, routed)
    let table = [
        (5.0, false),
        (10.0, true),
        (99.0, true),
        (100.0, true),
        (129.9, true),
        (130.0, false),
    ];
    for (t, routed) in table {
        assert_eq!(p.routed_at(at(t), lag, None), Some(routed), "at {t}");
    }
    assert_eq!(p.routing_ends(at(50.0), lag, None), Some(at(130.0)));
    assert_eq!(p.routing_ends(at(140.0), lag, None), Some(at(140.0)));
}

#[test]
fn fallback_deregistration_applies_only_without_the_probers_own_draining() {
    let alb = spec(LbKind::Alb, ProbeProtocol::Http, Some("/"), 80);
    let b = backend(
        B::new(
            "default/web",
            "node-1",
            probesim_agent::event::Hop::Lb,
            alb,
            1,
        )
        .change(0, Initial, Healthy, None, 10.0)
        .change(0, Healthy, Unhealthy, None, 120.0),
    );
    let h = history(vec![b.clone()], Vec::new());
    let p = &probers(&b, &h)[0];
    // Deregistered at 100 while healthy: sends until 100 + 10, health no longer counts.
    assert_eq!(
        p.routing_ends(at(50.0), secs(10.0), Some(at(100.0))),
        Some(at(110.0))
    );
    // Deregistered at 125 after the health exit at 120: ends at 120.
    assert_eq!(
        p.routing_ends(at(50.0), secs(10.0), Some(at(125.0))),
        Some(at(120.0))
    );
    // A prober without changes on a backend first seen inside the range starts initial.
    let quiet = backend(B::new(
        "default/web",
        "node-1",
        probesim_agent::event::Hop::Lb,
        spec(LbKind::Nlb, ProbeProtocol::Tcp, None, 80),
        2,
    ));
    let ps = probers(&quiet, &history(vec![quiet.clone()], Vec::new()));
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[1].last_state(), Some(Initial));
}
