use std::sync::atomic::Ordering;

use super::*;
use crate::event::SpecVersion;
use crate::lb::manual;
use crate::lb::outcome::Outcome;
use crate::lb::verdict::Verdict;
use crate::model::{LbKind, ObjectRef, ProbeProtocol, TargetKind};
use crate::probe::{Measurement, Timings};

fn backend(id: BackendId, target: &str, hop: Hop, what_if: bool, path: &str) -> Backend {
    let spec = manual::spec(
        LbKind::AzureLb,
        &manual::ManualProbe {
            protocol: Some(ProbeProtocol::Http),
            port: 30080,
            path: Some(path.into()),
            ..Default::default()
        },
    )
    .expect("spec");
    Backend {
        id,
        key: BackendKey {
            lb: LbKind::AzureLb,
            object: ObjectRef::new("Service", "shop", "web"),
            service: ObjectRef::new("Service", "shop", "web"),
            port: 80,
            node: "n1".into(),
            target: target.parse().expect("addr"),
            target_kind: TargetKind::Node,
            pod: None,
            hop,
            source: SourceMode::Node,
            version: SpecVersion {
                version: "1.24".into(),
                what_if,
            },
        },
        spec: Arc::new(spec),
        probers: 10,
        also_for: Vec::new(),
    }
}

#[test]
fn observe_takes_auto_or_a_list_of_interface_names_and_names_the_flag_and_value_when_bad() {
    let named = |names: &[&str]| {
        Some(Interfaces::Named(
            names.iter().map(|n| (*n).to_owned()).collect(),
        ))
    };
    let good: [(&str, Option<Interfaces>); 5] = [
        ("", None),
        ("auto", Some(Interfaces::Auto)),
        ("eth0", named(&["eth0"])),
        ("eth0, ens5,eth0", named(&["eth0", "ens5"])),
        ("enP1s1.100", named(&["enP1s1.100"])),
    ];
    for (text, want) in good {
        assert_eq!(
            parse_interfaces("--observe", text).expect(text),
            want,
            "{text}"
        );
    }
    for text in [
        "eth0,,eth1",
        "eth0,auto",
        "a-very-long-interface0",
        "../x",
        "eth 0",
        "eth0:1",
    ] {
        let err = parse_interfaces("--observe", text)
            .expect_err(text)
            .to_string();
        assert!(err.contains("--observe") && err.contains(text), "{err}");
    }
}

#[test]
fn lb_networks_are_ipv4_addresses_with_an_optional_prefix_length() {
    assert_eq!(
        parse_network("--observe-lb-network", "10.224.255.0/24").expect("net"),
        (Ipv4Addr::new(10, 224, 255, 0), 24)
    );
    assert_eq!(
        parse_network("--observe-lb-network", "10.0.0.7").expect("addr"),
        (Ipv4Addr::new(10, 0, 0, 7), 32)
    );
    for text in ["10.0.0.0/33", "10.0.0.0/x", "fd00::/8", "web"] {
        let err = parse_network("--observe-lb-network", text)
            .expect_err(text)
            .to_string();
        assert!(
            err.contains("--observe-lb-network") && err.contains(text),
            "{err}"
        );
    }
}

#[test]
fn azure_observes_its_probe_address_and_aws_needs_the_lb_subnets() {
    let azure = config(
        Cloud::Azure,
        vec!["eth0".into()],
        &[],
        "--observe-lb-network",
    )
    .expect("azure");
    assert_eq!(
        azure.sources.nets,
        vec![(crate::source::AZURE_PROBE_SOURCE, 32)]
    );
    assert_eq!(azure.interfaces, vec!["eth0".to_owned()]);
    let err = config(Cloud::Aws, Vec::new(), &[], "--observe-lb-network")
        .expect_err("aws without networks")
        .to_string();
    assert!(err.contains("--observe-lb-network"), "{err}");
    let subnet = (Ipv4Addr::new(10, 0, 128, 0), 20);
    let aws = config(Cloud::Aws, Vec::new(), &[subnet], "--observe-lb-network").expect("aws");
    assert_eq!(aws.sources.nets, vec![subnet]);
    assert!(aws.sources.probe_only.is_empty());
}

#[test]
fn only_lb_backends_of_the_clusters_own_version_have_an_observed_twin() {
    let cases = [
        (Hop::Lb, false, true),
        (Hop::Lb, true, false),
        (Hop::NodePort, false, false),
        (Hop::Pod, false, false),
        (Hop::ClusterIp, false, false),
    ];
    for (hop, what_if, has_twin) in cases {
        let b = backend(3, "10.224.0.4:30080", hop, what_if, "/");
        let twin = twin_of(&b);
        assert_eq!(twin.is_some(), has_twin, "{hop:?} what-if {what_if}");
        if let Some(twin) = twin {
            assert_eq!(twin.id, 3 + OBSERVED_ID_OFFSET);
            assert_eq!(twin.probers, 1);
            assert_eq!(twin.key.source, SourceMode::Observed);
            assert_eq!(
                BackendKey {
                    source: SourceMode::Node,
                    ..twin.key.clone()
                },
                b.key
            );
            assert!(twin_of(&twin).is_none(), "a twin has no twin");
        }
    }
}

#[test]
fn twins_follow_their_backends_add_respec_and_removal_in_the_observers_map() {
    let mut twins = Twins::new(Arc::default());
    let target: SocketAddr = "10.224.0.4:30080".parse().expect("addr");
    let b = backend(1, "10.224.0.4:30080", Hop::Lb, false, "/");
    let twin = twins.add(&b).expect("twin");
    assert_eq!(twins.map().get(&target).map(|(id, _)| id), Some(twin.id));
    assert!(
        twins
            .add(&backend(2, "10.224.0.4:31000", Hop::NodePort, false, "/"))
            .is_none()
    );

    let respecced = Backend {
        spec: backend(1, "10.224.0.4:30080", Hop::Lb, false, "/healthz").spec,
        also_for: vec!["1.25".into()],
        ..b.clone()
    };
    let updated = twins.update(&respecced).expect("twin follows");
    assert_eq!(updated.id, twin.id);
    assert_eq!(updated.spec.path.as_deref(), Some("/healthz"));
    assert_eq!(updated.also_for, ["1.25"]);
    let (_, spec) = twins.map().get(&target).expect("mapped");
    assert_eq!(spec.path.as_deref(), Some("/healthz"));

    assert_eq!(twins.remove(1), Some(twin.id));
    assert!(twins.map().get(&target).is_none());
    assert!(twins.twin(1).is_none());
    assert_eq!(twins.remove(1), None);
}

#[test]
fn when_two_rules_probe_one_address_the_map_falls_back_to_the_other_twin() {
    let mut twins = Twins::new(Arc::default());
    let target: SocketAddr = "10.224.0.4:30080".parse().expect("addr");
    let first = twins
        .add(&backend(1, "10.224.0.4:30080", Hop::Lb, false, "/"))
        .expect("1");
    let mut other = backend(2, "10.224.0.4:30080", Hop::Lb, false, "/");
    other.key.object = ObjectRef::new("Service", "shop", "web-2");
    let second = twins.add(&other).expect("2");
    assert_eq!(twins.map().get(&target).map(|(id, _)| id), Some(second.id));
    twins.remove(2);
    assert_eq!(twins.map().get(&target).map(|(id, _)| id), Some(first.id));
    twins.remove(1);
    assert!(twins.map().get(&target).is_none());
}

#[test]
fn a_target_probed_from_several_sources_has_one_twin_until_the_last_of_them_goes() {
    let mut twins = Twins::new(Arc::default());
    let target: SocketAddr = "10.224.0.4:30080".parse().expect("addr");
    let from_node = backend(1, "10.224.0.4:30080", Hop::Lb, false, "/");
    let mut from_lb = backend(2, "10.224.0.4:30080", Hop::Lb, false, "/");
    from_lb.key.source = SourceMode::LbSource;
    let twin = twins.add(&from_node).expect("declared once");
    assert!(
        twins.add(&from_lb).is_none(),
        "the same twin, not declared again"
    );
    assert_eq!(twins.twin(2).map(|t| t.id), Some(twin.id));

    let respecced = Backend {
        spec: backend(2, "10.224.0.4:30080", Hop::Lb, false, "/healthz").spec,
        ..from_lb.clone()
    };
    assert_eq!(twins.update(&respecced).map(|t| t.id), Some(twin.id));
    let path = |id| twins.twin(id).and_then(|t| t.spec.path.clone());
    assert_eq!(path(1).as_deref(), Some("/healthz"), "both backends see it");

    assert_eq!(
        twins.remove(1),
        None,
        "still shared by the lb-source backend"
    );
    assert_eq!(twins.map().get(&target).map(|(id, _)| id), Some(twin.id));
    assert_eq!(twins.remove(2), Some(twin.id));
    assert!(twins.map().get(&target).is_none());
    let again = twins.add(&from_node).expect("a new twin once none is left");
    assert_eq!(again.id, twin.id);
}

#[test]
fn an_observed_result_becomes_a_record_of_the_twins_one_prober_started_when_the_lb_started() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let started_at = wall - Duration::from_millis(300);
    let result = ProbeResult {
        backend: 5 + OBSERVED_ID_OFFSET,
        prober: 0,
        started_at,
        lateness: Duration::ZERO,
        measurement: Measurement {
            outcome: Outcome::HttpStatus(404),
            timings: Timings::default(),
        },
        verdict: Verdict::Success,
    };
    let record = record(&result, now, wall).expect("record");
    assert_eq!(record.target, result.backend);
    assert_eq!((record.prober, record.probers), (0, 1));
    assert_eq!(now.duration_since(record.due), Duration::from_millis(300));
    assert_eq!(record.started_at, started_at);
    assert_eq!(record.measurement.outcome, Outcome::HttpStatus(404));
}

#[test]
fn the_observers_counters_are_in_metrics_once_it_runs() {
    let metrics = crate::daemon::metrics::Metrics::new();
    assert!(!metrics.render().contains("probesim_observer_"));
    let stats = Arc::new(ObserverStats::default());
    stats.skipped_rate.fetch_add(7, Ordering::Relaxed);
    stats.probes.fetch_add(3, Ordering::Relaxed);
    metrics.observer.attach(stats);
    let text = metrics.render();
    assert!(
        text.contains("probesim_observer_packets_skipped_total 7"),
        "{text}"
    );
    assert!(text.contains("probesim_observer_probes_total 3"), "{text}");
    assert!(
        text.contains("probesim_observer_connections_skipped_total 0"),
        "{text}"
    );
}
