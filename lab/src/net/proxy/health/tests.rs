use k8s_openapi::api::core::v1::{NodeSpec, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;

fn key() -> ServiceKey {
    (
        "ingress-nginx".to_owned(),
        "ingress-nginx-controller".to_owned(),
    )
}

fn with_local(count: usize) -> Arc<ProxyHealth> {
    let health = ProxyHealth::new(DEFAULT_HEALTH_TIMEOUT);
    health.set_services(BTreeMap::from([(
        key(),
        HealthCheck {
            port: 32000,
            local_endpoints: count,
        },
    )]));
    health
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn health_check_node_port_answers_503_without_local_endpoints_with_kube_proxys_body() {
    let answer = with_local(0).service_answer(&key());
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.body,
        "{\n\t\"service\": {\n\t\t\"namespace\": \"ingress-nginx\",\n\t\t\"name\": \"ingress-nginx-controller\"\n\t},\n\t\"localEndpoints\": 0,\n\t\"serviceProxyHealthy\": true\n}"
    );
    assert_eq!(header(&answer, "Content-Type"), "application/json");
    assert_eq!(header(&answer, "X-Content-Type-Options"), "nosniff");
    assert_eq!(header(&answer, "X-Load-Balancing-Endpoint-Weight"), "0");
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"service": {"namespace": "ingress-nginx", "name": "ingress-nginx-controller"},
                           "localEndpoints": 0, "serviceProxyHealthy": true})
    );
}

#[tokio::test]
async fn health_check_node_port_answers_200_with_local_endpoints_and_weights_them() {
    let answer = with_local(2).service_answer(&key());
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("\"localEndpoints\": 2,"));
    assert_eq!(header(&answer, "X-Load-Balancing-Endpoint-Weight"), "2");
}

#[tokio::test]
async fn an_update_pending_longer_than_the_timeout_makes_every_answer_unhealthy() {
    let timeout = Duration::from_millis(200);
    let health = ProxyHealth::new(timeout);
    health.set_services(BTreeMap::from([(
        key(),
        HealthCheck {
            port: 32000,
            local_endpoints: 1,
        },
    )]));
    health.updated();
    health.queued_update();
    assert_eq!(health.service_answer(&key()).status, 200);
    assert_eq!(health.healthz_answer("/healthz").status, 200);
    tokio::time::sleep(timeout + Duration::from_millis(50)).await;
    let answer = health.service_answer(&key());
    assert_eq!(answer.status, 503);
    assert!(answer.body.contains("\"serviceProxyHealthy\": false"));
    assert_eq!(health.healthz_answer("/healthz").status, 503);
    assert_eq!(health.healthz_answer("/livez").status, 503);
    health.updated();
    assert_eq!(health.healthz_answer("/livez").status, 200);
}

#[tokio::test]
async fn healthz_reports_node_eligibility_livez_ignores_it_other_paths_are_404() {
    let health = with_local(1);
    let ok = health.healthz_answer("/healthz");
    assert_eq!(ok.status, 200);
    let json: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(json["nodeEligible"], true);
    assert_eq!(json["lastUpdated"], json["currentTime"]);
    assert!(ok.body.starts_with("{\"lastUpdated\": \""), "{}", ok.body);
    assert!(ok.body.contains("\",\"currentTime\": \""), "{}", ok.body);

    let mut node = Node {
        spec: Some(NodeSpec {
            taints: Some(vec![Taint {
                key: TO_BE_DELETED_TAINT.to_owned(),
                effect: "NoSchedule".to_owned(),
                ..Taint::default()
            }]),
            ..NodeSpec::default()
        }),
        ..Node::default()
    };
    health.sync_node(Some(&node));
    let drained = health.healthz_answer("/healthz");
    assert_eq!(drained.status, 503);
    assert!(
        drained.body.ends_with("\"nodeEligible\": false}"),
        "{}",
        drained.body
    );
    let live = health.healthz_answer("/livez");
    assert_eq!(live.status, 200);
    assert!(!live.body.contains("nodeEligible"));
    // The health-check node ports do not look at the node.
    assert_eq!(health.service_answer(&key()).status, 200);

    node.spec = None;
    node.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    health.sync_node(Some(&node));
    assert_eq!(health.healthz_answer("/healthz").status, 503);
    health.sync_node(Some(&Node::default()));
    assert_eq!(health.healthz_answer("/healthz").status, 200);

    let other = health.healthz_answer("/");
    assert_eq!(
        (other.status, other.body.as_str()),
        (404, "404 page not found\n")
    );
}

#[tokio::test]
async fn times_read_like_go_time_strings_and_zero_before_the_first_update() {
    let health = ProxyHealth::new(Duration::ZERO);
    health.queued_update();
    let answer = health.healthz_answer("/livez");
    assert_eq!(answer.status, 503);
    assert!(
        answer
            .body
            .starts_with("{\"lastUpdated\": \"0001-01-01 00:00:00 +0000 UTC\",\"currentTime\": \""),
        "{}",
        answer.body
    );
    let current = health.go_time(SystemTime::UNIX_EPOCH + Duration::from_millis(1_500));
    assert!(
        current.starts_with("1970-01-01 00:00:01.5 +0000 UTC m=+"),
        "{current}"
    );
}
