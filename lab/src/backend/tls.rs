//! Server-side TLS for backends: a self-signed certificate made at start, and the TLS versions the
//! backend accepts (to reproduce a backend that the LB's TLS range cannot reach).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make a self-signed certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot build the TLS server configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Which TLS versions a backend accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerVersions {
    Tls12Only,
    Tls13Only,
    Both,
}

/// A server TLS configuration, shared by all connections of a backend.
#[derive(Clone, Debug)]
pub struct ServerTls(pub Arc<ServerConfig>);

impl ServerTls {
    /// A fresh self-signed certificate for `localhost`, accepting `versions`, offering ALPN `h2`
    /// when `h2` is set.
    pub fn self_signed(versions: ServerVersions, h2: bool) -> Result<ServerTls, TlsError> {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&'static rustls::SupportedProtocolVersion] = match versions {
            ServerVersions::Tls12Only => &[&rustls::version::TLS12],
            ServerVersions::Tls13Only => &[&rustls::version::TLS13],
            ServerVersions::Both => &[&rustls::version::TLS12, &rustls::version::TLS13],
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)?
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)?;
        if h2 {
            config.alpn_protocols = vec![b"h2".to_vec()];
        }
        Ok(ServerTls(Arc::new(config)))
    }
}
