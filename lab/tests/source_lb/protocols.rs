//! Every prober works unchanged from the lb-source namespace (TCP and HTTP: see the S2 tests).

use std::net::SocketAddr;

use probesim_agent::lb::manual::{self, ManualProbe};
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::model::{LbKind, ProbeProtocol};
use probesim_agent::probe::tls::TlsConfigs;
use probesim_agent::probe::{self, ProbeRequest, ProbeSource};
use probesim_lab::backend::tls::{ServerTls, ServerVersions};
use probesim_lab::backend::{Answer, Behavior, Protocol};
use probesim_lab::net::can_run_network_test;
use probesim_lab::net::reach::{NetnsBackend, block_in};
use probesim_lab::net::topology::AZURE_LB_SOURCE;

use crate::{Lab, PROBE_TIMEOUT, TIMEOUT, WEB};

#[test]
fn https_and_grpc_probes_work_unchanged_from_the_lb_source() {
    if !can_run_network_test("https_and_grpc_probes_work_unchanged_from_the_lb_source") {
        return;
    }
    const HTTPS: u16 = 8443;
    const GRPC: u16 = 50051;
    let lab = Lab::start();
    let pod = lab.topology.pod_netns("default/web-0").expect("pod");
    let tls = ServerTls::self_signed(ServerVersions::Both, false).expect("cert");
    let ok = Behavior::default().route("/", Answer::status(200));
    let _https = NetnsBackend::start(
        &pod,
        SocketAddr::from((WEB, HTTPS)),
        Protocol::Https(tls),
        ok,
    )
    .expect("https");
    let health = Behavior::default().route("/grpc.health.v1.Health/Check", Answer::grpc(0));
    let _grpc = NetnsBackend::start(
        &pod,
        SocketAddr::from((WEB, GRPC)),
        Protocol::Grpc(None),
        health,
    )
    .expect("grpc");
    // Only the LB's address may reach the pod: a probe from anywhere else would be dropped.
    pod.exec(
        "iptables",
        &[
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "!",
            "-s",
            &AZURE_LB_SOURCE.to_string(),
            "-j",
            "DROP",
        ],
    )
    .expect("filter");
    let (source, factory) = lab.lb_source();
    assert_eq!(
        lab.probe(ProbeProtocol::Https, (WEB, HTTPS), Some(&factory)),
        Outcome::HttpStatus(200)
    );
    let given = ManualProbe {
        protocol: Some(ProbeProtocol::Grpc),
        port: GRPC,
        path: Some("/grpc.health.v1.Health/Check".into()),
        ..ManualProbe::default()
    };
    let spec = manual::spec(LbKind::Alb, &given).expect("spec");
    let mut req = ProbeRequest::for_spec(&spec, SocketAddr::from((WEB, GRPC)));
    req.timeout = PROBE_TIMEOUT;
    req.source = Some(ProbeSource::LbSource(factory.clone()));
    let grpc = block_in(&lab.n0(), move || async move {
        probe::probe(&req, &TlsConfigs::new()).await.outcome
    })
    .expect("thread in n0");
    assert_eq!(grpc, Outcome::GrpcStatus { code: 0, http: 200 });
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, (WEB, GRPC), None),
        TIMEOUT,
        "the node's address is dropped"
    );
    drop(factory);
    drop(source);
}
