//! Debian's kubectl (1.20) against the fake API server: what a user of the lab types.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use probesim_lab::api::{ApiServerConfig, Resource, Store};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::{Running, eventually, node, pod};

/// Where `scripts/debian-kubectl` unpacks Debian's kubectl.
const UNPACKED: &str = "tools/kubernetes-client/usr/bin/kubectl";
/// Longest a single kubectl command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// The kubectl to test with: `PROBESIM_KUBECTL`, else the one `scripts/debian-kubectl` unpacked,
/// else a `kubectl` on PATH that is not a version dispatcher (google-cloud-sdk's
/// `/usr/bin/kubectl` picks a binary per server version). Missing: says so, and fails under CI.
fn kubectl() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let found = std::env::var_os("PROBESIM_KUBECTL")
        .map(PathBuf::from)
        .into_iter()
        .chain([target.join(UNPACKED)])
        .find(|p| p.is_file())
        .or_else(|| {
            let out = std::process::Command::new("kubectl")
                .args(["version", "--client"])
                .output()
                .ok()?;
            let version = String::from_utf8_lossy(&out.stdout);
            (out.status.success() && !version.contains("dispatcher")).then(|| "kubectl".into())
        });
    if found.is_none() {
        let why = "no kubectl: run scripts/debian-kubectl (unpacks Debian's kubernetes-client under target/tools) or set PROBESIM_KUBECTL";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED kubectl tests: {why}");
    }
    found
}

/// kubectl pointed at one server, with a kubeconfig and cache of its own.
struct Kubectl {
    binary: PathBuf,
    server: String,
    home: PathBuf,
}

impl Kubectl {
    fn new(binary: PathBuf, running: &Running) -> Kubectl {
        let home = std::env::temp_dir().join(format!(
            "probesim-test-kubectl-{}-{}",
            std::process::id(),
            running.address.port()
        ));
        std::fs::create_dir_all(&home).expect("test setup");
        std::fs::write(home.join("kubeconfig"), "").expect("test setup");
        Kubectl {
            binary,
            server: running.url(),
            home,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--server")
            .arg(&self.server)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .args(args)
            .env("KUBECONFIG", self.home.join("kubeconfig"))
            .env("HOME", &self.home)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs to the end: (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = tokio::time::timeout(COMMAND_LIMIT, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} took longer than {COMMAND_LIMIT:?}"))
            .expect("kubectl runs");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            output.status.success(),
            text(&output.stdout),
            text(&output.stderr),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed: {err}{out}");
        out
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

#[tokio::test]
async fn kubectl_gets_watches_annotates_cordons_and_deletes() {
    let Some(binary) = kubectl() else { return };
    let store = Store::new();
    store.create(node("n1")).unwrap();
    store.create(pod("shop", "web-1", "n1")).unwrap();
    store
        .create(json!({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "web", "namespace": "shop"},
                       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}))
        .unwrap();
    let config = ApiServerConfig {
        kubernetes_version: "v1.29.7".into(),
        ..ApiServerConfig::default()
    };
    let running = Running::with_config(store.clone(), config).await;
    let kubectl = Kubectl::new(binary, &running);

    let out = kubectl.ok(&["version"]).await;
    assert!(out.contains("v1.29.7"), "{out}");
    let out = kubectl.ok(&["get", "pods", "-A"]).await;
    assert!(
        out.lines()
            .any(|l| l.starts_with("shop") && l.contains("web-1")),
        "{out}"
    );
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let out = kubectl
        .ok(&["get", "svc", "-n", "shop", "-o", "json"])
        .await;
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["items"][0]["spec"]["type"], "LoadBalancer");
    let out = kubectl
        .ok(&[
            "get",
            "po",
            "-n",
            "shop",
            "-l",
            "app=web",
            "--field-selector",
            "spec.nodeName=n1",
        ])
        .await;
    assert!(out.contains("web-1"), "{out}");
    let (ok, _, err) = kubectl
        .run(&["get", "pods", "-A", "--field-selector", "spec.foo=x"])
        .await;
    assert!(
        !ok && err.contains("field label not supported: spec.foo"),
        "{err}"
    );

    // A watch prints the pods there are, then each change.
    let mut watch = kubectl
        .command(&["get", "pods", "-A", "-w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut wait_for_line = async |needle: &str| {
        tokio::time::timeout(COMMAND_LIMIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("kubectl -w ended before a line with {needle}");
        })
        .await
        .unwrap_or_else(|_| panic!("no line with {needle} from kubectl -w"))
    };
    wait_for_line("web-1").await;
    store.create(pod("shop", "web-2", "n1")).unwrap();
    let line = wait_for_line("web-2").await;
    assert!(line.starts_with("shop"), "{line}");
    // Rows are the server's table: the pod's STATUS follows its deletion.
    store
        .delete_gracefully(Resource::Pod, "shop", "web-2", None)
        .unwrap();
    let line = wait_for_line("Terminating").await;
    assert!(line.contains("web-2"), "{line}");
    watch.kill().await.unwrap();

    kubectl
        .ok(&[
            "annotate",
            "pod",
            "-n",
            "shop",
            "web-1",
            "probesim.io/note=hello",
        ])
        .await;
    kubectl
        .ok(&["label", "pod", "-n", "shop", "web-1", "tier=front"])
        .await;
    let web1 = store.get(Resource::Pod, "shop", "web-1").unwrap();
    assert_eq!(web1["metadata"]["annotations"]["probesim.io/note"], "hello");
    assert_eq!(
        web1["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    kubectl.ok(&["cordon", "n1"]).await;
    assert_eq!(
        store.get(Resource::Node, "", "n1").unwrap()["spec"]["unschedulable"],
        true
    );

    // Manifests go in with validation on, and patches keep what they do not name.
    let manifest = kubectl.home.join("deployment.yaml");
    let deployment = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\n\
             spec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    \
             spec:\n      containers:\n      - name: web\n        image: {image}\n        \
             readinessProbe: {{httpGet: {{path: /healthz, port: 80}}}}\n"
        )
    };
    let template = |store: &Store| {
        let d = store
            .get(Resource::Deployment, "shop", "web")
            .expect("deployment");
        d["spec"]["template"]["spec"]["containers"][0].clone()
    };
    std::fs::write(&manifest, deployment("nginx:1")).unwrap();
    let file = manifest.to_str().unwrap();
    kubectl.ok(&["apply", "-f", file]).await;
    kubectl
        .ok(&[
            "set",
            "image",
            "deployment/web",
            "-n",
            "shop",
            "web=nginx:2",
        ])
        .await;
    let container = template(&store);
    assert_eq!(container["image"], "nginx:2");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/healthz");
    std::fs::write(&manifest, deployment("nginx:3")).unwrap();
    let out = kubectl.ok(&["apply", "-f", file]).await;
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert_eq!(template(&store)["image"], "nginx:3");
    kubectl
        .ok(&["scale", "deployment/web", "-n", "shop", "--replicas=3"])
        .await;
    let replicas = &store.get(Resource::Deployment, "shop", "web").unwrap()["spec"]["replicas"];
    assert_eq!(replicas, 3);

    // kubectl waits for a deleted pod to go: the kubelet's part is played here.
    let kubelet = {
        let store = store.clone();
        tokio::spawn(async move {
            eventually(COMMAND_LIMIT, "web-1 terminating", || {
                store
                    .get(Resource::Pod, "shop", "web-1")
                    .is_some_and(|p| p["metadata"]["deletionTimestamp"].is_string())
            })
            .await;
            store.delete(Resource::Pod, "shop", "web-1").unwrap();
        })
    };
    let out = kubectl
        .ok(&["delete", "pod", "-n", "shop", "web-1", "--timeout=25s"])
        .await;
    assert!(out.contains("pod \"web-1\" deleted"), "{out}");
    kubelet.await.unwrap();
    assert!(store.get(Resource::Pod, "shop", "web-1").is_none());

    // S7: the node proxy works until the tunnel to the node breaks.
    let out = kubectl
        .ok(&["get", "--raw", "/api/v1/nodes/n1/proxy/healthz"])
        .await;
    assert_eq!(out.trim(), "ok");
    running.server.set_node_tunnel("n1", false);
    let (ok, _, err) = kubectl
        .run(&["get", "--raw", "/api/v1/nodes/n1/proxy/healthz"])
        .await;
    assert!(!ok && err.contains("No agent available"), "{err}");
}
