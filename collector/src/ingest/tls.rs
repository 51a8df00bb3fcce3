//! TLS for ingest: certificate and key from files (a Kubernetes Secret mounted in the pod), and
//! a client CA for mutual TLS.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use super::error::{IngestError, Result};

/// PEM files of the server's TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// `PROBESIM_TLS_CERT`: the server's certificate chain.
    pub cert: PathBuf,
    /// `PROBESIM_TLS_KEY`: its private key.
    pub key: PathBuf,
    /// `PROBESIM_CLIENT_CA`: when set, agents must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| IngestError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads the files (errors name the file) into tonic's server TLS configuration.
pub fn server_tls(files: &TlsFiles) -> Result<ServerTlsConfig> {
    let cert = read(&files.cert)?;
    let key = read(&files.key)?;
    for (path, pem, marker) in [
        (&files.cert, &cert, "CERTIFICATE"),
        (&files.key, &key, "PRIVATE KEY"),
    ] {
        if !String::from_utf8_lossy(pem).contains(marker) {
            return Err(IngestError::Tls {
                path: path.clone(),
                message: format!("no PEM {marker} in the file"),
            });
        }
    }
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &files.client_ca {
        let pem = read(ca)?;
        if !String::from_utf8_lossy(&pem).contains("CERTIFICATE") {
            return Err(IngestError::Tls {
                path: ca.clone(),
                message: "no PEM CERTIFICATE in the file".to_owned(),
            });
        }
        config = config.client_ca_root(Certificate::from_pem(pem));
    }
    Ok(config)
}
