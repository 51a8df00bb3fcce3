//! One pod's life on its node, from network setup to the removal of its object.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::readiness::{Counter, ReadinessProbe};
use super::{Context, status};
use crate::api::Resource;
use crate::apps::{AppPort, AppServer, AppSpec, Listener};
use crate::backend::Backend;
use crate::kubelet::nginx::Nginx;
use crate::truth::Happening;

/// How often a pod without a readiness probe... is never probed; this bounds how long the
/// kubelet sleeps between looks at a pod whose probe period is long.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// Runs the pod until its object is gone; `updates` carries each new state of the object
/// (`Null` once deleted).
pub async fn run(
    ctx: Arc<Context>,
    key: String,
    mut updates: watch::Receiver<Arc<Value>>,
    cancel: CancellationToken,
) {
    let object = format!("Pod/{key}");
    ctx.truth.record(
        Happening::PodScheduled,
        &object,
        format!("node {}", ctx.node.name),
    );
    let network = ctx.network.clone();
    let (node, pod_name) = (ctx.node.name.clone(), key.clone());
    let attached = tokio::task::spawn_blocking(move || network.attach(&node, &pod_name)).await;
    let (netns, ip) = match attached {
        Ok(Ok(attached)) => attached,
        Ok(Err(e)) => {
            tracing::error!(pod = %key, error = %e, "pod network setup failed");
            return;
        }
        Err(e) => {
            tracing::error!(pod = %key, error = %e, "pod network setup panicked");
            return;
        }
    };
    let host_ip = ctx.node.ip.to_string();
    write(&ctx, &key, |p| {
        status::set_starting(p, &host_ip, &ip.to_string())
    });

    let pod = updates.borrow().clone();
    let (namespace, labels) = identity(&pod);
    let app = ctx.apps.for_pod(&namespace, &labels);
    let startup = app
        .as_ref()
        .map_or(crate::apps::DEFAULT_STARTUP, |a| a.startup);
    let mut life = Life::Running;
    tokio::select! {
        () = sleep(startup) => {}
        () = cancel.cancelled() => life = Life::Killed,
        state = wait_terminating(&mut updates) => life = state,
    }
    let mut backends = Vec::new();
    if life == Life::Running {
        backends = start_app(&netns, ip, app.as_deref(), &pod);
        let ports: Vec<String> = backends.iter().map(|(p, _)| p.to_string()).collect();
        ctx.truth.record(
            Happening::Answering,
            &object,
            format!("{ip} ports {}", ports.join(",")),
        );
        ctx.apps
            .register(&key, &namespace, &labels, backends.clone());
        write(&ctx, &key, status::set_running);
    }

    let probe = status::readiness_probe(&pod)
        .map(|spec| ReadinessProbe::from_spec(&spec, &pod, IpAddr::V4(ip), ctx.node.k8s_minor));
    let mut ready = Readiness::new(probe.transpose().unwrap_or_else(|e| {
        tracing::warn!(pod = %key, error = %e, "readiness probe not run; the pod counts as ready");
        None
    }));
    if life == Life::Running {
        life = tokio::select! {
            () = ready.run(&ctx, &key, &object) => Life::Killed,
            () = cancel.cancelled() => Life::Killed,
            state = wait_terminating(&mut updates) => state,
        };
    }
    if life == Life::Terminating {
        terminate(
            &ctx, &key, &object, &updates, &mut ready, &backends, &cancel,
        )
        .await;
    }
    ctx.apps.unregister(&key);
    drop(backends);
    ctx.truth.record(Happening::Stopped, &object, "");
    let network = ctx.network.clone();
    let pod_name = key.clone();
    let _ = tokio::task::spawn_blocking(move || network.detach(&pod_name)).await;
    drop(netns);
    let (ns, name) = key.split_once('/').unwrap_or(("default", &key));
    if ctx.store.delete(Resource::Pod, ns, name).is_ok() {
        ctx.truth.record(Happening::PodDeleted, &object, "");
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Running,
    Terminating,
    /// Deleted without grace, or the kubelet stopped.
    Killed,
}

/// Resolves when the pod is marked for deletion (or gone).
async fn wait_terminating(updates: &mut watch::Receiver<Arc<Value>>) -> Life {
    loop {
        {
            let pod = updates.borrow_and_update();
            if pod.is_null() {
                return Life::Killed;
            }
            if !pod["metadata"]["deletionTimestamp"].is_null() {
                return Life::Terminating;
            }
        }
        if updates.changed().await.is_err() {
            return Life::Killed;
        }
    }
}

/// Terminating → preStop → SIGTERM → stop accepting / exit / killed at the end of the grace
/// period. Readiness keeps being probed meanwhile, as the kubelet does.
async fn terminate(
    ctx: &Context,
    key: &str,
    object: &str,
    updates: &watch::Receiver<Arc<Value>>,
    ready: &mut Readiness,
    backends: &[(u16, Arc<Listener>)],
    cancel: &CancellationToken,
) {
    let pod = updates.borrow().clone();
    let grace = Duration::from_secs(
        pod["metadata"]["deletionGracePeriodSeconds"]
            .as_u64()
            .unwrap_or(30),
    );
    let deadline = Instant::now() + grace;
    ctx.truth.record(
        Happening::PodTerminating,
        object,
        format!("grace period {}s", grace.as_secs()),
    );
    let (namespace, labels) = identity(&pod);
    let sigterm = ctx
        .apps
        .for_pod(&namespace, &labels)
        .map(|a| a.sigterm.clone())
        .unwrap_or_default();
    let pre_stop = status::pre_stop(&pod);
    let steps = async {
        if !pre_stop.is_zero() {
            sleep_until(deadline.min(Instant::now() + pre_stop)).await;
            ctx.truth.record(
                Happening::PreStopDone,
                object,
                format!("{}s", pre_stop.as_secs_f64()),
            );
        }
        ctx.truth.record(Happening::Sigterm, object, "");
        let now = Instant::now();
        let (stop_at, exit_at) = (now + sigterm.stop_accepting_after, now + sigterm.exit_after);
        if stop_at < exit_at && stop_at < deadline {
            sleep_until(stop_at).await;
            for (_, b) in backends {
                b.stop_accepting();
            }
            ctx.truth.record(Happening::StoppedAccepting, object, "");
        }
        sleep_until(exit_at.min(deadline)).await;
        let how = if exit_at <= deadline {
            "exited"
        } else {
            "killed at the end of the grace period"
        };
        tracing::debug!(pod = %key, how, "application stopped");
    };
    tokio::select! {
        () = steps => {}
        () = ready.run(ctx, key, object) => {}
        () = cancel.cancelled() => {}
        () = gone(updates.clone()) => {}
    }
}

/// Resolves when the pod object is deleted (a forced deletion ends the grace period).
async fn gone(mut updates: watch::Receiver<Arc<Value>>) {
    while !updates.borrow_and_update().is_null() {
        if updates.changed().await.is_err() {
            return;
        }
    }
}

/// The pod's readiness: probed, or Ready as soon as it runs when it has no probe.
struct Readiness {
    probe: Option<ReadinessProbe>,
    counter: Counter,
    started: bool,
}

impl Readiness {
    fn new(probe: Option<ReadinessProbe>) -> Readiness {
        Readiness {
            probe,
            counter: Counter::new(),
            started: false,
        }
    }

    /// Probes forever, writing each change of state; never returns.
    async fn run(&mut self, ctx: &Context, key: &str, object: &str) {
        let Some(probe) = self.probe.clone() else {
            if !self.counter.ready {
                self.counter.ready = true;
                set_ready(ctx, key, object, true);
            }
            std::future::pending::<()>().await;
            return;
        };
        if !self.started {
            self.started = true;
            sleep(probe.initial_delay).await;
        }
        loop {
            let next = Instant::now() + probe.period.min(MAX_WAIT);
            let success = probe.run(&ctx.tls).await;
            if let Some(now_ready) = self.counter.observe(success, &probe) {
                set_ready(ctx, key, object, now_ready);
            }
            sleep_until(next).await;
        }
    }
}

fn set_ready(ctx: &Context, key: &str, object: &str, ready: bool) {
    write(ctx, key, |p| status::set_ready(p, ready));
    let what = if ready {
        Happening::PodReady
    } else {
        Happening::PodNotReady
    };
    ctx.truth.record(what, object, "");
}

/// Changes the pod's object in the store (a pod deleted meanwhile is left alone).
fn write(ctx: &Context, key: &str, f: impl FnOnce(&mut Value)) {
    let (ns, name) = key.split_once('/').unwrap_or(("default", key));
    let _ = ctx.store.modify(Resource::Pod, ns, name, f);
}

fn identity(pod: &Value) -> (String, BTreeMap<String, String>) {
    let namespace = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    let labels = pod["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    (namespace, labels)
}

/// Starts the application's listeners inside the pod's namespace: the app spec's ports, or
/// plain HTTP on each declared container port.
fn start_app(
    netns: &probesim_agent::netns::NetNs,
    ip: Ipv4Addr,
    app: Option<&AppSpec>,
    pod: &Value,
) -> Vec<(u16, Arc<Listener>)> {
    let ports: Vec<AppPort> = match app {
        Some(app) if !app.ports.is_empty() => app.ports.clone(),
        _ => status::container_ports(pod)
            .into_iter()
            .map(AppPort::plain)
            .collect(),
    };
    let mut backends = Vec::new();
    for port in ports.iter().filter(|p| p.listening) {
        let addr = SocketAddr::new(IpAddr::V4(ip), port.port);
        let started = match port.server {
            AppServer::Nginx => Nginx::start(netns.name(), addr, port).map(Listener::Nginx),
            AppServer::Builtin => crate::cluster::bind_in(netns, addr).and_then(|listener| {
                let protocol = port.protocol().map_err(|e| e.to_string())?;
                Backend::serve(listener, protocol, port.behavior())
                    .map(Listener::Builtin)
                    .map_err(|e| e.to_string())
            }),
        };
        match started {
            Ok(backend) => backends.push((port.port, Arc::new(backend))),
            Err(e) => tracing::error!(%addr, error = %e, "application port not started"),
        }
    }
    backends
}
