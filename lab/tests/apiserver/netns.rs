//! A listener made inside a network namespace, served by the test's runtime: how the lab gives
//! the agents in its namespaces an API server of their own.

use std::io::{Read, Write};
use std::net::SocketAddr;

use probesim_agent::netns::{NetNs, can_run_privileged_test};
use probesim_lab::api::{ApiServer, Store};

/// Runs `f` on a thread inside `ns` and waits for it without blocking the runtime.
async fn inside<T: Send + 'static>(ns: &NetNs, f: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = ns
        .spawn(move || async move { f() })
        .expect("thread in namespace");
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .expect("join")
        .expect("thread")
        .expect("enter namespace")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_made_in_a_namespace_serves_clients_there_and_not_outside() {
    let test = "a_listener_made_in_a_namespace_serves_clients_there_and_not_outside";
    if !can_run_privileged_test(test) {
        return;
    }
    let ns =
        NetNs::create(&format!("probesim-api{}-listen", std::process::id())).expect("namespace");
    let listener = inside(&ns, || std::net::TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind inside");
    let address: SocketAddr = listener.local_addr().expect("address");
    let server = ApiServer::new(Store::new());
    let serving = server.serve_std(listener).expect("serve");

    let answer = inside(&ns, move || {
        let mut stream = std::net::TcpStream::connect(address)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        stream.write_all(b"GET /version HTTP/1.0\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        std::io::Result::Ok(answer)
    })
    .await
    .expect("GET /version inside the namespace");
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("\"gitVersion\":\"v1.30.4\""), "{answer}");

    let outside = tokio::net::TcpStream::connect(address).await;
    assert!(
        outside.is_err(),
        "the namespace's listener answered from the root namespace"
    );
    serving.abort();
}
