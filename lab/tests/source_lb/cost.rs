//! What lb-source adds to each probe: making its socket inside the private namespace.

use std::time::Duration;

use probesim_agent::source::{LbSource, LbSourceConfig};
use probesim_lab::net::reach::block_in;
use probesim_lab::net::topology::AZURE_LB_SOURCE;
use probesim_lab::net::{Topology, TopologySpec, can_run_network_test};

/// What making a socket inside the lb-source namespace costs over making one in place.
#[test]
fn a_socket_made_inside_the_lb_source_namespace_costs_two_setns_calls_more() {
    if !can_run_network_test(
        "a_socket_made_inside_the_lb_source_namespace_costs_two_setns_calls_more",
    ) {
        return;
    }
    const SOCKETS: u32 = 5_000;
    let topology =
        Topology::create(TopologySpec::new(&["n0"], &[AZURE_LB_SOURCE])).expect("topology");
    let (plain, inside) = block_in(&topology.node_netns("n0").expect("n0"), || async {
        use socket2::{Domain, Socket, Type};
        let source = LbSource::create(LbSourceConfig::default()).expect("lb-source");
        let factory = source.socket_factory().expect("factory");
        let time = |make: &dyn Fn() -> std::io::Result<Socket>| {
            let start = std::time::Instant::now();
            for _ in 0..SOCKETS {
                drop(make().expect("socket"));
            }
            start.elapsed() / SOCKETS
        };
        let plain = time(&|| Socket::new(Domain::IPV4, Type::STREAM, None));
        let inside = time(&|| factory.socket(Domain::IPV4, Type::STREAM, None));
        drop(factory);
        source.remove().expect("remove");
        (plain, inside)
    })
    .expect("thread in n0");
    eprintln!("socket+close: {plain:?} in place, {inside:?} inside the lb-source namespace");
    assert!(inside < Duration::from_millis(1), "{inside:?} per socket");
}
