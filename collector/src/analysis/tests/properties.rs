//! Properties over generated timelines: stats are ordered, latencies follow the changes of
//! each prober whatever their order in the history.

use proptest::prelude::*;

use probesim_agent::event::Hop;
use probesim_agent::lb::health::LbState::{Down, Up};
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{LbKind, ProbeProtocol};

use super::super::testing::*;
use super::report;
use crate::report::Stats;

proptest! {
    #[test]
    fn stats_are_ordered_and_count_every_sample(ms in prop::collection::vec(0u64..1_000_000, 1..50)) {
        let samples: Vec<_> = ms.iter().map(|m| std::time::Duration::from_millis(*m)).collect();
        let s = Stats::of(samples.clone()).unwrap();
        prop_assert!(s.min <= s.median && s.median <= s.max);
        prop_assert_eq!(s.count, samples.len());
        prop_assert_eq!(s.min, *samples.iter().min().unwrap());
        prop_assert_eq!(s.max, *samples.iter().max().unwrap());
    }

    /// A TCP Azure backend fails from second 100; prober `i` fails first `delays[i]` ms into
    /// that second and takes it out at its second failure, one interval (5 s) later. Detection
    /// per prober is 5 s plus its delay minus the earliest, whatever order the changes come in.
    #[test]
    fn detection_is_each_probers_exit_after_the_onset_in_any_change_order(
        delays in prop::collection::vec(0u64..900, 1..8),
        seed in any::<u64>(),
    ) {
        let tcp = spec(LbKind::AzureLb, ProbeProtocol::Tcp, None, 80);
        let k = u32::try_from(delays.len()).unwrap();
        let mut b = B::new("default/web", "node-1", Hop::Lb, tcp, k)
            .seconds(0, 100, 1, 0, "")
            .seconds(100, 120, 0, 1, "timeout");
        for (p, d) in (0..k).zip(&delays) {
            // Threshold 2, interval 5: the change comes one interval after the first failure.
            b = b
                .change(p, Down, Up, None, 0.1)
                .change(p, Up, Down, Some(Reason::ProbeTimeout), 105.0 + *d as f64 / 1000.0);
        }
        let mut h = b.build();
        // Shuffle the changes deterministically: analysis must not depend on their order.
        let n = h.changes.len();
        for i in 0..n {
            let j = (seed.wrapping_mul(i as u64 + 7) % n as u64) as usize;
            h.changes.swap(i, j);
        }
        let r = report(&history(vec![h], Vec::new()));
        let d = r.services[0].latencies.detection.unwrap();
        let first = *delays.iter().min().unwrap();
        let expected: Vec<_> = delays
            .iter()
            .map(|x| std::time::Duration::from_millis(5_000 + x - first))
            .collect();
        prop_assert_eq!(d, Stats::of(expected).unwrap());
        prop_assert!(d.min <= d.median && d.median <= d.max);
    }

    /// Whatever the stop, deregistration and lag, exposure is never negative and never longer
    /// than the lag after the deregistration allows.
    #[test]
    fn drain_exposure_is_the_lag_end_minus_the_stop_when_positive(
        stop in 101u64..190,
        dereg_ms in 0u64..5_000,
        lag_s in 0u64..60,
    ) {
        use probesim_agent::event::LifecycleKind;
        use probesim_agent::lb::health::LbState::{Draining, Healthy, Initial};
        let alb = spec(LbKind::Alb, ProbeProtocol::Http, Some("/"), 8080);
        let dereg = 100.0 + dereg_ms as f64 / 1000.0;
        let b = B::new("default/web", "node-1", Hop::Lb, alb, 1)
            .pod("default/web-1", "10.244.1.7:8080")
            .seconds(0, stop, 1, 0, "")
            .seconds(stop, 200, 0, 1, "refused")
            .change(0, Initial, Healthy, None, 5.0)
            .change(0, Healthy, Draining, None, dereg);
        let term = event(LifecycleKind::PodTerminating, ("Pod", "default", "web-1"), Some(130.0), 100.0, &[("grace_period_s", "30")]);
        let config = super::super::AnalysisConfig { alb_propagation_lag: secs(lag_s as f64), ..Default::default() };
        let r = super::super::analyze(&history(vec![b.build()], vec![term]), &config);
        let p = &r.services[0].pods[0];
        let lb_end = dereg + lag_s as f64;
        let expected = (lb_end - stop as f64).max(0.0);
        let got = p.exposure.unwrap().max.as_secs_f64();
        prop_assert!((got - expected).abs() < 1e-6, "got {} expected {}", got, expected);
        prop_assert_eq!(p.covered, Some(expected == 0.0));
    }
}
