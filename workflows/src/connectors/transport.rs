//! Sending one HTTP request and turning transport failures into [`ConnectorError`]s. Shared by
//! both clients; knows nothing of either protocol.

use std::error::Error as _;
use std::time::Duration;

use super::error::{ConnectorError, Result};
use super::retry::upstream_seconds;

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

/// A `Retry-After` value in seconds (RFC 9110 §10.2.3: delay-seconds; the HTTP-date form is not
/// used by either upstream and reads as no wait). A number too large to hold saturates, for
/// [`RetryPolicy::bounded`](super::retry::RetryPolicy::bounded) to refuse with a reason.
fn retry_after_seconds(value: &str) -> Option<Duration> {
    upstream_seconds(value.trim().parse::<f64>().ok()?)
}

/// A transport failure of `call` as a transient error: timeouts and connection failures.
pub(crate) fn transport_error(call: &str, e: reqwest::Error) -> ConnectorError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    ConnectorError::transient(format!("{call}: {what} ({})", describe(e)))
}

/// The span of one attempt at an upstream call: `vendor` (`nhanh`, `shopify`), `endpoint` (the
/// Nhanh URL or the Shopify operation), `attempt` (1 for the first try), and, recorded as they
/// become known, `slot` (Nhanh's shared pacing) or `cost_estimate`/`cost_requested`/
/// `cost_actual`/`bucket_available` (Shopify's query cost), `waited_ms` (held by the limiter),
/// `status` (HTTP), `elapsed_ms` and `result`. Its parent is the current span — the engine's step
/// span when a worker runs the call — so `DONGBO_LOG=info` shows each call inside its job's story.
pub(crate) fn upstream_span(vendor: &'static str, endpoint: &'static str, attempt: u32) -> tracing::Span {
    use tracing::field::Empty;
    tracing::info_span!(
        "upstream",
        vendor,
        endpoint,
        attempt,
        slot = Empty,
        cost_estimate = Empty,
        cost_requested = Empty,
        cost_actual = Empty,
        bucket_available = Empty,
        waited_ms = Empty,
        status = Empty,
        elapsed_ms = Empty,
        result = Empty,
    )
}

/// Sends `request` for `call` and returns the response with its body unread, for a caller that
/// streams it (`Response::chunk`, its failures read with [`transport_error`]).
pub(crate) async fn open(request: reqwest::RequestBuilder, call: &str) -> Result<reqwest::Response> {
    request.send().await.map_err(|e| transport_error(call, e))
}

/// The `Retry-After` of `response`, read as [`retry_after_seconds`] does.
pub(crate) fn response_retry_after(response: &reqwest::Response) -> Option<Duration> {
    response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after_seconds)
}

/// Sends `request` for `call` and reads the whole body. Timeouts and connection failures are
/// transient; the caller judges the status and the body.
pub(crate) async fn send(request: reqwest::RequestBuilder, call: &str) -> Result<HttpReply> {
    let response = open(request, call).await?;
    let status = response.status().as_u16();
    let retry_after = response_retry_after(&response);
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| transport_error(call, e))?.to_vec();
    Ok(HttpReply { status, retry_after, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::retry::RetryPolicy;

    #[test]
    fn retry_after_reads_seconds_and_saturates_absurd_ones() {
        assert_eq!(retry_after_seconds(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(retry_after_seconds("1e20"), Some(Duration::MAX));
        assert_eq!(retry_after_seconds("-4"), None);
        assert_eq!(retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    proptest::proptest! {
        #[test]
        fn no_retry_after_header_panics_or_outwaits_the_cap(value in ".*", seconds in proptest::num::f64::ANY) {
            let p = RetryPolicy::default();
            for text in [value, seconds.to_string(), format!("{seconds:e}")] {
                let asked = retry_after_seconds(&text);
                let e = p.bounded(ConnectorError::Transient { reason: "r".into(), retry_after: asked });
                proptest::prop_assert!(e.retry_after().is_none_or(|w| w <= p.max_wait));
            }
        }
    }
}
