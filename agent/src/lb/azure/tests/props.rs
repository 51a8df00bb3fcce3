//! Properties over arbitrary annotations and ports: the derivation never panics, and what it
//! returns is always something Azure could be told.

use proptest::prelude::*;

use super::*;
use crate::lb::azure::annotations as keys;

const VERSIONS: [&str; 16] = [
    "1.22", "v1.23.3", "v1.23.4", "v1.23.10", "1.23", "v1.24.11", "1.24", "v1.25.16", "1.26",
    "v1.27.5", "v1.28.0", "v1.28.1", "v1.28.4", "1.28", "1.29", "1.33",
];

/// Annotation values: the interesting ones often, anything else sometimes.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_owned()),
        Just("http".to_owned()),
        Just("Https".to_owned()),
        Just(" tcp ".to_owned()),
        Just("/healthz".to_owned()),
        Just("http".to_owned()),
        (-10i64..70_000).prop_map(|n| n.to_string()),
        Just("2147483648".to_owned()),
        Just("1073741824".to_owned()),
        ".{0,12}",
    ]
}

fn key(ports: Vec<i32>) -> impl Strategy<Value = String> {
    let global = prop_oneof![
        Just(keys::PROBE_PROTOCOL.to_owned()),
        Just(keys::PROBE_REQUEST_PATH.to_owned()),
        Just(keys::PROBE_INTERVAL.to_owned()),
        Just(keys::PROBE_NUM_OF_PROBE.to_owned()),
        Just(keys::INTERNAL.to_owned()),
        Just(keys::HA_PORTS.to_owned()),
    ];
    let params = prop_oneof![
        Just(ProbeParam::Protocol),
        Just(ProbeParam::Port),
        Just(ProbeParam::RequestPath),
        Just(ProbeParam::Interval),
        Just(ProbeParam::NumOfProbe),
    ];
    let per_port = (prop::sample::select(ports.clone()), params)
        .prop_map(|(port, param)| port_probe_key(port, param));
    let flags = (
        prop::sample::select(ports),
        prop_oneof![Just(PortFlag::NoLbRule), Just(PortFlag::NoProbeRule)],
    )
        .prop_map(|(port, flag)| port_flag_key(port, flag));
    prop_oneof![global, per_port, flags]
}

fn service_port() -> impl Strategy<Value = ServicePort> {
    (
        prop::option::of(prop_oneof![
            Just("http"),
            Just("https"),
            Just("HTTP"),
            Just("dns"),
            Just("443")
        ]),
        prop_oneof![Just(80), Just(443), Just(53), -5i32..70_000],
        prop::option::of(prop_oneof![Just(30080), Just(0), -1i32..70_000]),
        prop::option::of(prop_oneof![
            Just("TCP"),
            Just("UDP"),
            Just("SCTP"),
            Just("tcp"),
            Just("HTTP")
        ]),
        prop::option::of(prop_oneof![
            Just("http".to_owned()),
            Just("https".to_owned()),
            Just("grpc".to_owned()),
            ".{0,8}"
        ]),
    )
        .prop_map(|(name, port, node_port, protocol, app)| ServicePort {
            name: name.map(str::to_owned),
            port,
            node_port,
            protocol: protocol.map(str::to_owned),
            app_protocol: app,
            ..ServicePort::default()
        })
}

fn service() -> impl Strategy<Value = Service> {
    prop::collection::vec(service_port(), 0..4)
        .prop_flat_map(|ports| {
            let mut numbers: Vec<i32> = ports.iter().map(|p| p.port).collect();
            numbers.extend([80, 31000]);
            (
                Just(ports),
                prop::collection::btree_map(key(numbers), value(), 0..8),
                prop::option::of(prop_oneof![Just("Local"), Just("Cluster")]),
                prop::option::of(prop_oneof![Just(31000), -1i32..70_000]),
            )
        })
        .prop_map(|(ports, annotations, etp, hcnp)| {
            let mut svc = Svc::lb();
            svc.0.metadata.annotations = Some(annotations);
            let spec = svc.spec();
            spec.ports = Some(ports);
            spec.external_traffic_policy = etp.map(str::to_owned);
            spec.health_check_node_port = hcnp;
            svc.0
        })
}

fn settings() -> impl Strategy<Value = AzureSettings> {
    (
        prop::sample::select(VERSIONS.to_vec()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(v, shared, basic)| AzureSettings {
            version: version(v),
            probe_mode: if shared {
                ProbeMode::Shared
            } else {
                ProbeMode::ServiceNodePort
            },
            sku: if basic { Sku::Basic } else { Sku::Standard },
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn derivation_never_panics_and_returns_what_azure_could_be_told(
        svc in service(),
        settings in settings(),
    ) {
        let r = derive_service(&svc, &settings).expect("a LoadBalancer Service gets a result");
        prop_assert!(r.errors.len() <= 1);
        if !r.errors.is_empty() {
            prop_assert!(r.rules.is_empty());
        }
        let ports: Vec<i32> = svc.spec.iter().flat_map(|s| s.ports.iter().flatten()).map(|p| p.port).collect();
        for rule in &r.rules {
            prop_assert!(rule.port == 0 || ports.contains(&rule.port));
            prop_assert_eq!(&rule.service, &r.object);
            if let Some(p) = &rule.probe {
                prop_assert!(p.interval_s >= 5);
                prop_assert!(p.healthy_threshold >= 2);
                prop_assert_eq!(p.healthy_threshold, p.unhealthy_threshold);
                prop_assert!(p.timeout_s <= p.interval_s && p.timeout_s >= 1);
                prop_assert_eq!(p.path.is_some(), p.protocol.is_http_like());
                prop_assert!(p.protocol != ProbeProtocol::Grpc);
                if settings.sku == Sku::Basic {
                    prop_assert!(p.protocol != ProbeProtocol::Https);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for w in &r.warnings {
            prop_assert!(seen.insert(w), "duplicate warning {}", w);
        }
    }

    #[test]
    fn services_that_are_not_load_balancers_are_never_derived(
        svc in service(),
        settings in settings(),
        t in prop::option::of(prop_oneof![Just("ClusterIP"), Just("NodePort"), Just("ExternalName")]),
    ) {
        let mut svc = svc;
        if let Some(spec) = svc.spec.as_mut() {
            spec.type_ = t.map(str::to_owned);
        }
        prop_assert!(derive_service(&svc, &settings).is_none());
    }
}
