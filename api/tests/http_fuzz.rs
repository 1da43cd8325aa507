//! Many malformed and random requests against every route: none may get a 5xx, and every `/api`
//! answer and every error answer must be the envelope (JSON with a boolean `success`).

mod http_support;

use axum::http::StatusCode;
use http_support::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

const TOKEN: &str = "fuzz-token-77aa";

#[derive(Debug, Clone)]
struct RandomRequest {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    auth: Option<String>,
    content_type: Option<String>,
    idempotency_key: Option<String>,
    body: Vec<u8>,
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("dryRun".to_owned()),
                    Just("mappingIds".to_owned()),
                    Just("forceSync".to_owned()),
                    Just("limit".to_owned()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(Vec::new()),
        2 => prop::collection::vec(any::<u8>(), 0..64),
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => (any::<Option<bool>>(), any::<Option<i64>>(), any::<Option<bool>>()).prop_map(|(dry, limit, force)| {
            serde_json::json!({"dryRun": dry, "limit": limit, "forceSync": force}).to_string().into_bytes()
        }),
        1 => (0usize..64).prop_map(|extra| vec![b'['; (1 << 20) + extra]),
    ]
}

/// A route of the design (or a near miss), its `{id}` filled in, usually with its own method.
fn route(job_id: String) -> impl Strategy<Value = (String, String)> {
    let mut routes: Vec<(&str, &str)> = design_routes();
    routes.extend([("GET", "/api"), ("GET", "/api/"), ("GET", "/api/jobs/"), ("GET", "/api/jobs/{id}/nope")]);
    routes.extend([("POST", "/api//jobs"), ("GET", "/nope")]);
    let id = prop_oneof![
        3 => Just(job_id),
        2 => Just(uuid::Uuid::new_v4().to_string()),
        2 => "[a-zA-Z0-9._~-]{0,40}",
        1 => Just("%FF%FE".to_owned()),
        1 => Just("%00".to_owned()),
    ];
    let other_method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PURGE"]);
    (prop::sample::select(routes), id, any::<u8>(), other_method).prop_map(|((method, template), id, dice, other)| {
        let method = if dice < 192 { method } else { other };
        (method.to_owned(), template.replace("{id}", &id))
    })
}

fn request(job_id: String) -> impl Strategy<Value = RandomRequest> {
    let key =
        prop::sample::select(vec!["type", "status", "cursor", "limit", "after", "page", "all", "jobId", "entity", "x"]);
    let value = prop_oneof![".{0,16}", "-?[0-9]{1,12}", Just("true".to_owned()), Just("example_item:0".to_owned())];
    let query = prop::collection::vec((key.prop_map(String::from), value), 0..4);
    let auth = prop_oneof![
        4 => Just(Some(format!("Bearer {TOKEN}"))),
        1 => Just(None),
        1 => "[ -~]{0,30}".prop_map(Some),
    ];
    let content_type = prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("text/plain".to_owned())),
        "[ -~]{0,20}".prop_map(Some),
    ];
    let idempotency_key = prop_oneof![3 => Just(None), 1 => "[!-~]{0,300}".prop_map(Some)];
    (route(job_id), query, auth, content_type, idempotency_key, body()).prop_map(
        |((method, path), query, auth, content_type, idempotency_key, body)| RandomRequest {
            method,
            path,
            query,
            auth,
            content_type,
            idempotency_key,
            body,
        },
    )
}

async fn check(app: &TestApp, r: &RandomRequest) -> Result<(), TestCaseError> {
    let mut uri = r.path.clone();
    if !r.query.is_empty() {
        let q: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
        uri = format!("{uri}?{}", q.join("&"));
    }
    if uri.parse::<axum::http::Uri>().is_err() {
        return Ok(());
    }
    let mut c = call(&r.method, &uri);
    if let Some(a) = &r.auth {
        c = c.header("authorization", a);
    }
    if let Some(k) = &r.idempotency_key {
        c = c.header("idempotency-key", k);
    }
    c = match &r.content_type {
        Some(ct) => c.raw(ct, r.body.clone()),
        None if r.body.is_empty() => c.without_content_type(),
        None => c.raw("application/json", r.body.clone()),
    };
    let response = c.send_head(&app.router).await;
    let status = response.status();
    prop_assert!(!status.is_server_error(), "{} {uri} answered {status}", r.method);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if status == StatusCode::OK && content_type.starts_with("text/event-stream") {
        // A live stream of a real job: its head is all there is to check.
        return Ok(());
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20).await.expect("read the body");
    let must_be_envelope = r.path.starts_with("/api") || status.is_client_error();
    if r.method == "HEAD" || !must_be_envelope {
        return Ok(());
    }
    let json: Result<Value, _> = serde_json::from_slice(&bytes);
    let Ok(json) = json else {
        return Err(TestCaseError::fail(format!(
            "{} {uri} answered {status} without JSON: {}",
            r.method,
            String::from_utf8_lossy(&bytes)
        )));
    };
    prop_assert_eq!(
        json["success"].as_bool(),
        Some(status.is_success()),
        "{} {} answered {}: {}",
        r.method,
        uri,
        status,
        json
    );
    if !status.is_success() {
        prop_assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "no error message: {}", json);
    }
    Ok(())
}

#[test]
fn random_and_malformed_requests_never_get_a_5xx_or_an_answer_outside_the_envelope() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = runtime.block_on(app(Some(TOKEN)));
    let job_id = runtime.block_on(trigger(&app.router, "/api/nhanh/pull-products", Some(TOKEN)));
    let mut runner = TestRunner::new(Config { cases: 600, failure_persistence: None, ..Config::default() });
    runner.run(&request(job_id), |r| runtime.block_on(check(&app, &r))).unwrap_or_else(|e| panic!("{e}"));
}
