//! The collector's web UI in headless Chromium, against the lab's collector (the agents of every
//! node stream to it over gRPC) while lab scenarios play:
//! S1 (what-if 1.24 fails while 1.23 passes; a node cordoned while the page is open) for the
//! overview and the timeline, S4 (an ALB rollout) for the rollout view. Checks what the pages
//! show and saves screenshots under target/test-artefacts/ui/. A third test draws thousands of
//! made-up backends and measures how long the pages take.

#[path = "ui_browser/checks.rs"]
mod checks;
#[path = "agent/cluster.rs"]
mod cluster;
#[path = "ui_browser/many.rs"]
mod many;
#[path = "ui_browser/synthetic.rs"]
mod synthetic;
#[path = "ui_browser/webdriver.rs"]
mod webdriver;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use checks::{check_s1, check_s4, screenshot, shown};
use cluster::{cluster_of, pods_ready, scenario};
use probesim_lab::agents::{AgentOptions, Agents};
use probesim_lab::cluster::Cluster;
use probesim_lab::collector::LabCollector;
use probesim_lab::net::can_run_network_test;
use probesim_lab::scenario::probesim::Probesim;
use probesim_lab::scenario::run::play;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use webdriver::Browser;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long the pods of a scenario may take to get Ready.
const PODS_READY_WITHIN: Duration = Duration::from_secs(40);

/// Whether the test can run: a lab network and a browser; says why not (fails under CI=true).
fn can_run(test: &str) -> bool {
    can_run_network_test(test)
        && probesim_agent::netns::test_may_run(test, webdriver::check_browser())
}

#[test]
fn ui_shows_s1_services_backend_states_the_1_24_what_if_failure_and_a_node_cordon() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !can_run("ui s1") {
        return;
    }
    let s1 = cluster_of("s1", "1.23");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let cluster = Cluster::up(&s1).await.expect("cluster up");
        pods_ready(cluster.store(), "ingress-basic", 2, PODS_READY_WITHIN).await;
        let collector = LabCollector::start(&cluster, None)
            .await
            .expect("collector");
        let options = AgentOptions {
            what_if: vec!["1.24".to_owned()],
            collector: Some(collector.grpc_url()),
            ..AgentOptions::default()
        };
        let agents = Agents::start(&cluster, &options).expect("agents");
        let nodes = cluster.node_names();
        let browser = Browser::start().await.expect("browser");
        check_s1(&browser, &ui(&collector), &cluster, &nodes).await;
        browser.quit().await;
        agents.stop().await;
        collector.stop().await.expect("collector stops");
        cluster.down().await;
    });
}

/// The UI's address: `ui("/#/overview")`.
fn ui(collector: &LabCollector) -> impl Fn(&str) -> String + use<> {
    let addr = collector
        .http_addr()
        .expect("the collector's HTTP listener");
    move |path| format!("http://{addr}{path}")
}

#[test]
fn ui_rollout_view_shows_s4_drain_exposure_per_pod_with_the_prestop_verdict() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !can_run("ui s4") {
        return;
    }
    let s4 = scenario("s4");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let cluster = Arc::new(Cluster::up(&s4).await.expect("cluster up"));
        let probesim = Probesim::start(&s4, &cluster, None)
            .await
            .expect("probesim's agents and collector");
        let store = Some(probesim.collector.store().clone());
        let report = play(&s4, cluster.clone(), store, CancellationToken::new()).await;
        assert!(report.passed(), "S4 played as written");
        let browser = Browser::start().await.expect("browser");
        check_s4(&browser, &ui(&probesim.collector)).await;
        browser.quit().await;
        let (collector, _) = probesim.finish().await.expect("probesim's report");
        collector.stop().await.expect("collector stops");
        if let Ok(cluster) = Arc::try_unwrap(cluster) {
            cluster.down().await;
        }
    });
}

#[test]
fn ui_draws_thousands_of_backends_quickly_and_keeps_only_visible_lanes_in_the_page() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !probesim_agent::netns::test_may_run("ui scale", webdriver::check_browser()) {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let collector = synthetic::Collector::filled(|store| many::fill(store, Duration::from_secs(600)))
            .await
            .expect("collector");
        let browser = Browser::start().await.expect("browser");
        let total = many::total();

        let started = Instant::now();
        browser.goto(&collector.url("/#/overview")).await.expect("overview");
        let shown_count = shown(
            &browser,
            "every Service's card",
            &format!(
                "return document.querySelectorAll('article.card').length === {} &&
                   document.querySelector('.strip').innerText.includes('{total} backends');",
                many::SERVICES
            ),
        )
        .await;
        let overview = started.elapsed();
        assert_eq!(shown_count, json!(true));
        let grids = browser
            .eval("return document.querySelectorAll('canvas.grid').length")
            .await
            .expect("grids");
        assert_eq!(grids, json!(many::SERVICES), "{} members per Service: cells", many::PER_SERVICE);
        screenshot(&browser, "scale-overview.png").await;

        let started = Instant::now();
        browser.goto(&collector.url("/#/timeline")).await.expect("timeline");
        shown(
            &browser,
            "the lanes of every backend",
            &format!(
                "const s = document.querySelector('.toolbar .muted');
                 return s && s.innerText.startsWith('{total} backends') && document.querySelector('.lane-label');"
            ),
        )
        .await;
        let timeline = started.elapsed();
        // The API's share of it: the lanes of every backend over the hour.
        let api = browser
            .eval(
                "const t = performance.now(); const x = new XMLHttpRequest();
                 x.open('GET', '/api/v1/lanes', false); x.send();
                 return [Math.round(performance.now() - t), x.responseText.length];",
            )
            .await
            .expect("lanes");
        let in_page = browser
            .eval("return document.querySelectorAll('.lane-label').length")
            .await
            .expect("labels");
        let in_page = in_page.as_u64().unwrap_or(u64::MAX);
        assert!(in_page < 100, "only visible lanes are in the page: {in_page} of {total}");
        // Scrolling to the end draws the last lanes.
        let started = Instant::now();
        let last = browser
            .eval(
                "const s = document.querySelector('.scroller'); s.scrollTop = s.scrollHeight;
                 s.dispatchEvent(new Event('scroll'));
                 const l = [...document.querySelectorAll('.lane-label')].map(x => x.dataset.pod);
                 return l[l.length - 1];",
            )
            .await
            .expect("scroll");
        let scrolled = started.elapsed();
        assert_eq!(last, json!(format!("default/web-{:02}-{:05}", many::SERVICES - 1, total - 1)));
        screenshot(&browser, "scale-timeline.png").await;
        println!(
            "{total} backends: overview shown in {overview:?}, timeline in {timeline:?} \
             (GET /api/v1/lanes: {} ms, {} bytes), scroll to the end in {scrolled:?}",
            api[0], api[1]
        );
        assert!(
            overview < SCALE_BUDGET && timeline < SCALE_BUDGET,
            "slow with {total} backends: overview {overview:?}, timeline {timeline:?}"
        );
        browser.quit().await;
        collector.stop().await;
    });
}

/// How long a page may take with thousands of backends on a loaded CI machine (debug build).
const SCALE_BUDGET: Duration = Duration::from_secs(20);
