//! Connection bounds over real TCP (issue 16.7): a half-sent request is closed after the header
//! timeout, connections past the limit are refused with a 503 in the envelope, and so is the
//! event stream past the stream limit.

mod http_support;

use std::time::Duration;

use dongbo_api::http::ConnectionLimits;
use http_support::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limits(header_timeout: Duration, max_connections: usize, max_streams: usize) -> ConnectionLimits {
    ConnectionLimits { header_timeout, max_connections, max_streams }
}

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Reads from `tcp` until what was read contains `needle`.
async fn read_until(tcp: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = tcp.read(&mut buf).await.expect("read");
        assert!(n > 0, "the connection closed before `{needle}`: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// A connection that has been served one request and stays open (keep-alive).
async fn held_connection(server: &Server) -> TcpStream {
    let mut tcp = TcpStream::connect(addr(server)).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let head = within(10, "the held connection's answer", read_until(&mut tcp, "\"ok\"")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tcp
}

/// A client that opens a fresh connection per request.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}

/// Polls `url` until it answers 200 (a fresh connection each time).
async fn until_ok(url: &str) {
    let client = fresh_client();
    loop {
        if client.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let app = app(None).await;
    let server = spawn_server(app.state.clone().with_limits(limits(Duration::from_millis(300), 16, 4))).await;
    let mut tcp = TcpStream::connect(addr(&server)).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    let mut answer = Vec::new();
    // EOF or a reset: either way the server let go of the connection.
    let _ = within(10, "the server to close a half-sent request", tcp.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "{}", String::from_utf8_lossy(&answer));

    // A whole request on another connection is served as usual.
    let ok = reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let _ = server.stop.send(());
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_with_a_503_until_one_closes() {
    let app = app(None).await;
    let server = spawn_server(app.state.clone().with_limits(limits(Duration::from_secs(60), 2, 2))).await;
    let first = held_connection(&server).await;
    let _second = held_connection(&server).await;

    let url = format!("{}/healthz", server.base);
    let refused = within(10, "the refusal", fresh_client().get(&url).send()).await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["success"], json!(false), "{body}");
    assert!(body["error"].as_str().unwrap().contains("connections"), "{body}");

    drop(first);
    within(10, "a connection to be served once one closed", until_ok(&url)).await;
    let _ = server.stop.send(());
}

#[tokio::test]
async fn the_event_stream_past_the_limit_is_a_503_until_one_ends() {
    let app = app(None).await;
    let server = spawn_server(app.state.clone().with_limits(limits(Duration::from_secs(60), 16, 1))).await;
    let id = trigger(&app.router, "/api/nhanh/pull-products", None).await;
    let url = format!("{}/api/jobs/{id}/stream", server.base);

    let mut open = reqwest::get(&url).await.unwrap();
    assert_eq!(open.status(), 200);
    within(10, "the first event", open.chunk()).await.unwrap().expect("a first event");

    let refused = reqwest::get(&url).await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["success"], json!(false), "{body}");
    assert!(body["error"].as_str().unwrap().contains("event streams"), "{body}");

    // Cancelling the (unclaimed) job finishes it: the open stream ends and gives its place back.
    let cancelled = fresh_client()
        .post(format!("{}/api/jobs/{id}/cancel", server.base))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    within(10, "the open stream to end", async { while open.chunk().await.unwrap_or(None).is_some() {} }).await;
    within(10, "a stream to be served once the first ended", until_ok(&url)).await;
    let _ = server.stop.send(());
}
