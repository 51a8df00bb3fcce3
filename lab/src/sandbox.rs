//! A throwaway network namespace for network tests, with a black hole: addresses in
//! `10.77.0.0/24` other than `.1` are routed into a veth pair whose far end owns no address, with
//! permanent neighbour entries for a MAC nobody has, so their packets are dropped on arrival and
//! nothing ever answers (no RST, no ICMP). A test can also put one of them on loopback and later
//! take it off, turning a live backend into a black hole.

use std::future::Future;
use std::sync::Arc;

use probesim_agent::netns::{NetNs, can_run_privileged_test};

/// The first black-holed address.
pub const BLACK_HOLE: &str = "10.77.0.2";
/// Addresses `10.77.0.2` to `10.77.0.9` are black holes unless a test puts one on loopback.
pub const BLACK_HOLE_LAST_OCTET: u8 = 9;
const FAKE_MAC: &str = "02:00:00:00:00:99";

/// Runs `f` on a thread inside a fresh namespace named `probesim-<prefix><pid>-<test>`, removed
/// afterwards even when `f` panics (the panic is then resumed). Without the privileges it needs it
/// returns early, or fails under `CI=true`.
pub fn run<F, Fut>(prefix: &str, test: &str, f: F)
where
    F: FnOnce(Arc<NetNs>) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if !can_run_privileged_test(test) {
        return;
    }
    let name = format!("probesim-{prefix}{}-{test}", std::process::id());
    let ns = Arc::new(NetNs::create(&name).expect("test namespace"));
    let mut setup: Vec<Vec<String>> = [
        "link add hole type veth peer name hole-peer",
        "addr add 10.77.0.1/24 dev hole",
        "link set hole up",
        "link set hole-peer up",
    ]
    .iter()
    .map(|s| s.split(' ').map(str::to_owned).collect())
    .collect();
    for octet in 2..=BLACK_HOLE_LAST_OCTET {
        let ip = format!("10.77.0.{octet}");
        setup.push(
            [
                "neigh",
                "add",
                &ip,
                "lladdr",
                FAKE_MAC,
                "dev",
                "hole",
                "nud",
                "permanent",
            ]
            .map(str::to_owned)
            .to_vec(),
        );
    }
    for args in &setup {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ns.exec("ip", &args).expect("test namespace setup");
    }
    let inner = ns.clone();
    let result = ns.spawn(move || f(inner)).expect("namespace thread").join();
    drop(ns);
    match result {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(entered) => entered.expect("entered the namespace"),
    }
}
