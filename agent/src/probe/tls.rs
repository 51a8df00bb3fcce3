//! TLS for HTTPS, gRPC-over-TLS and SSL probes: rustls without certificate verification (the
//! clouds accept self-signed certificates), without SNI (the clouds probe an IP address), and
//! with the TLS versions the LB is configured to offer.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::lb::outcome::{Outcome, Phase};
use crate::model::{TlsRange, TlsVersion};
use crate::probe::{ProbeRequest, Timings, classify, tcp};

/// Client configurations, one per TLS version range and ALPN choice, built once.
#[derive(Debug)]
pub struct TlsConfigs {
    configs: Vec<((TlsRange, bool), Arc<ClientConfig>)>,
}

impl Default for TlsConfigs {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsConfigs {
    pub fn new() -> TlsConfigs {
        let ranges = [
            TlsRange::AZURE_OBSERVED,
            TlsRange::AWS,
            TlsRange {
                min: TlsVersion::Tls13,
                max: TlsVersion::Tls13,
            },
        ];
        let configs = ranges
            .into_iter()
            .flat_map(|r| [(r, false), (r, true)])
            .map(|(range, h2)| ((range, h2), Arc::new(client_config(range, h2))))
            .collect();
        TlsConfigs { configs }
    }

    /// The configuration for a version range, offering ALPN `h2` when `h2` is set.
    pub fn get(&self, range: TlsRange, h2: bool) -> Arc<ClientConfig> {
        self.configs
            .iter()
            .find(|(key, _)| *key == (range, h2))
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| Arc::new(client_config(range, h2)))
    }
}

fn client_config(range: TlsRange, h2: bool) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (range.min..=range.max).contains(v))
    .map(|(_, p)| p)
    .collect();
    let verifier = Arc::new(AcceptAnyCertificate(provider.clone()));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .unwrap_or_else(|_| {
            // Only reachable with an empty range, which TlsRange cannot express; TLS 1.2 is the
            // one version every cloud offers.
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS12])
                .expect("ring supports TLS 1.2")
        })
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.enable_sni = false;
    if h2 {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    config
}

/// The clouds' probes do not verify the backend's certificate; neither does probesim's.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects and completes a TLS handshake before `deadline`.
pub async fn connect(
    req: &ProbeRequest,
    deadline: Instant,
    configs: &TlsConfigs,
    h2: bool,
    timings: &mut Timings,
) -> Result<TlsStream<TcpStream>, Outcome> {
    let tcp = tcp::connect(req, deadline, timings).await?;
    let start = Instant::now();
    let connector = TlsConnector::from(configs.get(req.wire.tls, h2));
    let name = ServerName::IpAddress(req.addr.ip().into());
    match tokio::time::timeout_at(deadline, connector.connect(name, tcp)).await {
        Err(_elapsed) => Err(Outcome::Timeout { phase: Phase::Tls }),
        Ok(Err(e)) => Err(handshake_error(&e)),
        Ok(Ok(stream)) => {
            timings.tls = Some(start.elapsed());
            Ok(stream)
        }
    }
}

/// A reset during the handshake is a reset; anything else (alert, EOF, no common version) is a
/// failed handshake.
fn handshake_error(e: &std::io::Error) -> Outcome {
    match classify::io_error(e, Phase::Tls) {
        reset @ Outcome::Reset { .. } => reset,
        local @ Outcome::Local(_) if e.get_ref().is_none() => local,
        _ => Outcome::TlsFailed,
    }
}

/// The SSL prober (Classic LB): success when the TLS handshake completes.
pub async fn probe_handshake(
    req: &ProbeRequest,
    deadline: Instant,
    configs: &TlsConfigs,
    timings: &mut Timings,
) -> Outcome {
    match connect(req, deadline, configs, false, timings).await {
        Ok(stream) => {
            drop(stream);
            Outcome::TlsEstablished
        }
        Err(outcome) => outcome,
    }
}
