//! What the pages must show: the checks of the S1 and S4 runs, and the helpers that wait for
//! the page and save screenshots.

use std::path::PathBuf;
use std::time::Duration;

use probesim_lab::api::Resource;
use probesim_lab::cluster::Cluster;
use serde_json::{Value, json};

use super::webdriver::Browser;

pub const S1_SERVICE: &str = "ingress-basic/ingress-nginx-controller";
pub const S4_SERVICE: &str = "shop/web";

/// How long the UI may take to show what the agents found (discovery, thresholds, streaming).
pub const SHOWN_WITHIN: Duration = Duration::from_secs(90);

/// Where the screenshots go (a CI job keeps them as artefacts).
pub fn artefacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artefacts/ui")
}

pub async fn screenshot(browser: &Browser, name: &str) {
    let path = artefacts().join(name);
    browser.screenshot(&path).await.expect("screenshot");
    println!("screenshot: {}", path.display());
}

/// Runs `script` in the page until it returns something truthy.
pub async fn shown(browser: &Browser, what: &str, script: &str) -> Value {
    browser
        .wait_for(what, script, SHOWN_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn check_s1(
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

pub async fn check_s4(browser: &Browser, url: &impl Fn(&str) -> String) {
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
