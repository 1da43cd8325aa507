//! The CSRF and DNS-rebinding guard (issue 16.3): a state-changing request must be sent as JSON,
//! and a server without a token answers only loopback `Host` and `Origin` values. Through the
//! router and over real TCP.

mod http_support;

use axum::http::StatusCode;
use dongbo_engine::JobFilter;
use http_support::*;
use serde_json::json;

const TOKEN: &str = "guard-token-5c1d";

/// How many jobs the store holds.
async fn jobs(app: &TestApp) -> usize {
    let filter = JobFilter { limit: 100, ..JobFilter::default() };
    app.engine.store().list_jobs(&filter).await.expect("list the jobs").len()
}

#[tokio::test]
async fn an_empty_post_not_sent_as_json_is_refused_and_starts_no_job() {
    let app = app(None).await;
    for (content_type, body) in [("text/plain", ""), ("application/x-www-form-urlencoded", ""), ("text/plain", "{}")] {
        let a = call("POST", "/api/sync/bulk-sync-products")
            .header("host", "127.0.0.1:8080")
            .raw(content_type, body.as_bytes().to_vec())
            .send(&app.router)
            .await;
        let error = a.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(error.contains("application/json"), "{error}");
    }
    let bare = call("POST", "/api/sync/bulk-sync-products").without_content_type().send(&app.router).await;
    bare.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let cancel = call("DELETE", "/api/location-mappings/7").without_content_type().send(&app.router).await;
    cancel.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(jobs(&app).await, 0, "a refused trigger requested a job");

    let a = call("POST", "/api/sync/bulk-sync-products")
        .header("host", "127.0.0.1:8080")
        .header("origin", "http://127.0.0.1:8080")
        .send(&app.router)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{a:?}");
    assert_eq!(a.data()["type"], json!("PRODUCT_SYNC"));
    assert_eq!(jobs(&app).await, 1);
}

#[tokio::test]
async fn without_a_token_only_loopback_hosts_and_origins_are_served() {
    let app = app(None).await;
    for host in ["attacker.example", "attacker.example:8080", "localhost.attacker.example", "192.168.1.5:8080"] {
        let read = call("GET", "/api/jobs").header("host", host).send(&app.router).await;
        assert!(read.error(StatusCode::MISDIRECTED_REQUEST).contains(host), "{read:?}");
        let trigger = call("POST", "/api/sync/bulk-sync-products").header("host", host).send(&app.router).await;
        trigger.error(StatusCode::MISDIRECTED_REQUEST);
        call("GET", "/healthz").header("host", host).send(&app.router).await.error(StatusCode::MISDIRECTED_REQUEST);
    }
    for origin in ["http://attacker.example", "null", "http://127.0.0.1.attacker.example:8080"] {
        let a = call("POST", "/api/sync/bulk-sync-products")
            .header("host", "127.0.0.1:8080")
            .header("origin", origin)
            .send(&app.router)
            .await;
        a.error(StatusCode::FORBIDDEN);
    }
    assert_eq!(jobs(&app).await, 0, "a refused trigger requested a job");

    for host in ["127.0.0.1:8080", "[::1]:9000", "localhost", "LOCALHOST:1"] {
        let a = call("GET", "/api/jobs").header("host", host).send(&app.router).await;
        assert_eq!(a.status, StatusCode::OK, "{host}: {a:?}");
    }
}

#[tokio::test]
async fn with_a_token_a_non_loopback_host_is_served_but_json_is_still_required() {
    let app = app(Some(TOKEN)).await;
    let a = call("POST", "/api/sync/bulk-sync-products")
        .header("host", "dongbo.example.com")
        .header("origin", "https://dongbo.example.com")
        .token(TOKEN)
        .send(&app.router)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{a:?}");
    let plain = call("POST", "/api/sync/retry-failed")
        .header("host", "dongbo.example.com")
        .token(TOKEN)
        .raw("text/plain", Vec::new())
        .send(&app.router)
        .await;
    plain.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(jobs(&app).await, 1);
}

#[tokio::test]
async fn webhook_paths_are_exempt_from_the_guard() {
    let app = app(None).await;
    // The exempt path reaches the webhook route (whose secret this app lacks: 503), not the guard.
    let a = call("POST", "/api/webhooks/shopify")
        .header("host", "dongbo.example.com")
        .raw("text/plain", b"x".to_vec())
        .send(&app.router)
        .await;
    a.error(StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_openapi_document_lists_the_guards_refusals() {
    let doc = serde_json::to_value(dongbo_api::http::openapi()).unwrap();
    let trigger = &doc["paths"]["/api/sync/bulk-sync-products"]["post"]["responses"];
    for code in ["415", "421", "403"] {
        assert!(trigger.get(code).is_some(), "{code} missing: {trigger}");
    }
    let read = &doc["paths"]["/api/jobs"]["get"]["responses"];
    assert!(read.get("415").is_none() && read.get("421").is_some(), "{read}");
}

#[tokio::test]
async fn over_tcp_a_cross_site_post_and_a_rebound_host_are_refused() {
    let app = app(None).await;
    let server = spawn_server(app.state.clone()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/sync/bulk-sync-products", server.base);

    let plain = client.post(&url).header("content-type", "text/plain").body("").send().await.unwrap();
    assert_eq!(plain.status(), 415);
    let body: serde_json::Value = plain.json().await.unwrap();
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(jobs(&app).await, 0, "a text/plain POST requested a job");

    let rebound = client.get(format!("{}/api/jobs", server.base)).header("host", "attacker.example").send().await;
    let rebound = rebound.unwrap();
    assert_eq!(rebound.status(), 421);
    let body: serde_json::Value = rebound.json().await.unwrap();
    assert_eq!(body["success"], json!(false), "{body}");

    let proper = client.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(proper.status(), 202);
    assert_eq!(jobs(&app).await, 1);
    let _ = server.stop.send(());

    let guarded = app_with_token_server().await;
    let answer = client
        .get(format!("{}/api/jobs", guarded.1.base))
        .header("host", "dongbo.example.com")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let _ = guarded.1.stop.send(());
}

async fn app_with_token_server() -> (TestApp, Server) {
    let app = app(Some(TOKEN)).await;
    let server = spawn_server(app.state.clone()).await;
    (app, server)
}
