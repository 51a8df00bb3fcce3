//! `probesim-agent probe` against a small HTTP server on loopback that answers like
//! ingress-nginx's default backend: 404 on `/`, 200 on `/healthz`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread;

use serde_json::Value;

/// Serves until the test process ends; answers one request per connection.
fn ingress_nginx_like() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 2048];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            let ok = head.starts_with("GET /healthz ");
            let response = if ok {
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

fn probe(args: &[&str]) -> (String, String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_probesim-agent"))
        .arg("probe")
        .args(args)
        .output()
        .expect("runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn azure_http_on_slash_is_down_and_the_verdict_names_the_path_that_would_pass() {
    let port = ingress_nginx_like().to_string();
    let (stdout, stderr, code) = probe(&[
        "--lb",
        "azure",
        "--protocol",
        "http",
        "--port",
        &port,
        "--path",
        "/",
        "--target",
        "127.0.0.1",
        "--interval",
        "1",
        "--rate",
        "4",
        "--duration",
        "1500ms",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("HTTP 404"), "{stdout}");
    assert!(stdout.contains("azure-lb view of 127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("DOWN since"), "{stdout}");
    assert!(
        stdout.contains("would be UP with path /healthz")
            && stdout.contains("azure-load-balancer-health-probe-request-path: /healthz"),
        "{stdout}"
    );
}

#[test]
fn json_lines_carry_probes_transitions_and_the_summary() {
    let port = ingress_nginx_like().to_string();
    let (stdout, stderr, code) = probe(&[
        "--lb",
        "alb",
        "--port",
        &port,
        "--path",
        "/healthz",
        "--target",
        "127.0.0.1",
        "--interval",
        "1",
        "--rate",
        "2",
        "--duration",
        "1200ms",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let of = |t: &str| lines.iter().filter(|v| v["type"] == t).collect::<Vec<_>>();
    let probes = of("probe");
    assert!(probes.len() >= 2, "{stdout}");
    assert!(
        probes.iter().all(|p| p["outcome"] == "http_status"
            && p["status"] == 200
            && p["verdict"] == "success")
    );
    let transitions = of("transition");
    assert!(
        transitions
            .iter()
            .any(|t| t["from"] == "initial" && t["to"] == "healthy"),
        "{stdout}"
    );
    let summary = of("summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["state"], "healthy");
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let (_, stderr, code) = probe(&[
        "--lb",
        "azure",
        "--protocol",
        "grpc",
        "--port",
        "80",
        "--target",
        "127.0.0.1",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--protocol grpc"), "{stderr}");
    let (_, stderr, code) = probe(&[
        "--lb",
        "alb",
        "--port",
        "80",
        "--target",
        "127.0.0.1",
        "--matcher",
        "999",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--matcher") && stderr.contains("999"),
        "{stderr}"
    );
    let (_, stderr, code) = probe(&[
        "--lb",
        "nlb",
        "--port",
        "80",
        "--target",
        "127.0.0.1",
        "--duration",
        "soon",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("soon"), "{stderr}");
}

#[test]
fn a_manifest_rule_gives_the_spec_and_a_missing_service_lists_what_exists() {
    let port = ingress_nginx_like().to_string();
    let s1 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/s1-aks-ingress-nginx-fixed.yaml"
    );
    let (stdout, stderr, code) = probe(&[
        "--from-manifest",
        s1,
        "--service",
        "ingress-basic/ingress-nginx-controller",
        "--rule-port",
        "80",
        "--k8s-version",
        "1.24",
        "--port",
        &port,
        "--target",
        "127.0.0.1",
        "--rate",
        "2",
        "--duration",
        "1200ms",
        "--quiet",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("HTTP GET /healthz"), "{stdout}");
    assert!(stdout.contains("-> up"), "{stdout}");
    let (_, stderr, code) = probe(&[
        "--from-manifest",
        s1,
        "--service",
        "default/nope",
        "--target",
        "127.0.0.1",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("found: Service/ingress-basic/ingress-nginx-controller"),
        "{stderr}"
    );
}
