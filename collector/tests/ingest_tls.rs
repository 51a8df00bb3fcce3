//! TLS and mutual TLS between agents and the collector, with certificates from files.

#![allow(clippy::unwrap_used)]

#[path = "ingest_support/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use harness::*;
use probesim_agent::event::Event;
use probesim_agent::stream::{ClientTls, fixtures};
use probesim_collector::ingest::{IngestConfig, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for `localhost` and a client certificate, as PEM files; and a
    /// second CA that signed nothing of this.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, pem: String| std::fs::write(dir.path().join(name), pem).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca =
            CertifiedIssuer::self_signed(ca_params.clone(), KeyPair::generate().unwrap()).unwrap();
        write("ca.pem", ca.pem());
        let other = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        write("other-ca.pem", other.pem());
        for (name, san) in [("server", "localhost"), ("client", "node-a")] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![san.to_owned()])
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server(&self, mutual: bool) -> IngestConfig {
        IngestConfig {
            tls: Some(TlsFiles {
                cert: self.path("server.pem"),
                key: self.path("server-key.pem"),
                client_ca: mutual.then(|| self.path("ca.pem")),
            }),
            ..IngestConfig::default()
        }
    }

    fn client(&self, ca: &str, with_cert: bool) -> ClientTls {
        ClientTls {
            ca: Some(self.path(ca)),
            cert: with_cert.then(|| self.path("client.pem")),
            key: with_cert.then(|| self.path("client-key.pem")),
            domain: Some("localhost".into()),
        }
    }
}

/// Whether an agent with `tls` gets 100 results through to a collector with `server`.
async fn delivers(server: IngestConfig, url_scheme: &str, tls: ClientTls, spool: &Path) -> bool {
    let sink = Arc::new(MemSink::default());
    let collector = Collector::start(sink.clone(), loopback(), server);
    let url = format!("{url_scheme}://{}", collector.addr);
    let mut config = agent_config(&url, Some(spool));
    config.tls = tls;
    let (agent, tx) = start_agent(config);
    tx.send(Event::Backend(fixtures::backend(1))).await.unwrap();
    produce(&tx, 0, 100, 10_000).await;
    let ok = wait_for(Duration::from_secs(3), || sink.result_count() == 100).await;
    if !ok {
        assert!(agent.metrics().snapshot().connect_failures > 0);
    }
    drop(tx);
    agent.abort();
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls_admit_only_agents_with_the_right_certificates() {
    let pki = Pki::new();
    let cases = [
        (
            "mutual TLS, client certificate",
            pki.server(true),
            "https",
            pki.client("ca.pem", true),
            true,
        ),
        (
            "mutual TLS, no client certificate",
            pki.server(true),
            "https",
            pki.client("ca.pem", false),
            false,
        ),
        (
            "TLS, no client certificate",
            pki.server(false),
            "https",
            pki.client("ca.pem", false),
            true,
        ),
        (
            "TLS, agent trusts another CA",
            pki.server(false),
            "https",
            pki.client("other-ca.pem", false),
            false,
        ),
        (
            "TLS server, plaintext agent",
            pki.server(false),
            "http",
            ClientTls::default(),
            false,
        ),
    ];
    for (name, server, scheme, tls, expected) in cases {
        let spool = tempfile::tempdir().unwrap();
        assert_eq!(
            delivers(server, scheme, tls, spool.path()).await,
            expected,
            "{name}"
        );
    }
}

#[test]
fn tls_files_that_are_missing_or_not_pem_are_errors_naming_the_file() {
    let pki = Pki::new();
    let mut files = TlsFiles {
        cert: pki.path("server.pem"),
        key: pki.path("nope.pem"),
        client_ca: None,
    };
    let err = probesim_collector::ingest::server_tls(&files)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope.pem") && err.contains("cannot read"),
        "{err}"
    );
    files.key = pki.path("server.pem");
    let err = probesim_collector::ingest::server_tls(&files)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("server.pem") && err.contains("PRIVATE KEY"),
        "{err}"
    );
}
