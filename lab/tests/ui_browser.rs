//! The collector's web UI in headless Chromium, against the lab's collector (the agents of every
//! node stream to it over gRPC) while lab scenarios play:
//! S1 (what-if 1.24 fails while 1.23 passes; a node cordoned while the page is open) for the
//! overview and the timeline, S4 (an ALB rollout) for the rollout view. Checks what the pages
//! show and saves screenshots under target/test-artefacts/ui/. A third test draws thousands of
//! made-up backends and measures how long the pages take.

#[path = "ui_browser/many.rs"]
mod many;
#[path = "ui_browser/synthetic.rs"]
mod synthetic;
#[path = "ui_browser/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use probesim_lab::agents::{AgentOptions, Agents};
use probesim_lab::api::Resource;
use probesim_lab::cluster::Cluster;
use probesim_lab::collector::LabCollector;
use probesim_lab::net::can_run_network_test;
use probesim_lab::scenario::run::play;
use probesim_lab::scenario::{Scenario, embedded};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use webdriver::Browser;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const S1_SERVICE: &str = "ingress-basic/ingress-nginx-controller";
const S4_SERVICE: &str = "shop/web";
/// How long the UI may take to show what the agents found (discovery, thresholds, streaming).
const SHOWN_WITHIN: Duration = Duration::from_secs(90);
/// How long the pods of a scenario may take to get Ready.
const PODS_READY_WITHIN: Duration = Duration::from_secs(40);

fn artefacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artefacts/ui")
}

async fn screenshot(browser: &Browser, name: &str) {
    let path = artefacts().join(name);
    browser.screenshot(&path).await.expect("screenshot");
    println!("screenshot: {}", path.display());
}

fn scenario(prefix: &str) -> Scenario {
    let (name, text) = embedded::SCENARIOS
        .iter()
        .find(|(n, _)| n.starts_with(prefix))
        .expect("a built-in scenario");
    Scenario::parse(text, name).expect("valid scenario")
}

/// Whether the test can run: a lab network and a browser; says why not (fails under CI=true).
fn can_run(test: &str) -> bool {
    can_run_network_test(test)
        && probesim_agent::netns::test_may_run(test, webdriver::check_browser())
}

async fn pods_ready(cluster: &Cluster, namespace: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + PODS_READY_WITHIN;
    loop {
        let ready = cluster
            .store()
            .list_typed::<Pod>(Some(namespace))
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        if ready >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{namespace}: {count} pods not ready within {PODS_READY_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `script` in the page until it returns something truthy.
async fn shown(browser: &Browser, what: &str, script: &str) -> Value {
    browser
        .wait_for(what, script, SHOWN_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn ui_shows_s1_services_backend_states_the_1_24_what_if_failure_and_a_node_cordon() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !can_run("ui s1") {
        return;
    }
    let mut s1 = scenario("s1");
    s1.kubernetes_version = "1.23".into();
    s1.actions.clear();
    s1.expect.clear();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let cluster = Cluster::up(&s1).await.expect("cluster up");
        pods_ready(&cluster, "ingress-basic", 2).await;
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

async fn check_s1(
    browser: &Browser,
    url: &impl Fn(&str) -> String,
    cluster: &Cluster,
    nodes: &[String],
) {
    browser.goto(&url("/")).await.expect("open the UI");
    let card = format!("[data-service=\"{S1_SERVICE}\"]");
    // Overview: 1.23 in rotation on every node, 1.24 out on every node, side by side.
    let verdicts = shown(
        browser,
        "the 1.23 and 1.24 verdicts of both ports",
        &format!(
            "const cols = [...document.querySelectorAll('{card} .rule[data-hop=lb] .version')];
             const ok = cols.filter(c => c.dataset.version === '1.23' && c.dataset.verdict === 'ok');
             const fail = cols.filter(c => c.dataset.version === '1.24' && c.dataset.verdict === 'fails');
             const settled = [...document.querySelectorAll('{card} .rule[data-hop=lb] .member')]
               .every(m => m.dataset.state === 'up' || m.dataset.state === 'down');
             return ok.length === 2 && fail.length === 2 && settled ? cols.map(c => c.innerText) : null;"
        ),
    )
    .await;
    let texts: Vec<String> = verdicts
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        texts
            .iter()
            .filter(|t| t.contains("1.24 would fail"))
            .count()
            == 2,
        "the what-if columns say 1.24 would fail: {texts:?}"
    );
    let members: Value = browser
        .eval(&format!(
            "return [...document.querySelectorAll('{card} .rule[data-hop=lb] .version')].map(c =>
               [c.dataset.version, [...c.querySelectorAll('.member')].map(m => [m.dataset.node, m.dataset.state])]);"
        ))
        .await
        .expect("members");
    for column in members.as_array().expect("columns") {
        let version = column[0].as_str().unwrap_or_default();
        let expected = if version == "1.23" { "up" } else { "down" };
        let list = column[1].as_array().expect("members");
        assert_eq!(list.len(), nodes.len(), "one backend per node: {column}");
        for node in nodes {
            assert!(
                list.iter()
                    .any(|m| m[0] == json!(node) && m[1] == json!(expected)),
                "{version}: {node} is {expected}: {column}"
            );
        }
    }
    let finding = shown(
        browser,
        "the report's what-if finding",
        &format!(
            "const f = document.querySelector('{card} .finding[data-kind=\"what-if-failure\"]');
             return f ? f.innerText : null;"
        ),
    )
    .await;
    assert!(
        finding.as_str().unwrap_or_default().contains("1.24"),
        "{finding}"
    );
    let agents = browser
        .eval("return [...document.querySelectorAll('.agent')].map(a => a.dataset.health)")
        .await
        .expect("agents");
    assert_eq!(agents, json!(vec!["ok"; nodes.len()]), "every agent ok");
    screenshot(browser, "s1-overview.png").await;

    // Timeline: a node cordoned while the page is open shows up as a marker on its lanes.
    browser
        .goto(&url(&format!("/#/timeline?service={S1_SERVICE}")))
        .await
        .expect("timeline");
    shown(
        browser,
        "lanes of both versions",
        "const l = [...document.querySelectorAll('.lane-label')];
         return l.some(x => x.dataset.version === '1.23' && x.dataset.state === 'up')
           && l.some(x => x.dataset.version === '1.24' && x.dataset.state === 'down');",
    )
    .await;
    let cordoned = &nodes[0];
    cluster
        .store()
        .modify(Resource::Node, "", cordoned, |n| {
            n["spec"]["unschedulable"] = json!(true);
        })
        .expect("cordon");
    let marked = shown(
        browser,
        "the cordon marker (live refresh)",
        "return [...document.querySelectorAll('.lane-label')]
           .filter(l => l.dataset.markers.split(',').includes('node-cordoned'))
           .map(l => l.dataset.node);",
    )
    .await;
    let marked: Vec<&str> = marked
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !marked.is_empty() && marked.iter().all(|n| n == cordoned),
        "only {cordoned}'s lanes: {marked:?}"
    );
    // Hover over the first lane: the tooltip names the probers' state and the probes.
    let tip = browser
        .eval(
            "const c = document.querySelector('canvas.plot');
             const label = document.querySelector('.lane-label');
             const r = c.getBoundingClientRect(), l = label.getBoundingClientRect();
             c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width - 4,
               clientY: l.top + 12, bubbles: true}));
             const tip = document.querySelector('.tip');
             return tip.hidden ? null : tip.innerText;",
        )
        .await
        .expect("hover");
    let tip = tip.as_str().unwrap_or_default();
    screenshot(browser, "s1-timeline.png").await;
    if !(tip.contains('×') && tip.contains("probes")) {
        let script = format!(
            "const x = new XMLHttpRequest(); x.open('GET', '/api/v1/lanes?service={S1_SERVICE}', false);
             x.send(); return x.responseText.slice(0, 3000);"
        );
        let lanes = browser.eval(&script).await;
        panic!("hover details: {tip:?}; lanes: {lanes:?}");
    }
    // Zoom in: the window (in the address) narrows.
    browser
        .eval("document.querySelector('.zoom button').click(); return true;")
        .await
        .expect("zoom");
    shown(
        browser,
        "the zoomed window",
        "return location.hash.includes('from=');",
    )
    .await;
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
        let collector = LabCollector::start(&cluster, None)
            .await
            .expect("collector");
        let options = AgentOptions {
            collector: Some(collector.grpc_url()),
            ..AgentOptions::default()
        };
        let agents = Agents::start(&cluster, &options).expect("agents");
        let store = Some(collector.store().clone());
        let report = play(&s4, cluster.clone(), store, CancellationToken::new()).await;
        assert!(report.passed(), "S4 played as written");
        let browser = Browser::start().await.expect("browser");
        check_s4(&browser, &ui(&collector)).await;
        browser.quit().await;
        agents.stop().await;
        collector.stop().await.expect("collector stops");
        if let Ok(cluster) = Arc::try_unwrap(cluster) {
            cluster.down().await;
        }
    });
}

async fn check_s4(browser: &Browser, url: &impl Fn(&str) -> String) {
    browser
        .goto(&url(&format!("/#/rollout?service={S4_SERVICE}")))
        .await
        .expect("rollout");
    let verdicts = shown(
        browser,
        "drain verdicts of the replaced pods",
        "const rows = [...document.querySelectorAll('.verdict-row[data-pod]')];
         return rows.length >= 3 ? rows.map(r => [r.dataset.pod, r.dataset.covered, r.innerText]) : null;",
    )
    .await;
    let rows = verdicts.as_array().expect("rows");
    // ALB: the LB keeps sending until the deregistration propagates (about 30 s), long after
    // the 8 s preStop sleep: every replaced pod is exposed, and the page says what would cover it.
    for row in rows {
        assert_eq!(row[1], json!("false"), "exposed: {row}");
        let text = row[2].as_str().unwrap_or_default();
        assert!(
            text.contains("exposed") && text.contains("preStop sleep ≥"),
            "{row}"
        );
    }
    let charted = browser
        .eval(
            "return [...document.querySelectorAll('svg g.pod')].map(g =>
               [g.dataset.pod, !!g.querySelector('.bar-exposure'), !!g.querySelector('.bar-prestop'),
                !!g.querySelector('.mark-stop'), !!g.querySelector('.mark-lb-median')]);",
        )
        .await
        .expect("chart");
    assert_eq!(
        charted.as_array().map(Vec::len),
        Some(rows.len()),
        "{charted}"
    );
    for g in charted.as_array().expect("pods") {
        let drawn = g.as_array().expect("row");
        assert!(
            drawn[1..].iter().all(|d| *d == json!(true)),
            "exposure, preStop, stop and LB marks: {g}"
        );
    }
    shown(
        browser,
        "registration bars",
        "return document.querySelectorAll('g.registration').length >= 3;",
    )
    .await;
    screenshot(browser, "s4-rollout.png").await;

    browser
        .goto(&url(&format!("/#/timeline?service={S4_SERVICE}")))
        .await
        .expect("timeline");
    let markers = shown(
        browser,
        "Ready and Terminating markers on the pods' lanes",
        "const l = [...document.querySelectorAll('.lane-label')];
         const has = k => l.filter(x => x.dataset.markers.split(',').includes(k)).length;
         return has('pod-ready') >= 3 && has('pod-terminating') >= 3 ? [has('pod-ready'), has('pod-terminating')] : null;",
    )
    .await;
    println!("lanes with Ready / Terminating markers: {markers}");
    // A replaced pod's lane, clicked: its probers' changes into draining, with the cloud's reason.
    let detail = shown(
        browser,
        "the detail of a replaced pod's backend",
        "const l = [...document.querySelectorAll('.lane-label')]
           .find(x => x.dataset.markers.split(',').includes('pod-terminating'));
         if (!l) return null;
         if (!document.querySelector('.detail:not([hidden]) table.changes')) { l.click(); return null; }
         return document.querySelector('.detail').innerText;",
    )
    .await;
    let detail = detail.as_str().unwrap_or_default();
    assert!(
        detail.contains("→ ⇣ draining") && detail.contains("Target.DeregistrationInProgress"),
        "the changes into draining: {detail}"
    );
    screenshot(browser, "s4-timeline.png").await;
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
