//! One stream to the collector: connect (with TLS if configured), send the hello, and hand
//! incoming messages to the client's loop through a channel.

use std::time::Duration;

use probesim_proto::v1::{self, ingest_client::IngestClient};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::config::{MAX_COLLECTOR_MESSAGE_BYTES, StreamConfig};
use super::error::StreamError;

/// HTTP/2 pings on the agent's side find a collector that vanished without a FIN.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The collector endpoint, with TLS files read now so that a missing file is an error at
/// start rather than at every reconnect.
pub fn endpoint(config: &StreamConfig) -> Result<Endpoint, StreamError> {
    let bad = |message: String| StreamError::Collector {
        value: config.collector.clone(),
        env: "PROBESIM_COLLECTOR",
        message,
    };
    let mut endpoint = Endpoint::from_shared(config.collector.clone())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    if let Some(ca) = &config.tls.ca {
        let read = |path: &std::path::PathBuf| {
            std::fs::read(path).map_err(|source| StreamError::Read {
                path: path.clone(),
                source,
            })
        };
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
        if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        if let Some(domain) = &config.tls.domain {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| bad(e.to_string()))?;
    }
    Ok(endpoint)
}

/// An open stream.
#[derive(Debug)]
pub struct Session {
    pub outbound: mpsc::Sender<v1::AgentMessage>,
    pub inbound: mpsc::Receiver<Result<v1::CollectorMessage, Status>>,
    reader: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Connects and sends the hello; the welcome arrives on `inbound`.
pub async fn connect(
    endpoint: Endpoint,
    hello: v1::Hello,
    queue: usize,
) -> Result<Session, StreamError> {
    let uri = endpoint.uri().to_string();
    let failed = |message: String| StreamError::Connect {
        collector: uri.clone(),
        message,
    };
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| failed(error_chain(&e)))?;
    let mut client =
        IngestClient::new(channel).max_decoding_message_size(MAX_COLLECTOR_MESSAGE_BYTES);
    let (outbound, rx) = mpsc::channel(queue);
    let hello = v1::AgentMessage {
        message: Some(v1::agent_message::Message::Hello(hello)),
    };
    outbound
        .send(hello)
        .await
        .map_err(|_| failed("stream closed before the hello".into()))?;
    let mut responses = client
        .stream(ReceiverStream::new(rx))
        .await
        .map_err(|status| failed(format!("{}: {}", status.code(), status.message())))?
        .into_inner();
    let (tx, inbound) = mpsc::channel(queue);
    let reader = tokio::spawn(async move {
        loop {
            let message = responses.message().await;
            let end = !matches!(message, Ok(Some(_)));
            let item = match message {
                Ok(Some(m)) => Ok(m),
                Ok(None) => Err(Status::unavailable("the collector ended the stream")),
                Err(status) => Err(status),
            };
            if tx.send(item).await.is_err() || end {
                break;
            }
        }
    });
    Ok(Session {
        outbound,
        inbound,
        reader,
    })
}

/// An error with its sources, for the log (tonic's transport errors say little at the top).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
