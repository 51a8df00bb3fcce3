//! `probesim-agent explain` as a user runs it: the shipped examples, the JSON contract, and bad
//! input.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn example(name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    root.join(name).display().to_string()
}

fn explain(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_probesim-agent"))
        .arg("explain")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("PROBESIM_CLOUD")
        .env_remove("PROBESIM_K8S_VERSION")
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(stdin.unwrap_or("").as_bytes())
        .expect("stdin accepts the input");
    drop(pipe);
    child.wait_with_output().expect("the binary finishes")
}

fn json_of(args: &[&str]) -> Value {
    let out = explain(args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn s1_on_1_24_gives_http_and_https_get_slash_on_the_node_ports_in_the_contract_shape() {
    let s1 = example("s1-aks-ingress-nginx.yaml");
    let v = json_of(&["-f", &s1, "--k8s-version", "1.24", "--output", "json"]);
    assert_eq!(v["cloud"], "azure");
    assert_eq!(v["settings"]["k8s_version"], "1.24");
    let services = v["services"].as_array().expect("services is a list");
    assert_eq!(services.len(), 1);
    let svc = &services[0];
    assert_eq!(
        svc["object"],
        "Service/ingress-basic/ingress-nginx-controller"
    );
    assert_eq!(svc["load_balancer"], "azure-lb");
    assert_eq!(svc["errors"], json!([]));
    let probe = |protocol: &str, port: u16| {
        json!({"protocol": protocol, "port": port, "path": "/", "interval_s": 5, "timeout_s": 5,
               "healthy_threshold": 2, "unhealthy_threshold": 2, "matcher": null, "target": "node"})
    };
    assert_eq!(
        svc["rules"],
        json!([
            {"port": 80, "protocol": "TCP", "probe": probe("http", 32271)},
            {"port": 443, "protocol": "TCP", "probe": probe("https", 30569)},
        ])
    );
    let warnings = svc["warnings"].as_array().expect("warnings is a list");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("azure-load-balancer-health-probe-request-path"))),
        "{warnings:?}"
    );
}

#[test]
fn s1_on_1_23_gives_tcp_probes_and_the_fix_gives_healthz_on_1_24() {
    let s1 = example("s1-aks-ingress-nginx.yaml");
    let v = json_of(&["-f", &s1, "--k8s-version", "1.23", "-o", "json"]);
    let rules = &v["services"][0]["rules"];
    assert_eq!(rules[0]["probe"]["protocol"], "tcp");
    assert_eq!(rules[0]["probe"]["path"], Value::Null);
    assert_eq!(rules[1]["probe"]["protocol"], "tcp");
    assert_eq!(rules[1]["probe"]["port"], 30569);

    let fixed = example("s1-aks-ingress-nginx-fixed.yaml");
    let v = json_of(&["-f", &fixed, "--k8s-version", "1.24", "-o", "json"]);
    let rules = &v["services"][0]["rules"];
    assert_eq!(rules[0]["probe"]["protocol"], "http");
    assert_eq!(rules[0]["probe"]["path"], "/healthz");
    assert_eq!(rules[1]["probe"]["protocol"], "https");
    assert_eq!(rules[1]["probe"]["path"], "/healthz");
}

#[test]
fn s1_compare_says_what_the_upgrade_changes_and_what_to_do() {
    let s1 = example("s1-aks-ingress-nginx.yaml");
    let out = explain(&["-f", &s1, "--compare", "1.23,1.24"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "comparing 1.23 -> 1.24",
        "port 80: HTTP GET / :32271 replaces TCP :32271",
        "port 443: HTTPS GET / :30569 replaces TCP :30569",
        "if / does not answer 200, Azure marks every node down",
        "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path",
        "ingress-nginx answers /healthz with 200",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let fixed = example("s1-aks-ingress-nginx-fixed.yaml");
    let out = explain(
        &["-f", &fixed, "--compare", "1.24,1.30", "-o", "json"],
        None,
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["changes"], json!([]), "the fix holds on later versions");
}

#[test]
fn s4_ingress_gives_the_alb_ip_target_group_of_the_scenario() {
    let v = json_of(&["-f", &example("s4-eks-alb-ip-rollout.yaml"), "-o", "json"]);
    assert_eq!(v["cloud"], "aws");
    let svc = &v["services"][0];
    assert_eq!(svc["object"], "Ingress/shop/web");
    assert_eq!(svc["load_balancer"], "alb");
    assert_eq!(svc["errors"], json!([]));
    assert_eq!(
        svc["rules"],
        json!([{"port": 80, "protocol": "TCP", "probe": {
            "protocol": "http", "port": "traffic-port", "path": "/healthz/ready",
            "interval_s": 10, "timeout_s": 5, "healthy_threshold": 2, "unhealthy_threshold": 2,
            "matcher": "200", "target": "pod"}}])
    );
}

#[test]
fn s5_gives_an_http_and_a_grpc_target_group_for_the_gateway() {
    let v = json_of(&["-f", &example("s5-eks-alb-grpc-istio.yaml"), "-o", "json"]);
    let services = v["services"].as_array().expect("services");
    let probe_of = |name: &str| {
        let svc = services
            .iter()
            .find(|s| s["object"] == format!("Ingress/istio-system/{name}"))
            .unwrap_or_else(|| panic!("{name} missing in {services:?}"));
        assert_eq!(svc["errors"], json!([]));
        svc["rules"][0]["probe"].clone()
    };
    let http = probe_of("istio-system-alb-istio-ingress-gateway-http");
    assert_eq!(http["protocol"], "http");
    assert_eq!(http["port"], 15021);
    assert_eq!(http["path"], "/healthz/ready");
    assert_eq!(http["matcher"], "200");
    let grpc = probe_of("istio-system-alb-istio-ingress-gateway-grpc");
    assert_eq!(grpc["protocol"], "grpc");
    assert_eq!(grpc["port"], 25021);
    assert_eq!(grpc["path"], "/grpc.health.v1.Health/Check");
    assert_eq!(grpc["matcher"], "0");
    assert_eq!(grpc["target"], "pod");
}

#[test]
fn every_json_object_has_exactly_the_contract_keys() {
    let keys = |v: &Value| {
        let mut k: Vec<_> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    for file in [
        "s1-aks-ingress-nginx.yaml",
        "s4-eks-alb-ip-rollout.yaml",
        "s5-eks-alb-grpc-istio.yaml",
    ] {
        let v = json_of(&["-f", &example(file), "-o", "json"]);
        assert_eq!(keys(&v), ["cloud", "services", "settings"]);
        for svc in v["services"].as_array().expect("services") {
            assert_eq!(
                keys(svc),
                ["errors", "load_balancer", "object", "rules", "warnings"]
            );
            for rule in svc["rules"].as_array().expect("rules") {
                assert_eq!(keys(rule), ["port", "probe", "protocol"]);
                assert_eq!(
                    keys(&rule["probe"]),
                    [
                        "healthy_threshold",
                        "interval_s",
                        "matcher",
                        "path",
                        "port",
                        "protocol",
                        "target",
                        "timeout_s",
                        "unhealthy_threshold"
                    ]
                );
            }
        }
    }
}

#[test]
fn standard_input_is_read_with_dash() {
    let yaml = std::fs::read_to_string(example("s1-aks-ingress-nginx.yaml")).expect("example");
    let out = explain(
        &["-f", "-", "--k8s-version", "1.24", "-o", "json"],
        Some(&yaml),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["services"][0]["rules"][0]["probe"]["protocol"], "http");
}

#[test]
fn malformed_input_exits_2_naming_source_object_and_field() {
    let bad = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n\
               spec: {type: LoadBalancer, ports: [{port: eighty}]}\n";
    let out = explain(&["-f", "-"], Some(bad));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("-: Service/shop/web: spec.ports[0].port: invalid type"),
        "{stderr}"
    );

    let out = explain(&["-f", "-"], Some("kind: [\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("document 1: invalid YAML"));

    let out = explain(&["-f", "/nonexistent.yaml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent.yaml: cannot read"));
}

#[test]
fn an_unknown_version_exits_2_with_the_accepted_forms() {
    let s1 = example("s1-aks-ingress-nginx.yaml");
    for args in [
        vec!["-f", s1.as_str(), "--k8s-version", "one.two"],
        vec!["-f", s1.as_str(), "--compare", "1.23"],
        vec!["-f", s1.as_str(), "--compare", "1.23,banana"],
    ] {
        let out = explain(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("v1.23.5"),
            "{}",
            text(&out.stderr)
        );
    }
}
