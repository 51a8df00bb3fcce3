//! `probesim-bench engine` end to end, small: two loopback targets at a low rate for one
//! second, through the real binary and its target-server child.

use std::process::Command;
use std::time::{Duration, Instant};

const KEYS: [&str; 12] = [
    "probes_per_s",
    "cpu_s_per_1k_probes",
    "lateness_p50_ms",
    "lateness_p99_ms",
    "rss_mib",
    "errors",
    "rss_per_target_kib",
    "protocol",
    "targets",
    "rate",
    "duration_s",
    "close",
];

#[test]
fn a_one_second_two_target_http_run_probes_and_prints_every_documented_key() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_probesim-bench"))
        .args([
            "engine",
            "--protocol",
            "http",
            "--targets",
            "2",
            "--rate",
            "40",
        ])
        .args(["--duration", "1s", "--ports", "2", "--json"])
        .output()
        .expect("run probesim-bench");
    assert!(
        output.status.success(),
        "probesim-bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    for key in KEYS {
        assert!(report.get(key).is_some(), "no `{key}` in {report:#}");
    }
    assert_eq!(report["protocol"], "http");
    assert_eq!(report["targets"], 2);
    let probes = report["probes"].as_u64().expect("probes");
    // 40 probes/s for one second; the first slots of each target fall anywhere in their slot.
    assert!((30..=45).contains(&probes), "{probes} probes");
    assert_eq!(report["errors"], 0, "{report:#}");
    assert!(report["lateness_p99_ms"].as_f64().is_some());
    assert!(report["rss_mib"].as_f64().expect("rss") > 0.0);
    assert!(report.get("baseline").is_none());
    assert!(started.elapsed() < Duration::from_secs(10));
}
