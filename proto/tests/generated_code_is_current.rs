//! The generated Rust of `probesim/v1/*.proto` is checked in so that builds need no `protoc`.
//! This regenerates it with the vendored `protoc` and fails when the checked-in copy differs.
//! `PROBESIM_REGENERATE=1 cargo test -p probesim-proto --test generated_code_is_current`
//! rewrites it.

use std::path::Path;

#[test]
fn generated_code_matches_the_proto_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path().unwrap());
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(out.path())
        .emit_rerun_if_changed(false)
        .compile_with_config(
            config,
            &[
                root.join("probesim/v1/events.proto"),
                root.join("probesim/v1/ingest.proto"),
            ],
            &[root.to_path_buf()],
        )
        .unwrap();
    let fresh = std::fs::read_to_string(out.path().join("probesim.v1.rs")).unwrap();
    let checked_in_path = root.join("src/gen/probesim.v1.rs");
    if std::env::var_os("PROBESIM_REGENERATE").is_some() {
        std::fs::write(&checked_in_path, &fresh).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&checked_in_path).unwrap_or_default();
    assert!(
        fresh == checked_in,
        "{} is stale: run PROBESIM_REGENERATE=1 cargo test -p probesim-proto --test \
         generated_code_is_current",
        checked_in_path.display()
    );
}
