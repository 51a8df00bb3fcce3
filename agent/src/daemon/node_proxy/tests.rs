use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;

fn found(api: bool, proxy: bool) -> Check {
    Check {
        started_at: SystemTime::UNIX_EPOCH,
        api_server: if api { Ok(()) } else { Err("refused".into()) },
        node_proxy: if proxy {
            Ok(())
        } else {
            Err("502 tunnel down".into())
        },
    }
}

#[test]
fn the_node_proxy_path_is_reported_when_it_breaks_and_when_it_comes_back_only() {
    let (state, event) = change(None, &found(true, true), "n1");
    assert_eq!((state, event), (Some(true), None));
    let (state, event) = change(state, &found(true, false), "n1");
    let event = event.expect("failure reported");
    assert_eq!(event.kind, LifecycleKind::NodeProxyFailed);
    assert!(
        event
            .detail
            .iter()
            .any(|(k, v)| k == "error" && v.contains("tunnel"))
    );
    assert_eq!(state, Some(false));
    assert_eq!(change(state, &found(true, false), "n1").1, None);
    let (state, event) = change(state, &found(true, true), "n1");
    assert_eq!(
        event.map(|e| e.kind),
        Some(LifecycleKind::NodeProxyRestored)
    );
    assert_eq!(state, Some(true));
}

#[test]
fn a_failing_api_server_is_not_a_broken_tunnel() {
    assert_eq!(
        change(Some(true), &found(false, false), "n1"),
        (Some(true), None)
    );
    assert_eq!(change(None, &found(false, false), "n1"), (None, None));
}

#[test]
fn a_path_broken_from_the_start_is_reported() {
    let (state, event) = change(None, &found(true, false), "n1");
    assert_eq!(state, Some(false));
    assert_eq!(event.map(|e| e.kind), Some(LifecycleKind::NodeProxyFailed));
}

#[test]
fn the_events_are_stamped_with_the_checks_start() {
    let started_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let failed = Check {
        started_at,
        ..found(true, false)
    };
    let (state, event) = change(Some(true), &failed, "n1");
    assert_eq!(event.map(|e| e.seen_at), Some(started_at));
    let restored = Check {
        started_at: started_at + Duration::from_secs(10),
        ..found(true, true)
    };
    let (_, event) = change(state, &restored, "n1");
    assert_eq!(
        event.map(|e| e.seen_at),
        Some(started_at + Duration::from_secs(10))
    );
}

/// How long the fake API server holds its 503, so that a check's end is measurably later than
/// its start.
const HOLD: Duration = Duration::from_millis(300);

const VERSION: &str = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0","gitCommit":"abc","gitTreeState":"clean","buildDate":"2025-01-01T00:00:00Z","goVersion":"go1.24","compiler":"gc","platform":"linux/amd64"}"#;
const UNAVAILABLE: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"error trying to reach service: tunnel down","reason":"ServiceUnavailable","code":503}"#;

/// The node proxy requests a fake API server received, with when they arrived.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<SystemTime>>>);

impl Seen {
    fn times(&self) -> Vec<SystemTime> {
        self.0.lock().unwrap().clone()
    }
}

/// A fake API server on loopback: `/version` answers, the node proxy path answers 503 (after
/// [`HOLD`]) to its first request and 200 to the later ones.
async fn api_server() -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Seen::default();
    let requests = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let requests = requests.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let requests = requests.clone();
                    async move {
                        let (status, body) = if req.uri().path() == "/version" {
                            (StatusCode::OK, VERSION)
                        } else {
                            let first = {
                                let mut times = requests.0.lock().unwrap();
                                times.push(SystemTime::now());
                                times.len() == 1
                            };
                            if first {
                                tokio::time::sleep(HOLD).await;
                                (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
                            } else {
                                (StatusCode::OK, "ok")
                            }
                        };
                        let mut response = Response::new(Full::new(Bytes::from(body)));
                        *response.status_mut() = status;
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn config(addr: SocketAddr) -> kube::Config {
    kube::Config::new(format!("http://{addr}").parse().unwrap())
}

#[tokio::test]
async fn one_check_is_one_request_and_a_503_is_reported_at_the_checks_start() {
    let (addr, seen) = api_server().await;
    let client = client(config(addr)).unwrap();

    let before = SystemTime::now();
    let first = check(&client, "n1").await;
    let after = SystemTime::now();
    assert_eq!(first.api_server, Ok(()));
    let why = first.node_proxy.clone().unwrap_err();
    assert!(why.contains("tunnel down"), "{why}");
    assert_eq!(seen.times().len(), 1, "exactly one request per check");
    let arrived = seen.times()[0];
    assert!(before <= first.started_at && first.started_at <= arrived);
    assert!(after.duration_since(first.started_at).unwrap() >= HOLD);

    let (state, event) = change(Some(true), &first, "n1");
    let event = event.expect("the 503 is reported");
    assert_eq!(event.kind, LifecycleKind::NodeProxyFailed);
    assert_eq!(
        event.seen_at, first.started_at,
        "stamped when the request left"
    );
    assert!(event.seen_at <= arrived);

    let second = check(&client, "n1").await;
    assert_eq!(second.node_proxy, Ok(()));
    assert_eq!(seen.times().len(), 2, "exactly one request per check");
    let (_, event) = change(state, &second, "n1");
    assert_eq!(
        event.map(|e| (e.kind, e.seen_at)),
        Some((LifecycleKind::NodeProxyRestored, second.started_at))
    );
}

#[tokio::test]
async fn kubes_default_client_retries_the_503_away_which_is_why_checks_do_not_use_it() {
    let (addr, seen) = api_server().await;
    let retrying = Client::try_from(config(addr)).unwrap();
    let result = check(&retrying, "n1").await;
    assert_eq!(result.node_proxy, Ok(()), "the outage went unreported");
    assert_eq!(seen.times().len(), 2);
}

#[tokio::test]
async fn an_api_server_that_does_not_answer_in_time_fails_the_check_by_its_own_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never answers.
    let held = tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            streams.push(stream);
        }
    });
    let client = client(config(addr)).unwrap();
    let result = check_within(&client, "n1", Duration::from_millis(200)).await;
    let why = result.node_proxy.unwrap_err();
    assert!(why.contains("no answer within 200ms"), "{why}");
    assert!(result.api_server.is_err());
    held.abort();
}
