//! Network namespaces as the probers' tests and the lab use them.

use probesim_agent::netns::{NETNS_DIR, NetNs, can_run_privileged_test};

#[test]
fn a_thread_inside_a_namespace_sees_only_its_own_network_and_the_namespace_is_removed_on_drop() {
    if !can_run_privileged_test("netns isolation") {
        return;
    }
    let name = format!("probesim-t-{}", std::process::id());
    let ns = NetNs::create(&name).expect("namespace");
    ns.exec("ip", &["addr", "add", "10.250.0.1/32", "dev", "lo"])
        .expect("address");
    let inside = ns
        .spawn(|| async {
            let listener = tokio::net::TcpListener::bind("10.250.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let accept = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
            tokio::net::TcpStream::connect(addr)
                .await
                .expect("connect inside");
            accept.await.expect("join").expect("accept");
            addr
        })
        .expect("thread")
        .join()
        .expect("no panic")
        .expect("entered");
    // Outside the namespace the address does not exist.
    let bind_outside = std::net::TcpListener::bind((inside.ip(), 0));
    assert!(
        bind_outside.is_err(),
        "10.250.0.1 must exist only inside the namespace"
    );
    drop(ns);
    assert!(!std::path::Path::new(NETNS_DIR).join(&name).exists());
}
