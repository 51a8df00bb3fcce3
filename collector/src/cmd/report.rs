//! `probesim-collector report`: the findings of a running collector, in words.
//!
//! A thin client of the collector's `/api/v1/report`, so that it works where the collector runs
//! (`kubectl exec deploy/probesim-collector -- probesim-collector report`) and from anywhere
//! that reaches its HTTP port (`kubectl port-forward`).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::report::Format;

/// Where the collector's HTTP API is, unless configured: the collector's own listener.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9472";
/// How long to wait for the collector's answer: a report over a long range reads a lot.
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The collector's HTTP API.
    #[arg(long, env = "PROBESIM_COLLECTOR_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// How far back the report looks (`90s`, `10m`, `2h`).
    #[arg(long, env = "PROBESIM_REPORT_SINCE", default_value = "10m", value_parser = parse_duration)]
    pub since: Duration,
    /// Only this Service (`namespace/name`).
    #[arg(long, env = "PROBESIM_REPORT_SERVICE", value_name = "NS/NAME")]
    pub service: Option<String>,
    /// `text`, `markdown` or `json` (collector/REPORT.md).
    #[arg(long, env = "PROBESIM_REPORT_FORMAT", default_value = "text", value_parser = parse_format)]
    pub format: Format,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    probesim_agent::duration::parse(text).map_err(|e| e.to_string())
}

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse()
        .map_err(|e: crate::report::ReportError| e.to_string())
}

/// The request path and query for these arguments at `now`.
pub fn path(args: &ReportArgs, now: SystemTime) -> String {
    let from = now
        .checked_sub(args.since)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let from_ms = from
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("from", &from_ms.to_string());
    query.append_pair("format", args.format.as_str());
    if let Some(service) = &args.service {
        query.append_pair("service", service);
    }
    format!("/api/v1/report?{}", query.finish())
}

/// Fetches the report and returns its text.
pub async fn run(args: ReportArgs) -> anyhow::Result<String> {
    let target = format!(
        "{}{}",
        args.url.trim_end_matches('/'),
        path(&args, SystemTime::now())
    );
    let uri: http::Uri = target
        .parse()
        .map_err(|e| anyhow::anyhow!("--url {:?}: {e}", args.url))?;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(TIMEOUT, client.get(uri))
        .await
        .map_err(|_| anyhow::anyhow!("{target}: no answer within {TIMEOUT:?}"))?
        .map_err(|e| anyhow::anyhow!("{target}: {e} (is the collector running? --url)"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("{target}: reading the answer: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        anyhow::bail!("{target}: {status}: {}", text.trim());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_request_names_the_range_format_and_service() {
        let args = ReportArgs {
            url: DEFAULT_URL.into(),
            since: Duration::from_secs(600),
            service: Some("default/web".into()),
            format: Format::Markdown,
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_600);
        assert_eq!(
            path(&args, now),
            "/api/v1/report?from=1700000000000&format=markdown&service=default%2Fweb"
        );
    }
}
