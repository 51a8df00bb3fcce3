//! How the applications in the lab's pods behave: which ports they serve, what each path answers,
//! and what they do on SIGTERM. Scenarios write these per set of pods (by label); pods that no
//! spec matches serve plain HTTP `200` on every declared container port.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;

use crate::backend::{self, Answer, Backend, Behavior, ConnBehavior};
use crate::scenario::duration;

/// What the matching pods run.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppSpec {
    /// Pod labels that select the pods (all must match).
    pub selector: BTreeMap<String, String>,
    /// The namespace of the pods; any when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The served ports; the pods' container ports with the default answers when empty.
    #[serde(default)]
    pub ports: Vec<AppPort>,
    #[serde(default)]
    pub sigterm: SigtermSpec,
    /// From the container's start to its listening sockets.
    #[serde(default = "default_startup", with = "duration")]
    pub startup: Duration,
}

/// How long an application takes to listen after its container started, unless the scenario
/// says: a small web server's start.
pub const DEFAULT_STARTUP: Duration = Duration::from_millis(500);

fn default_startup() -> Duration {
    DEFAULT_STARTUP
}

/// One listening port of the application.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppPort {
    pub port: u16,
    #[serde(default)]
    pub protocol: AppProtocol,
    /// Answers by path.
    #[serde(default)]
    pub routes: BTreeMap<String, AnswerSpec>,
    /// The answer for other paths (200 unless set).
    #[serde(default)]
    pub default: Option<AnswerSpec>,
    /// What happens to a new connection (`serve`, `reset`, `close`, `hold`, `garbage`).
    #[serde(default)]
    pub connection: ConnSpec,
    /// `false`: the port is closed (connections are refused).
    #[serde(default = "yes")]
    pub listening: bool,
    /// Which server answers: the lab's own (`builtin`) or Debian's nginx (`nginx`: plain HTTP,
    /// no delays or connection misbehaviour).
    #[serde(default)]
    pub server: AppServer,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AppServer {
    #[default]
    Builtin,
    Nginx,
}

/// A port an application listens on, served by the lab's backend or by nginx.
#[derive(Debug)]
pub enum Listener {
    Builtin(Backend),
    Nginx(crate::kubelet::nginx::Nginx),
}

impl Listener {
    /// Answers as `port` says from now on.
    pub fn set(&self, port: &AppPort) {
        match self {
            Listener::Builtin(b) => b.set(port.behavior()),
            Listener::Nginx(n) => n.set(port),
        }
    }

    /// Closes the listening socket; open connections are still answered.
    pub fn stop_accepting(&self) {
        match self {
            Listener::Builtin(b) => b.stop_accepting(),
            Listener::Nginx(n) => n.stop_accepting(),
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    #[default]
    Http,
    Https,
    /// gRPC over cleartext HTTP/2, answering every method with the route's gRPC status.
    Grpc,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ConnSpec {
    #[default]
    Serve,
    Reset,
    Close,
    Hold,
    Garbage,
}

/// `404`, or `{status: 200, delay: 2s, body: ok}`, or `{grpcStatus: 12}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum AnswerSpec {
    Status(u16),
    Full {
        #[serde(default = "ok")]
        status: u16,
        #[serde(default, rename = "grpcStatus")]
        grpc_status: Option<u32>,
        #[serde(default, with = "duration::optional")]
        delay: Option<Duration>,
        #[serde(default)]
        body: String,
    },
}

fn ok() -> u16 {
    200
}

/// What the application does when the kubelet sends SIGTERM (after preStop).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SigtermSpec {
    /// After SIGTERM, it closes its listening sockets after this long (new connections are
    /// refused from then on; open ones are still answered).
    #[serde(default, with = "duration")]
    pub stop_accepting_after: Duration,
    /// After SIGTERM, it exits after this long (unless the grace period ends first).
    #[serde(default, with = "duration")]
    pub exit_after: Duration,
}

impl Default for SigtermSpec {
    fn default() -> Self {
        SigtermSpec {
            stop_accepting_after: Duration::ZERO,
            exit_after: Duration::ZERO,
        }
    }
}

impl AnswerSpec {
    pub fn answer(&self) -> Answer {
        match self {
            AnswerSpec::Status(status) => Answer::status(*status),
            AnswerSpec::Full {
                status,
                grpc_status,
                delay,
                body,
            } => {
                let mut answer = match grpc_status {
                    Some(code) => Answer::grpc(*code),
                    None => Answer::status(*status),
                };
                answer.status = *status;
                answer.with_body(body).after(delay.unwrap_or_default())
            }
        }
    }
}

impl AppPort {
    /// A port that answers 200 on every path.
    pub fn plain(port: u16) -> AppPort {
        AppPort {
            port,
            protocol: AppProtocol::Http,
            routes: BTreeMap::new(),
            default: None,
            connection: ConnSpec::Serve,
            listening: true,
            server: AppServer::Builtin,
        }
    }

    pub fn behavior(&self) -> Behavior {
        let fallback = self
            .default
            .as_ref()
            .map_or_else(|| Answer::status(200), AnswerSpec::answer);
        let fallback = match self.protocol {
            AppProtocol::Grpc if fallback.grpc_status.is_none() => Answer::grpc(0),
            _ => fallback,
        };
        let mut behavior = Behavior::default()
            .fallback(fallback)
            .conn(match self.connection {
                ConnSpec::Serve => ConnBehavior::Serve,
                ConnSpec::Reset => ConnBehavior::Reset,
                ConnSpec::Close => ConnBehavior::Close,
                ConnSpec::Hold => ConnBehavior::Hold,
                ConnSpec::Garbage => ConnBehavior::Garbage,
            });
        for (path, answer) in &self.routes {
            behavior = behavior.route(path, answer.answer());
        }
        behavior
    }

    pub fn protocol(&self) -> Result<backend::Protocol, backend::tls::TlsError> {
        use backend::tls::{ServerTls, ServerVersions};
        Ok(match self.protocol {
            AppProtocol::Http => backend::Protocol::Http,
            AppProtocol::Https => {
                backend::Protocol::Https(ServerTls::self_signed(ServerVersions::Both, false)?)
            }
            AppProtocol::Grpc => backend::Protocol::Grpc(None),
        })
    }
}

impl AppSpec {
    pub fn matches(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && self.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// The scenario's application specs (later ones, changed by actions, win) and the running
/// applications they apply to.
#[derive(Debug, Default)]
pub struct Apps {
    specs: Mutex<Vec<Arc<AppSpec>>>,
    running: Mutex<HashMap<String, Running>>,
}

/// A pod's running application: its listening ports.
#[derive(Debug)]
struct Running {
    namespace: String,
    labels: BTreeMap<String, String>,
    ports: Vec<(u16, Arc<Listener>)>,
}

impl Apps {
    pub fn new(specs: Vec<AppSpec>) -> Apps {
        Apps {
            specs: Mutex::new(specs.into_iter().map(Arc::new).collect()),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the spec with the same selector and namespace, or adds it, and changes the
    /// running applications it matches: each port's answers, and ports that stop listening.
    /// Returns the pods changed.
    pub fn set(&self, spec: AppSpec) -> Vec<String> {
        let mut changed = Vec::new();
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for (pod, app) in running.iter() {
            if !spec.matches(&app.namespace, &app.labels) {
                continue;
            }
            for (port, backend) in &app.ports {
                match spec.ports.iter().find(|p| p.port == *port) {
                    Some(p) if !p.listening => backend.stop_accepting(),
                    Some(p) => backend.set(p),
                    None => {}
                }
            }
            changed.push(pod.clone());
        }
        drop(running);
        let mut specs = self.specs.lock().unwrap_or_else(PoisonError::into_inner);
        specs.retain(|s| s.selector != spec.selector || s.namespace != spec.namespace);
        specs.push(Arc::new(spec));
        changed
    }

    /// Records a pod's running application, so later specs change it.
    pub fn register(
        &self,
        pod: &str,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        ports: Vec<(u16, Arc<Listener>)>,
    ) {
        let app = Running {
            namespace: namespace.to_owned(),
            labels: labels.clone(),
            ports,
        };
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pod.to_owned(), app);
    }

    pub fn unregister(&self, pod: &str) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(pod);
    }

    /// The spec of a pod: the last that matches.
    pub fn for_pod(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<Arc<AppSpec>> {
        let specs = self.specs.lock().unwrap_or_else(PoisonError::into_inner);
        specs
            .iter()
            .rev()
            .find(|s| s.matches(namespace, labels))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_specs_become_backend_behaviours() {
        let spec: AppSpec = serde_yaml_ng::from_str(
            r#"
selector: {app: nginx}
ports:
  - port: 80
    routes: {"/": 404, "/healthz": {status: 200, body: ok, delay: 100ms}}
  - port: 25021
    protocol: grpc
    routes: {"/grpc.health.v1.Health/Check": {grpcStatus: 12}}
sigterm: {stopAcceptingAfter: 5s, exitAfter: 20s}
"#,
        )
        .expect("valid");
        let web = spec.ports[0].behavior();
        assert_eq!(web.answer("/").status, 404);
        assert_eq!(web.answer("/healthz").delay, Duration::from_millis(100));
        assert_eq!(web.answer("/other").status, 200);
        let grpc = spec.ports[1].behavior();
        assert_eq!(
            grpc.answer("/grpc.health.v1.Health/Check").grpc_status,
            Some(12)
        );
        assert_eq!(grpc.answer("/x").grpc_status, Some(0));
        assert_eq!(spec.sigterm.exit_after, Duration::from_secs(20));
        assert_eq!(spec.startup, DEFAULT_STARTUP);
        let labels = BTreeMap::from([("app".to_owned(), "nginx".to_owned())]);
        assert!(spec.matches("ingress", &labels));
        assert!(!spec.matches("ingress", &BTreeMap::new()));
    }

    #[test]
    fn an_unknown_field_is_named() {
        let err = serde_yaml_ng::from_str::<AppSpec>("selector: {}\nport: 80\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `port`"), "{err}");
    }
}
