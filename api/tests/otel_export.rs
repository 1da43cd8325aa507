//! OpenTelemetry export (issue 17.6): a `dongbo` built with the `otel` feature — as the workspace's
//! test build is, through the tests crate — sends its job, step and upstream-call spans over
//! OTLP/HTTP to the collector named by `OTEL_EXPORTER_OTLP_ENDPOINT`, under the service `dongbo`;
//! without the variable it sends nothing. The collector here is a real HTTP server that keeps
//! every request it is sent; the spans are read from the protobuf bodies by the strings they carry
//! (span names, attribute values), which protobuf stores as plain UTF-8.

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use dongbo_simulator::{SimConfig, Simulator};
use serde_json::Value;

/// What the collector was sent: (path, content type, body).
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A collector on a free loopback port: `http://127.0.0.1:port` and what it receives.
async fn collector() -> (String, Received) {
    let received: Received = Arc::default();
    async fn keep(State(r): State<Received>, headers: HeaderMap, uri: axum::http::Uri, body: Bytes) {
        let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        r.lock().unwrap().push((uri.path().to_string(), kind, body.to_vec()));
    }
    let app = Router::new().route("/v1/traces", post(keep)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// `dongbo run PULL_NHANH_CUSTOMERS` against `sim` with extra environment; its job row.
async fn run_pull(sim: &Simulator, extra: &[(&str, &str)]) -> Value {
    let db = dongbo_tests::sqlite_db();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dongbo"));
    cmd.args(["run", "PULL_NHANH_CUSTOMERS", "--input", r#"{"mode":"full"}"#, "--db", &db.url])
        .envs(sim.env())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .envs(extra.iter().copied());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run dongbo")).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the job as JSON")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_a_job_its_steps_and_its_upstream_calls_reach_the_collector() {
    if !cfg!(feature = "otel") {
        // `cargo test --workspace` (the README's command, and CI's) builds dongbo with `otel`.
        assert!(std::env::var_os("CI").is_none(), "CI must build dongbo with the `otel` feature");
        eprintln!("SKIPPED: dongbo-api was built without the `otel` feature; run `cargo test --workspace`");
        return;
    }
    let config = SimConfig { customers: 150, products: 10, ..SimConfig::default() };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.unwrap();
    let (endpoint, received) = collector().await;

    // Without the endpoint nothing is exported.
    let quiet = run_pull(&sim, &[("DONGBO_LOG", "info")]).await;
    assert_eq!(quiet["status"], "COMPLETED", "{quiet}");
    assert!(received.lock().unwrap().is_empty(), "spans sent with no endpoint set");

    let job = run_pull(&sim, &[("DONGBO_LOG", "info"), ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let job_id = job["id"].as_str().expect("the job's id").to_string();

    let received = received.lock().unwrap().clone();
    assert!(!received.is_empty(), "the collector received nothing");
    for (path, kind, _) in &received {
        assert_eq!(path, "/v1/traces");
        assert_eq!(kind, "application/x-protobuf", "OTLP/HTTP sends protobuf");
    }
    let all: Vec<u8> = received.iter().flat_map(|(_, _, body)| body.iter().copied()).collect();
    for needle in ["dongbo", "job", "step", "upstream", job_id.as_str(), "PULL_NHANH_CUSTOMERS", "nhanh"] {
        assert!(contains(&all, needle), "no `{needle}` in the exported spans");
    }
    // The quiet run's job is not in them: only the exporting process sent spans.
    assert!(!contains(&all, quiet["id"].as_str().unwrap()), "the quiet run's spans were exported");
    sim.shutdown().await;
}
