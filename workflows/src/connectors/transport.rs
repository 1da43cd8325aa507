//! Sending one HTTP request and turning transport failures into [`ConnectorError`]s. Shared by
//! both clients; knows nothing of either protocol.

use std::error::Error as _;
use std::time::Duration;

use super::error::{ConnectorError, Result};

/// The parts of an HTTP reply the protocol readers need.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub status: u16,
    /// `Retry-After` in seconds, when the server sent one.
    pub retry_after: Option<Duration>,
    /// Every header of the reply (e.g. Shopify's `X-Shopify-API-Version`).
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// An HTTP client sending `headers` on every request, with this per-request timeout (connect +
/// send + whole body).
pub(crate) fn http_client(headers: reqwest::header::HeaderMap, timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| ConnectorError::permanent(format!("cannot build the HTTP client: {}", describe(e))))
}

/// A reqwest error in words, without the URL (which may carry signed parameters) and with
/// its causes, so "connection refused" is not lost behind "error sending request".
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Sends `request` for `call` and reads the whole body. Timeouts and connection failures are
/// transient; the caller judges the status and the body.
pub(crate) async fn send(request: reqwest::RequestBuilder, call: &str) -> Result<HttpReply> {
    let transport = |e: reqwest::Error| {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "transport error"
        };
        ConnectorError::transient(format!("{call}: {what} ({})", describe(e)))
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport)?.to_vec();
    Ok(HttpReply { status, retry_after, headers, body })
}
