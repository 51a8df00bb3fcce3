//! The probers against backends in a network namespace this test creates: every outcome the LB
//! emulation depends on, classified exactly, with timeouts honoured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use probesim_agent::lb::outcome::{LocalFailure, Outcome, Phase};
use probesim_agent::model::{CloseMode, LbKind, ProbeProtocol, TlsRange, WireDetails};
use probesim_agent::probe::{self, ProbeRequest, tls::TlsConfigs};
use probesim_lab::backend::tls::{ServerTls, ServerVersions};
use probesim_lab::backend::{Answer, Backend, Behavior, ConnBehavior, Protocol};
use probesim_lab::sandbox::{self, BLACK_HOLE};
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_millis(300);
/// How late a timeout may fire.
const TIMEOUT_SLACK: Duration = Duration::from_millis(20);

fn run_in_netns<F, Fut>(test: &str, f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    sandbox::run("t", test, |_ns| f());
}

fn request(addr: SocketAddr, protocol: ProbeProtocol, path: &str, lb: LbKind) -> ProbeRequest {
    ProbeRequest {
        addr,
        protocol,
        path: Arc::from(path),
        timeout: TIMEOUT,
        wire: Arc::new(WireDetails::for_lb(lb)),
        grpc_tls: false,
        bind: None,
        source: None,
    }
}

async fn http_backend(behavior: Behavior) -> Backend {
    Backend::start(
        "127.0.0.1:0".parse().expect("addr"),
        Protocol::Http,
        behavior,
    )
    .await
    .expect("backend")
}

async fn outcome(req: &ProbeRequest) -> Outcome {
    probe::probe(req, &TlsConfigs::new()).await.outcome
}

#[test]
fn tcp_probes_see_connected_refused_and_a_black_hole_timeout_on_time() {
    run_in_netns("tcp", || async {
        let open = http_backend(Behavior::default()).await;
        let req = request(open.addr(), ProbeProtocol::Tcp, "/", LbKind::AzureLb);
        let m = probe::probe(&req, &TlsConfigs::new()).await;
        assert_eq!(m.outcome, Outcome::Connected);
        assert!(m.timings.connect.is_some());

        let closed: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        assert_eq!(
            outcome(&request(closed, ProbeProtocol::Tcp, "/", LbKind::AzureLb)).await,
            Outcome::Refused
        );

        let hole: SocketAddr = format!("{BLACK_HOLE}:80").parse().expect("addr");
        let start = Instant::now();
        let out = outcome(&request(hole, ProbeProtocol::Tcp, "/", LbKind::AzureLb)).await;
        let took = start.elapsed();
        assert_eq!(
            out,
            Outcome::Timeout {
                phase: Phase::Connect
            }
        );
        assert!(
            took >= TIMEOUT && took < TIMEOUT + TIMEOUT_SLACK,
            "took {took:?}"
        );
    });
}

#[test]
fn tcp_probes_close_with_rst_when_asked_leaving_no_time_wait() {
    run_in_netns("tcp-rst", || async {
        let open = http_backend(Behavior::default()).await;
        let mut req = request(open.addr(), ProbeProtocol::Tcp, "/", LbKind::AzureLb);
        let mut wire = WireDetails::for_lb(LbKind::AzureLb);
        wire.close = CloseMode::Rst;
        req.wire = Arc::new(wire);
        for _ in 0..50 {
            assert_eq!(outcome(&req).await, Outcome::Connected);
        }
        let ss = std::process::Command::new("ss")
            .args(["-tan", "state", "time-wait"])
            .output();
        if let Ok(out) = ss {
            let text = String::from_utf8_lossy(&out.stdout);
            let port = format!(":{}", open.addr().port());
            assert!(!text.contains(&port), "TIME_WAIT left behind:\n{text}");
        }
    });
}

#[test]
fn http_probes_report_each_status_and_never_follow_redirects() {
    run_in_netns("http", || async {
        let backend = http_backend(
            Behavior::ingress_nginx_default_backend()
                .route("/unavailable", Answer::status(503))
                .route("/moved", Answer::status(301))
                .route("/nocontent", Answer::status(204)),
        )
        .await;
        for (path, status) in [
            ("/", 404),
            ("/healthz", 200),
            ("/unavailable", 503),
            ("/moved", 301),
            ("/nocontent", 204),
        ] {
            let req = request(backend.addr(), ProbeProtocol::Http, path, LbKind::AzureLb);
            let m = probe::probe(&req, &TlsConfigs::new()).await;
            assert_eq!(m.outcome, Outcome::HttpStatus(status), "{path}");
            assert!(m.timings.first_byte.is_some(), "{path}");
        }
        assert_eq!(backend.requests(), 5);
        assert_eq!(
            backend.connections(),
            5,
            "every probe opens its own connection"
        );
    });
}

#[test]
fn http_probes_classify_reset_close_garbage_and_a_hung_server() {
    run_in_netns("http-bad", || async {
        let cases = [
            (
                ConnBehavior::Reset,
                Outcome::Reset {
                    phase: Phase::Response,
                },
            ),
            (ConnBehavior::Close, Outcome::Closed),
            (ConnBehavior::Garbage, Outcome::Malformed),
        ];
        for (conn, expected) in cases {
            let backend = http_backend(Behavior::default().conn(conn)).await;
            let req = request(backend.addr(), ProbeProtocol::Http, "/", LbKind::Alb);
            assert_eq!(outcome(&req).await, expected, "{conn:?}");
        }
        let hung = http_backend(Behavior::default().conn(ConnBehavior::Hold)).await;
        let req = request(hung.addr(), ProbeProtocol::Http, "/", LbKind::Alb);
        let start = Instant::now();
        assert_eq!(
            outcome(&req).await,
            Outcome::Timeout {
                phase: Phase::Response
            }
        );
        let took = start.elapsed();
        assert!(
            took >= TIMEOUT && took < TIMEOUT + TIMEOUT_SLACK,
            "took {took:?}"
        );

        let slow =
            http_backend(Behavior::default().fallback(Answer::status(200).after(TIMEOUT * 2)))
                .await;
        let req = request(slow.addr(), ProbeProtocol::Http, "/", LbKind::Alb);
        assert_eq!(
            outcome(&req).await,
            Outcome::Timeout {
                phase: Phase::Response
            }
        );
    });
}

#[test]
fn https_probes_accept_self_signed_certificates_and_fail_outside_the_tls_range() {
    run_in_netns("https", || async {
        let tls = ServerTls::self_signed(ServerVersions::Both, false).expect("cert");
        let any = Backend::start(
            "127.0.0.1:0".parse().expect("addr"),
            Protocol::Https(tls),
            Behavior::ingress_nginx_default_backend(),
        )
        .await
        .expect("backend");
        let req = request(
            any.addr(),
            ProbeProtocol::Https,
            "/healthz",
            LbKind::AzureLb,
        );
        let m = probe::probe(&req, &TlsConfigs::new()).await;
        assert_eq!(m.outcome, Outcome::HttpStatus(200));
        assert!(m.timings.tls.is_some());

        // Azure was only seen speaking TLS 1.2: a TLS 1.3-only backend fails its handshake.
        let tls13 = ServerTls::self_signed(ServerVersions::Tls13Only, false).expect("cert");
        let modern = Backend::start(
            "127.0.0.1:0".parse().expect("addr"),
            Protocol::Https(tls13),
            Behavior::default(),
        )
        .await
        .expect("backend");
        let mut req = request(modern.addr(), ProbeProtocol::Https, "/", LbKind::AzureLb);
        assert_eq!(req.wire.tls, TlsRange::AZURE_OBSERVED);
        assert_eq!(outcome(&req).await, Outcome::TlsFailed);
        req.wire = Arc::new(WireDetails::for_lb(LbKind::Alb));
        assert_eq!(outcome(&req).await, Outcome::HttpStatus(404));

        // A plain-HTTP server behind an HTTPS probe is a failed handshake, SSL probes likewise.
        let plain = http_backend(Behavior::default()).await;
        let req = request(plain.addr(), ProbeProtocol::Https, "/", LbKind::Clb);
        assert_eq!(outcome(&req).await, Outcome::TlsFailed);
        let req = request(any.addr(), ProbeProtocol::Ssl, "/", LbKind::Clb);
        assert_eq!(outcome(&req).await, Outcome::TlsEstablished);
    });
}

#[test]
fn grpc_probes_report_the_grpc_status_from_trailers_and_trailers_only_answers() {
    run_in_netns("grpc", || async {
        let behavior = Behavior::default()
            .route("/grpc.health.v1.Health/Check", Answer::grpc(0))
            .fallback(Answer::grpc(12));
        let backend = Backend::start(
            "127.0.0.1:0".parse().expect("addr"),
            Protocol::Grpc(None),
            behavior.clone(),
        )
        .await
        .expect("backend");
        let ok = request(
            backend.addr(),
            ProbeProtocol::Grpc,
            "/grpc.health.v1.Health/Check",
            LbKind::Alb,
        );
        assert_eq!(
            outcome(&ok).await,
            Outcome::GrpcStatus { code: 0, http: 200 }
        );
        let missing = request(
            backend.addr(),
            ProbeProtocol::Grpc,
            "/AWS.ALB/healthcheck",
            LbKind::Alb,
        );
        assert_eq!(
            outcome(&missing).await,
            Outcome::GrpcStatus {
                code: 12,
                http: 200
            }
        );

        let tls = ServerTls::self_signed(ServerVersions::Both, true).expect("cert");
        let secure = Backend::start(
            "127.0.0.1:0".parse().expect("addr"),
            Protocol::Grpc(Some(tls)),
            behavior,
        )
        .await
        .expect("backend");
        let mut req = request(
            secure.addr(),
            ProbeProtocol::Grpc,
            "/grpc.health.v1.Health/Check",
            LbKind::Alb,
        );
        req.grpc_tls = true;
        assert_eq!(
            outcome(&req).await,
            Outcome::GrpcStatus { code: 0, http: 200 }
        );
    });
}

#[test]
fn no_route_on_our_side_is_a_local_failure_that_the_lb_does_not_count() {
    run_in_netns("noroute", || async {
        // The namespace has no default route: 192.0.2.1 (TEST-NET-1) is unroutable from here.
        let nowhere: SocketAddr = "192.0.2.1:80".parse().expect("addr");
        let out = outcome(&request(nowhere, ProbeProtocol::Tcp, "/", LbKind::AzureLb)).await;
        assert_eq!(out, Outcome::Local(LocalFailure::NoRoute));
        let spec = probesim_agent::lb::manual::spec(
            LbKind::AzureLb,
            &probesim_agent::lb::manual::ManualProbe {
                port: 80,
                ..Default::default()
            },
        )
        .expect("spec");
        assert!(!probesim_agent::lb::verdict::judge(&spec, &out).is_counted());
    });
}

#[test]
fn a_backend_that_stops_accepting_refuses_new_probes() {
    run_in_netns("stop", || async {
        let backend = http_backend(Behavior::default().fallback(Answer::status(200))).await;
        let req = request(backend.addr(), ProbeProtocol::Http, "/", LbKind::Alb);
        assert_eq!(outcome(&req).await, Outcome::HttpStatus(200));
        backend.stop_accepting();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(outcome(&req).await, Outcome::Refused);
    });
}
