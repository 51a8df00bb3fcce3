//! The engine and the LB view together, against backends in a network namespace: the clouds'
//! rules observed on real traffic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use probesim_agent::engine::{Engine, EngineConfig, ProbeRecord, TargetSpec};
use probesim_agent::lb::health::{EmulationSettings, LbState, Transition};
use probesim_agent::lb::manual::{self, ManualProbe};
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{CloseMode, LbKind, ProbeProtocol, ProbeSpec};
use probesim_agent::netns::NetNs;
use probesim_agent::probe::ProbeRequest;
use probesim_agent::view::LbView;
use probesim_lab::backend::{Answer, Backend, Behavior, Protocol};
use probesim_lab::sandbox;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A black-hole address put on the namespace's loopback: a live backend until taken off.
const BACKEND_IP: &str = "10.77.0.5";

/// One test at a time: one of them counts the process's file descriptors, which the others'
/// sockets and runtimes would change under it.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run_in_netns<F, Fut>(test: &str, f: F)
where
    F: FnOnce(Arc<NetNs>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    sandbox::run("e", test, move |ns| {
        ns.exec("ip", &["addr", "add", "10.77.0.5/32", "dev", "lo"])
            .expect("backend address");
        f(ns)
    });
}

/// Takes the backend address off loopback: its packets now leave into the black hole.
fn black_hole(ns: &NetNs) {
    ns.exec("ip", &["addr", "del", "10.77.0.5/32", "dev", "lo"])
        .expect("black hole");
}

struct Run {
    view: LbView,
    engine: Engine,
    rx: mpsc::Receiver<ProbeRecord>,
}

impl Run {
    fn start(spec: ProbeSpec, addr: SocketAddr, rate: f64) -> Run {
        let (tx, rx) = mpsc::channel(65_536);
        let engine = Engine::start(EngineConfig::default(), tx);
        let mut view = LbView::new(EmulationSettings::default());
        let spec = Arc::new(spec);
        view.add(1, spec.clone());
        engine.upsert(
            1,
            TargetSpec {
                request: ProbeRequest::for_spec(&spec, addr),
                interval: Duration::from_secs(u64::from(spec.interval_s)),
                rate_per_s: rate,
            },
        );
        Run { view, engine, rx }
    }

    /// Feeds results to the view for `d`; returns the transitions with their prober.
    async fn run_for(&mut self, d: Duration) -> Vec<(u32, Transition)> {
        let deadline = Instant::now() + d;
        let mut transitions = Vec::new();
        while let Ok(Some(record)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if let Some(t) = self.view.observe(&record).and_then(|j| j.transition) {
                transitions.push((record.prober, t));
            }
        }
        transitions
    }
}

fn hand_made(
    lb: LbKind,
    protocol: ProbeProtocol,
    port: u16,
    interval_s: u32,
    path: &str,
) -> ProbeSpec {
    manual::spec(
        lb,
        &ManualProbe {
            protocol: Some(protocol),
            port,
            path: Some(path.to_owned()),
            interval_s: Some(interval_s),
            ..ManualProbe::default()
        },
    )
    .expect("spec")
}

#[test]
fn azure_http_marks_every_prober_down_at_its_first_404_without_waiting_for_the_threshold() {
    run_in_netns("az-404", |_ns| async move {
        let ok = Behavior::default().fallback(Answer::status(200));
        let backend = Backend::start(
            format!("{BACKEND_IP}:0").parse().expect("addr"),
            Protocol::Http,
            ok,
        )
        .await
        .expect("backend");
        let spec = hand_made(
            LbKind::AzureLb,
            ProbeProtocol::Http,
            backend.addr().port(),
            1,
            "/",
        );
        let mut run = Run::start(spec, backend.addr(), 4.0);
        let ups = run.run_for(Duration::from_millis(1_300)).await;
        assert_eq!(
            ups.len(),
            4,
            "each of 4 probers goes up at its first 200: {ups:?}"
        );
        assert!(
            ups.iter()
                .all(|(_, t)| (t.from, t.to) == (LbState::Down, LbState::Up))
        );

        let flip = run.view.at(Instant::now());
        backend.set(Behavior::default());
        let downs = run.run_for(Duration::from_millis(1_300)).await;
        assert_eq!(downs.len(), 4, "{downs:?}");
        for (prober, t) in &downs {
            assert_eq!(
                (t.from, t.to),
                (LbState::Up, LbState::Down),
                "prober {prober}"
            );
            assert_eq!(t.reason, Some(Reason::HttpStatus(404)));
            let after = t.at - flip;
            assert!(
                after < Duration::from_millis(1_100),
                "prober {prober} went down {after:?} after the flip"
            );
        }
        let summary = run.view.summary(1).expect("summary");
        assert_eq!(summary.unanimous(), Some(LbState::Down));
        run.engine.shutdown().await;
    });
}

#[test]
fn azure_tcp_marks_a_black_holed_backend_down_after_threshold_timeouts() {
    run_in_netns("az-hole", |ns| async move {
        let backend = Backend::start(
            format!("{BACKEND_IP}:0").parse().expect("addr"),
            Protocol::Http,
            Behavior::default(),
        )
        .await
        .expect("backend");
        // Interval 1 s, threshold 2, TCP timeout = interval: down 2 s after the first lost probe.
        let spec = hand_made(
            LbKind::AzureLb,
            ProbeProtocol::Tcp,
            backend.addr().port(),
            1,
            "/",
        );
        assert_eq!((spec.timeout_s, spec.unhealthy_threshold), (1, 2));
        let mut run = Run::start(spec, backend.addr(), 4.0);
        let ups = run.run_for(Duration::from_millis(1_200)).await;
        assert_eq!(ups.len(), 4, "{ups:?}");

        let flip = run.view.at(Instant::now());
        black_hole(&ns);
        let downs = run.run_for(Duration::from_millis(3_500)).await;
        assert_eq!(downs.len(), 4, "{downs:?}");
        for (prober, t) in &downs {
            assert_eq!(t.to, LbState::Down);
            assert_eq!(t.reason, Some(Reason::ProbeTimeout));
            let after = t.at - flip;
            assert!(
                after >= Duration::from_millis(1_990) && after < Duration::from_millis(3_050),
                "prober {prober} went down {after:?} after the black hole; expected 2 to 3 intervals"
            );
        }
        drop(backend);
        run.engine.shutdown().await;
    });
}

#[test]
fn alb_targets_are_healthy_after_one_pass_and_unhealthy_after_the_threshold_with_the_aws_reason() {
    run_in_netns("alb", |_ns| async move {
        let ok = Behavior::default().route("/healthz/ready", Answer::status(200));
        let backend = Backend::start(
            format!("{BACKEND_IP}:0").parse().expect("addr"),
            Protocol::Http,
            ok,
        )
        .await
        .expect("backend");
        let spec = hand_made(
            LbKind::Alb,
            ProbeProtocol::Http,
            backend.addr().port(),
            1,
            "/healthz/ready",
        );
        let mut run = Run::start(spec, backend.addr(), 2.0);
        let first = run.run_for(Duration::from_millis(1_200)).await;
        let healthy: Vec<_> = first
            .iter()
            .filter(|(_, t)| t.to == LbState::Healthy)
            .collect();
        assert_eq!(healthy.len(), 2, "one pass leaves initial: {first:?}");

        let flip = run.view.at(Instant::now());
        backend.set(Behavior::default().route("/healthz/ready", Answer::status(503)));
        let later = run.run_for(Duration::from_millis(2_400)).await;
        let unhealthy: Vec<_> = later
            .iter()
            .filter(|(_, t)| t.to == LbState::Unhealthy)
            .collect();
        assert_eq!(unhealthy.len(), 2, "{later:?}");
        for (_, t) in unhealthy {
            assert_eq!(t.reason, Some(Reason::TargetResponseCodeMismatch(503)));
            let after = t.at - flip;
            assert!(
                after >= Duration::from_millis(900) && after < Duration::from_millis(2_100),
                "{after:?}"
            );
        }
        run.engine.shutdown().await;
    });
}

#[test]
fn a_hundred_thousand_probes_leave_no_file_descriptor_behind() {
    run_in_netns("fds", |_ns| async move {
        let backend = Backend::start(
            format!("{BACKEND_IP}:0").parse().expect("addr"),
            Protocol::Http,
            Behavior::default(),
        )
        .await
        .expect("backend");
        let port = backend.addr().port();
        let count_fds = || {
            std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count())
                .unwrap_or(0)
        };
        let mut spec = hand_made(
            LbKind::Nlb,
            ProbeProtocol::Tcp,
            backend.addr().port(),
            1,
            "/",
        );
        spec.wire.close = CloseMode::Rst;
        // Counted with the backend already listening: what is left afterwards is the prober's.
        let before = count_fds() - 1;
        let (tx, mut rx) = mpsc::channel(65_536);
        let engine = Engine::start(EngineConfig::default(), tx);
        for id in 0..20 {
            engine.upsert(
                id,
                TargetSpec {
                    request: ProbeRequest::for_spec(&spec, backend.addr()),
                    interval: Duration::from_secs(1),
                    rate_per_s: 2_000.0,
                },
            );
        }
        let mut received = 0u64;
        let deadline = Instant::now() + Duration::from_secs(90);
        while received < 100_000 && Instant::now() < deadline {
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                received += 1;
            }
        }
        engine.shutdown().await;
        // The backend lives in this process too: stop it so only the prober's descriptors count.
        drop(backend);
        // Closing thousands of aborted server connections takes the runtime a moment.
        let settle = Instant::now() + Duration::from_secs(5);
        while count_fds() > before + 2 && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stats_note = format!("{received} probes");
        assert!(received >= 100_000, "{stats_note} within 90 s");
        let after = count_fds();
        if after > before + 2 {
            let out = std::process::Command::new("ss")
                .args(["-tanp"])
                .output()
                .expect("ss");
            let text = String::from_utf8_lossy(&out.stdout);
            let mut states = std::collections::BTreeMap::<String, usize>::new();
            for line in text.lines().skip(1) {
                let mut cols = line.split_whitespace();
                let state = cols.next().unwrap_or("").to_owned();
                let local = cols.nth(2).unwrap_or("").to_owned();
                let server = local.ends_with(&format!(":{}", port));
                *states
                    .entry(format!("{state} server={server}"))
                    .or_default() += 1;
            }
            eprintln!("sockets: {states:?}");
        }
        assert!(
            after <= before + 2,
            "{before} fds before, {after} after {stats_note}"
        );
    });
}
