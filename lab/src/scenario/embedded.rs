//! The scenarios of `lab/scenarios/`, built into the binary so `probesim-lab run s1` works
//! anywhere.

/// Name and text of each built-in scenario.
pub const SCENARIOS: [(&str, &str); 7] = [
    (
        "s1-aks-upgrade-nginx",
        include_str!("../../scenarios/s1-aks-upgrade-nginx.yaml"),
    ),
    (
        "s2-networkpolicy-blocks-azure-probe",
        include_str!("../../scenarios/s2-networkpolicy-blocks-azure-probe.yaml"),
    ),
    (
        "s3-service-reaches-no-pod",
        include_str!("../../scenarios/s3-service-reaches-no-pod.yaml"),
    ),
    (
        "s4-eks-alb-ip-rollout",
        include_str!("../../scenarios/s4-eks-alb-ip-rollout.yaml"),
    ),
    (
        "s5-eks-alb-grpc-istio",
        include_str!("../../scenarios/s5-eks-alb-grpc-istio.yaml"),
    ),
    (
        "s6-clb-local-rollout-moves-pod",
        include_str!("../../scenarios/s6-clb-local-rollout-moves-pod.yaml"),
    ),
    (
        "s7-control-plane-tunnel-down",
        include_str!("../../scenarios/s7-control-plane-tunnel-down.yaml"),
    ),
];
