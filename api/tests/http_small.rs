//! The small HTTP hardening items of issue 16.9: a token with surrounding spaces, the demo's
//! `--listen` check, bounded echoes of bad input, and an enveloped 414.

mod http_support;

use std::time::Duration;

use axum::http::StatusCode;
use http_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_configured_token_with_surrounding_whitespace_still_lets_its_holder_in() {
    let app = app(Some("  s3cret-token \n")).await;
    let a = call("GET", "/api/jobs").token("s3cret-token").send(&app.router).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    call("GET", "/api/jobs").token("other").send(&app.router).await.error(StatusCode::UNAUTHORIZED);
    call("GET", "/api/jobs").send(&app.router).await.error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_demo_refuses_to_serve_beyond_loopback() {
    let db = dongbo_tests::sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dongbo"))
        .args(["demo", "--serve", "--listen", "0.0.0.0:0", "--products", "5", "--customers", "5", "--db", &db.url])
        .current_dir(dir.path())
        .kill_on_drop(true)
        .output();
    let out = within(120, "the demo to refuse its --listen", child).await.expect("run dongbo demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0"), "{stderr}");
}

/// Asserts that an error message is cut short with an ellipsis.
fn assert_bounded(error: &str) {
    assert!(error.chars().count() <= 401, "{} characters: {error}", error.chars().count());
    assert!(error.ends_with('…'), "{error}");
}

#[tokio::test]
async fn bad_input_is_echoed_at_most_a_few_hundred_characters() {
    let app = app(None).await;
    let huge = "x".repeat(20_000);
    let body = json!({ "dryRun": huge });
    let a = call("POST", "/api/sync/auto-match").json(&body).send(&app.router).await;
    assert_bounded(a.error(StatusCode::UNPROCESSABLE_ENTITY));
    let mut unknown = serde_json::Map::new();
    unknown.insert(huge.clone(), json!(1));
    let a = call("POST", "/api/sync/auto-match").json(&Value::Object(unknown)).send(&app.router).await;
    assert_bounded(a.error(StatusCode::UNPROCESSABLE_ENTITY));
    let long_query = "9".repeat(3_000);
    let a = call("GET", &format!("/api/jobs?limit={long_query}")).send(&app.router).await;
    assert!(a.error(StatusCode::BAD_REQUEST).chars().count() <= 401, "{a:?}");
    let a = call("GET", &format!("/api/jobs?status={}", "S".repeat(3_000))).send(&app.router).await;
    assert!(a.error(StatusCode::BAD_REQUEST).chars().count() <= 401, "{a:?}");
}

#[tokio::test]
async fn a_request_target_over_the_limit_is_a_414_in_the_envelope() {
    let app = app(None).await;
    let target = format!("/api/jobs?type={}", "A".repeat(10_000));
    let a = call("GET", &target).send(&app.router).await;
    assert!(a.error(StatusCode::URI_TOO_LONG).contains("longer than the limit"), "{a:?}");

    let server = spawn_server(app.state.clone()).await;
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{}{target}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 414);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["success"], json!(false), "{body}");
    let _ = server.stop.send(());
}
