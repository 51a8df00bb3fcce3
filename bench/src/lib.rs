//! probesim-bench: the benchmark harness and its baselines (raw kernel connect loop,
//! prometheus-blackbox-exporter). See bench/README.md.
