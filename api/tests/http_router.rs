//! The HTTP API through the router: every route of DESIGN.md, triggers that only request,
//! the job views, the envelope on every failure, the token, metrics and the OpenAPI document.

mod http_support;

use axum::http::StatusCode;
use dongbo_engine::{JobId, Registry, WorkerConfig, WorkerId};
use http_support::*;
use serde_json::{json, Value};

const TOKEN: &str = "test-token-ab12";

fn job_id(s: &str) -> JobId {
    s.parse().expect("a job id")
}

#[tokio::test]
async fn every_route_of_the_design_answers_with_something_other_than_404_or_405() {
    let app = app(None).await;
    let id = trigger(&app.router, "/api/nhanh/pull-products", None).await;
    for (method, template) in design_routes() {
        let path = template.replace("{id}", &id);
        let path = match path.as_str() {
            "/api/sync/job-progress" => format!("{path}?jobId={id}"),
            "/api/audit" => format!("{path}?entity=example_item:0"),
            _ => path,
        };
        // The stream never ends on its own: look at the head only.
        let response = call(method, &path).send_head(&app.router).await;
        let status = response.status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} answered {status}"
        );
        assert!(status.is_success(), "{method} {path} answered {status}");
    }
}

/// The input each trigger must request when called with an empty body.
fn expected_input(path: &str) -> Value {
    match path {
        "/api/nhanh/pull-customers-all" | "/api/nhanh/pull-customers" | "/api/nhanh/pull-products" => {
            json!({"mode": "full"})
        }
        "/api/nhanh/pull-customers-incremental" => json!({"mode": "incremental"}),
        "/api/shopify/pull-products-sync" | "/api/shopify/pull-customers" => {
            json!({"mode": "auto", "incremental": false})
        }
        "/api/sync/auto-match-products" => json!({"strategy": "memory", "dryRun": false}),
        "/api/sync/bulk-sync-products" | "/api/sync/bulk-sync-background" => json!({"forceSync": true}),
        "/api/sync/auto-match" => json!({"strategy": "memory", "dryRun": false}),
        "/api/sync/auto-match-sql" => json!({"strategy": "sql", "dryRun": false}),
        "/api/sync/auto-match-batch" => json!({"strategy": "batch", "dryRun": false}),
        _ => json!({}),
    }
}

#[tokio::test]
async fn a_trigger_answers_202_with_a_pending_job_and_runs_nothing_inside_the_request() {
    for (path, job_type) in TRIGGERS {
        // A fresh app each: the stubs allow one unfinished job per type.
        let app = app(None).await;
        let a = call("POST", path).send(&app.router).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{path}: {a:?}");
        let data = a.data();
        assert_eq!(data["type"], json!(job_type), "{path}");
        assert_eq!(data["status"], json!("PENDING"), "{path}");
        assert!(data.get("existing").is_none(), "{path}: a new job is not flagged: {data}");
        let id = job_id(data["jobId"].as_str().expect("jobId"));
        let store = app.engine.store();
        let job = store.job(id).await.unwrap().expect("the job exists");
        assert_eq!(job.status.as_str(), "PENDING", "{path}");
        let events = store.events(id, 0, 100).await.unwrap();
        let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["JobRequested"], "{path}: nothing but the request is recorded");
        assert_eq!(events[0].payload["input"], expected_input(path), "{path}");
        assert_eq!(events[0].payload["requestedBy"], json!("api"), "{path}");
    }
}

#[tokio::test]
async fn trigger_options_of_the_old_tool_reach_the_job_input() {
    let cases = [
        ("/api/sync/auto-match-sql", json!({"dryRun": true}), json!({"strategy": "sql", "dryRun": true})),
        ("/api/sync/auto-match-products", json!({"dryRun": true}), json!({"strategy": "memory", "dryRun": true})),
        (
            "/api/sync/bulk-sync-products",
            json!({"mappingIds": [1, "2"], "forceSync": true}),
            json!({"mappingIds": [1, 2], "forceSync": true}),
        ),
        ("/api/sync/bulk-sync-background", json!({"forceSync": false}), json!({"forceSync": false})),
        ("/api/sync/retry-failed", json!({"limit": 5}), json!({"limit": 5})),
        ("/api/nhanh/pull-products", json!({}), json!({"mode": "full"})),
        ("/api/sync/auto-match-products", json!(null), json!({"strategy": "memory", "dryRun": false})),
    ];
    for (path, body, input) in cases {
        let app = app(None).await;
        let a = call("POST", path).json(&body).send(&app.router).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{path}: {a:?}");
        let id = job_id(a.data()["jobId"].as_str().unwrap());
        let events = app.engine.store().events(id, 0, 10).await.unwrap();
        assert_eq!(events[0].payload["input"], input, "{path} with {body}");
    }
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_job_flagged_as_existing() {
    let app = app(None).await;
    let first = call("POST", "/api/sync/retry-failed").header("idempotency-key", "k-1").send(&app.router).await;
    let first_id = first.data()["jobId"].clone();
    let again = call("POST", "/api/sync/retry-failed").header("idempotency-key", "k-1").send(&app.router).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.data()["jobId"], first_id);
    assert_eq!(again.data()["existing"], json!("idempotencyKey"));
    let blank = call("POST", "/api/sync/retry-failed").header("idempotency-key", " ").send(&app.router).await;
    blank.error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_trigger_while_its_job_is_unfinished_gets_that_job_back_flagged_already_running() {
    let app = app(None).await;
    let first = trigger(&app.router, "/api/nhanh/pull-customers-all", None).await;
    let again = call("POST", "/api/nhanh/pull-customers").send(&app.router).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.data()["jobId"], json!(first));
    assert_eq!(again.data()["existing"], json!("alreadyRunning"));
}

#[tokio::test]
async fn a_job_type_missing_from_this_build_answers_503_in_the_envelope() {
    let mut only_example = Registry::new();
    only_example.register(dongbo_engine::example::ExampleCount);
    let app = app_with(None, only_example).await;
    let a = call("POST", "/api/sync/bulk-sync-products").send(&app.router).await;
    let error = a.error(StatusCode::SERVICE_UNAVAILABLE);
    assert!(error.contains("PRODUCT_SYNC"), "{error}");
}

#[tokio::test]
async fn input_the_workflow_refuses_answers_400_with_its_message() {
    let app = app(None).await;
    let a = call("POST", "/api/sync/retry-failed").json(&json!({"limit": 5000})).send(&app.router).await;
    let error = a.error(StatusCode::BAD_REQUEST);
    assert!(error.contains("limit must be at most 1000"), "{error}");
}

const JOB_FIELDS: [&str; 14] = [
    "id",
    "type",
    "status",
    "total",
    "processed",
    "successful",
    "failed",
    "metadata",
    "error",
    "createdAt",
    "startedAt",
    "updatedAt",
    "completedAt",
    "attempts",
];

fn assert_background_job(job: &Value) {
    let obj = job.as_object().unwrap_or_else(|| panic!("not an object: {job}"));
    for field in JOB_FIELDS {
        assert!(obj.contains_key(field), "field {field} missing from {job}");
    }
}

#[tokio::test]
async fn a_jobs_json_has_every_field_of_the_background_job() {
    let app = app(None).await;
    let id = trigger(&app.router, "/api/sync/auto-match", None).await;
    let one = call("GET", &format!("/api/jobs/{id}")).send(&app.router).await;
    assert_background_job(one.data());
    assert_eq!(one.data()["id"], json!(id));
    let list = call("GET", "/api/jobs").send(&app.router).await;
    assert_background_job(&list.data()["items"][0]);
    let progress = call("GET", &format!("/api/sync/job-progress?jobId={id}")).send(&app.router).await;
    assert_background_job(progress.data());
}

#[tokio::test]
async fn an_unknown_job_is_a_404_and_a_malformed_id_a_400_in_the_envelope() {
    let app = app(None).await;
    let unknown = JobId::new();
    for (method, template) in VIEWS.iter().filter(|(_, p)| p.contains("{id}")) {
        let a = call(method, &template.replace("{id}", &unknown.to_string())).send(&app.router).await;
        let error = a.error(StatusCode::NOT_FOUND);
        assert!(error.contains(&unknown.to_string()), "{template}: {error}");
        let a = call(method, &template.replace("{id}", "not-a-uuid")).send(&app.router).await;
        a.error(StatusCode::BAD_REQUEST);
    }
    call("GET", &format!("/api/sync/job-progress?jobId={unknown}"))
        .send(&app.router)
        .await
        .error(StatusCode::NOT_FOUND);
    call("GET", "/api/sync/job-progress?jobId=zzz").send(&app.router).await.error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_the_envelope() {
    let app = app(None).await;
    call("GET", "/api/nope").send(&app.router).await.error(StatusCode::NOT_FOUND);
    call("GET", "/nope/at/all").send(&app.router).await.error(StatusCode::NOT_FOUND);
    let a = call("GET", "/api/sync/retry-failed").send(&app.router).await;
    a.error(StatusCode::METHOD_NOT_ALLOWED);
    call("DELETE", "/api/jobs").send(&app.router).await.error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn malformed_json_wrong_types_and_oversized_bodies_are_4xx_in_the_envelope() {
    let app = app(None).await;
    let r = &app.router;
    let path = "/api/sync/auto-match";
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("application/json", b"{\"dryRun\":".to_vec(), StatusCode::BAD_REQUEST),
        ("application/json", b"not json".to_vec(), StatusCode::BAD_REQUEST),
        ("application/json", b"{\"dryRun\":\"yes\"}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("application/json", b"{\"surprise\":1}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("application/json", b"[1,2]".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("application/json", b"\"x\"".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("text/plain", b"{\"dryRun\":true}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("application/json", vec![b' '; 2 << 20], StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (content_type, body, status) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        let a = call("POST", path).raw(content_type, body).send(r).await;
        assert_eq!(a.status, status, "{content_type} {shown}: {a:?}");
        a.error(status);
    }
    let wrong_types = [
        ("/api/sync/bulk-sync-products", json!({"mappingIds": "all"})),
        ("/api/sync/bulk-sync-background", json!({"forceSync": 1})),
        ("/api/sync/retry-failed", json!({"limit": -3})),
        ("/api/nhanh/pull-products", json!({"page": 2})),
    ];
    for (path, body) in wrong_types {
        call("POST", path).json(&body).send(r).await.error(StatusCode::UNPROCESSABLE_ENTITY);
    }
    for query in ["limit=abc", "limit=0", "limit=201", "status=SLEEPING", "cursor=nope"] {
        call("GET", &format!("/api/jobs?{query}")).send(r).await.error(StatusCode::BAD_REQUEST);
    }
    for query in ["", "?entity=nocolon", "?entity=:1", "?entity=a:1&limit=x"] {
        call("GET", &format!("/api/audit{query}")).send(r).await.error(StatusCode::BAD_REQUEST);
    }
    call("GET", "/api/sync/job-progress").send(r).await.error(StatusCode::BAD_REQUEST);
    call("GET", "/api/sync/job-progress?all=maybe").send(r).await.error(StatusCode::BAD_REQUEST);
    let id = trigger(r, "/api/nhanh/pull-products", None).await;
    call("GET", &format!("/api/jobs/{id}/events?after=-1")).send(r).await.error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_requests_without_or_with_a_wrong_token_are_401_and_the_right_token_passes() {
    let app = app(Some(TOKEN)).await;
    let r = &app.router;
    let id = trigger(r, "/api/nhanh/pull-products", Some(TOKEN)).await;
    for (method, template) in design_routes().into_iter().filter(|(_, p)| p.starts_with("/api/")) {
        let path = template.replace("{id}", &id);
        call(method, &path).send(r).await.error(StatusCode::UNAUTHORIZED);
        call(method, &path).token("wrong-token-ab12").send(r).await.error(StatusCode::UNAUTHORIZED);
        call(method, &path).token(&TOKEN[..TOKEN.len() - 1]).send(r).await.error(StatusCode::UNAUTHORIZED);
        call(method, &path).header("authorization", TOKEN).send(r).await.error(StatusCode::UNAUTHORIZED);
        let a = call(method, &path).header("authorization", &format!("Basic {TOKEN}")).send(r).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(a.json.as_ref().map(|j| j["success"].clone()), Some(json!(false)));
    }
    let ok = call("GET", &format!("/api/jobs/{id}")).token(TOKEN).send(r).await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    let ok = call("GET", &format!("/api/jobs/{id}")).header("authorization", &format!("bearer {TOKEN}")).send(r).await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    // Unknown /api paths do not reveal whether they exist.
    call("GET", "/api/secret-route").send(r).await.error(StatusCode::UNAUTHORIZED);
    for open in ["/healthz", "/metrics", "/openapi.json", "/"] {
        assert_eq!(call("GET", open).send(r).await.status, StatusCode::OK, "{open} needs no token");
    }
}

#[tokio::test]
async fn jobs_are_listed_newest_first_filtered_and_paged_by_cursor() {
    let app = app(None).await;
    let r = &app.router;
    let mut ids = Vec::new();
    for (path, _) in TRIGGERS.iter().filter(|(_, t)| *t != "PULL_NHANH_CUSTOMERS" && *t != "AUTO_MATCH_CUSTOMERS") {
        ids.push(trigger(r, path, None).await);
    }
    assert_eq!(ids.len(), 7);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let page = call("GET", &format!("/api/jobs?limit=3{q}")).send(r).await;
        let data = page.data();
        let items = data["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|j| j["id"].as_str().unwrap().to_owned()));
        match data["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let newest_first: Vec<_> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let only = call("GET", "/api/jobs?type=PRODUCT_SYNC&status=pending").send(r).await;
    let items = only.data()["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["type"], json!("PRODUCT_SYNC"));
    let none = call("GET", "/api/jobs?status=COMPLETED").send(r).await;
    assert_eq!(none.data()["items"], json!([]));
    assert_eq!(none.data()["nextCursor"], Value::Null);
}

/// Runs a small `EXAMPLE_COUNT` job to completion with a worker reporting to the app's metrics.
async fn run_example(app: &TestApp, items: u32) -> String {
    let id = app
        .engine
        .request(dongbo_engine::JobRequest::new("EXAMPLE_COUNT", json!({"items": items, "batch": 1})))
        .await
        .unwrap()
        .job
        .id;
    let mut config = WorkerConfig::new(WorkerId::new("test-worker"));
    config.on_step = Some(app.state.metrics.step_hook());
    config.job_types = Some(vec!["EXAMPLE_COUNT".into()]);
    let worker = app.engine.worker(config);
    let outcome = within(30, "the example job", worker.run_once()).await.unwrap();
    assert_eq!(outcome.map(|(_, o)| o), Some(dongbo_engine::RunOutcome::Completed));
    id.to_string()
}

#[tokio::test]
async fn a_jobs_events_are_its_audit_trail_in_order_and_paged() {
    let app = app(None).await;
    let id = run_example(&app, 3).await;
    let all = call("GET", &format!("/api/jobs/{id}/events")).send(&app.router).await;
    let items = all.data()["items"].as_array().unwrap().clone();
    let types: Vec<_> = items.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["JobRequested", "JobClaimed", "StepCompleted", "StepCompleted", "StepCompleted", "JobCompleted"]
    );
    for (i, e) in items.iter().enumerate() {
        for field in ["position", "jobId", "seq", "type", "payload", "recordedAt", "actor"] {
            assert!(e.get(field).is_some(), "event field {field} missing from {e}");
        }
        assert_eq!(e["seq"], json!(i + 1));
    }
    let first = call("GET", &format!("/api/jobs/{id}/events?limit=4")).send(&app.router).await;
    assert_eq!(first.data()["items"].as_array().unwrap().len(), 4);
    assert_eq!(first.data()["nextAfter"], json!(4));
    let rest = call("GET", &format!("/api/jobs/{id}/events?after=4&limit=4")).send(&app.router).await;
    let seqs: Vec<_> = rest.data()["items"].as_array().unwrap().iter().map(|e| e["seq"].clone()).collect();
    assert_eq!(seqs, [json!(5), json!(6)]);
    assert_eq!(rest.data()["nextAfter"], Value::Null);
}

#[tokio::test]
async fn cancelling_a_pending_job_cancels_it_and_cancelling_a_finished_job_is_a_409() {
    let app = app(None).await;
    let id = trigger(&app.router, "/api/shopify/pull-customers", None).await;
    let a = call("POST", &format!("/api/jobs/{id}/cancel")).send(&app.router).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.data()["status"], json!("CANCELLED"));
    let again = call("POST", &format!("/api/jobs/{id}/cancel")).send(&app.router).await;
    let error = again.error(StatusCode::CONFLICT);
    assert!(error.contains("already finished"), "{error}");
}

#[tokio::test]
async fn the_old_progress_query_answers_in_its_three_forms() {
    let app = app(None).await;
    let r = &app.router;
    let none = call("GET", "/api/sync/job-progress?type=PRODUCT_SYNC").send(r).await;
    assert_eq!(none.data(), &json!({"latestJob": null, "hasRunningJob": false}));
    let id = trigger(r, "/api/sync/bulk-sync-products", None).await;
    let latest = call("GET", "/api/sync/job-progress?type=PRODUCT_SYNC").send(r).await;
    assert_eq!(latest.data()["latestJob"]["id"], json!(id));
    assert_eq!(latest.data()["hasRunningJob"], json!(true), "a pending job is not finished");
    let by_id = call("GET", &format!("/api/sync/job-progress?jobId={id}")).send(r).await;
    assert_eq!(by_id.data()["type"], json!("PRODUCT_SYNC"));
    for (path, _) in &TRIGGERS[..2] {
        trigger(r, path, None).await;
    }
    let page = call("GET", "/api/sync/job-progress?all=true&page=2&limit=2").send(r).await;
    let data = page.data();
    assert_eq!(data["currentPage"], json!(2));
    assert_eq!(data["totalCount"], json!(3));
    assert_eq!(data["runningCount"], json!(3));
    assert_eq!(data["totalPages"], json!(2));
    let jobs = data["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["id"], json!(id), "the oldest job is alone on page 2");
}

#[tokio::test]
async fn the_audit_trail_names_the_jobs_that_touched_an_entity() {
    let app = app(None).await;
    let id = run_example(&app, 2).await;
    let a = call("GET", "/api/audit?entity=example_item:1").send(&app.router).await;
    let entries = a.data().as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e["jobId"], json!(id));
    assert_eq!(e["jobType"], json!("EXAMPLE_COUNT"));
    assert_eq!(e["type"], json!("StepCompleted"));
    assert_eq!(e["action"], json!("counted"));
    assert!(e["recordedAt"].is_string());
    let nothing = call("GET", "/api/audit?entity=example_item:999").send(&app.router).await;
    assert_eq!(nothing.data(), &json!([]));
}

#[tokio::test]
async fn metrics_show_jobs_by_type_and_status_step_durations_and_requests() {
    let app = app(None).await;
    trigger(&app.router, "/api/sync/retry-failed", None).await;
    run_example(&app, 2).await;
    let a = call("GET", "/metrics").send(&app.router).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.content_type.starts_with("text/plain"), "{}", a.content_type);
    for line in [
        "dongbo_jobs{type=\"RETRY_FAILED_SYNC\",status=\"PENDING\"} 1",
        "dongbo_jobs{type=\"EXAMPLE_COUNT\",status=\"COMPLETED\"} 1",
        "dongbo_step_duration_seconds_count{type=\"EXAMPLE_COUNT\",outcome=\"committed\"} 2",
        "dongbo_http_requests_total{method=\"POST\",route=\"/api/sync/retry-failed\",status=\"202\"} 1",
    ] {
        assert!(a.text.lines().any(|l| l == line), "missing `{line}` in\n{}", a.text);
    }
}

#[tokio::test]
async fn healthz_answers_ok_after_asking_the_store() {
    let app = app(Some(TOKEN)).await;
    let a = call("GET", "/healthz").send(&app.router).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json, Some(json!({"status": "ok", "workers": {"configured": 0, "live": 0}, "notices": []})));
}

#[tokio::test]
async fn healthz_is_degraded_while_a_notice_is_raised_and_ok_once_it_is_cleared() {
    use dongbo_workflows::notices::{NoticeKey, NoticeLevel};
    const KEY: NoticeKey = NoticeKey::new("nhanh_token");
    let app = app(None).await;
    app.state.notices.raise(KEY, NoticeLevel::Warning, "Nhanh's token expires in 12 days.", chrono::Utc::now());
    let a = call("GET", "/healthz").send(&app.router).await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json.expect("JSON");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["notices"][0]["key"], "nhanh_token");
    assert_eq!(body["notices"][0]["level"], "warning");
    assert_eq!(body["notices"][0]["message"], "Nhanh's token expires in 12 days.");
    let m = call("GET", "/metrics").send(&app.router).await;
    assert!(m.text.lines().any(|l| l == "dongbo_notice{key=\"nhanh_token\",level=\"warning\"} 1"), "{}", m.text);

    app.state.notices.clear(KEY);
    let a = call("GET", "/healthz").send(&app.router).await;
    assert_eq!(a.json, Some(json!({"status": "ok", "workers": {"configured": 0, "live": 0}, "notices": []})));
}

#[tokio::test]
async fn healthz_reports_the_live_workers_and_is_degraded_while_a_loop_is_down() {
    let app = app(None).await;
    let mut config = WorkerConfig::new(WorkerId::new("w"));
    config.poll = std::time::Duration::from_millis(20);
    // A bug outside any step (here in the step hook) kills the worker loop after its first step.
    let armed = std::sync::atomic::AtomicBool::new(true);
    config.on_step = Some(std::sync::Arc::new(move |_| {
        if armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("a bug in the step hook");
        }
    }));
    // A restart far in the future keeps the loop down for as long as the test looks.
    let pool = dongbo_engine::WorkerPool::start(&app.engine, vec![config], std::time::Duration::from_secs(3600));
    let health = pool.health();
    let router = dongbo_api::http::router(app.state.clone().with_workers(health.clone()));
    dongbo_tests::wait_for("the worker loop to start", std::time::Duration::from_secs(10), || async {
        (health.live() == 1).then_some(())
    })
    .await;
    let a = call("GET", "/healthz").send(&router).await;
    assert_eq!(
        (a.status, a.json),
        (StatusCode::OK, Some(json!({"status": "ok", "workers": {"configured": 1, "live": 1}, "notices": []})))
    );

    let example =
        dongbo_engine::JobRequest::new(dongbo_engine::example::EXAMPLE_COUNT, json!({"items": 20, "batch": 10}));
    app.engine.request(example).await.expect("request an example job");
    dongbo_tests::wait_for("the worker loop to die", std::time::Duration::from_secs(30), || async {
        (health.live() == 0).then_some(())
    })
    .await;
    let a = call("GET", "/healthz").send(&router).await;
    assert_eq!(
        (a.status, a.json),
        (StatusCode::OK, Some(json!({"status": "degraded", "workers": {"configured": 1, "live": 0}, "notices": []})))
    );
    pool.stop().await;
}

#[tokio::test]
async fn openapi_json_describes_every_route_of_the_design_and_nothing_that_is_not_served() {
    let app = app(None).await;
    let a = call("GET", "/openapi.json").send(&app.router).await;
    let doc = a.json.expect("the document is JSON");
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in design_routes() {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"))[method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(op["responses"].is_object(), "{method} {path} documents no responses");
    }
    // And the other way round: each documented operation is served.
    let id = trigger(&app.router, "/api/nhanh/pull-products", None).await;
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", &id);
            // A handler may answer 404 for a record that does not exist (a schedule named by a
            // job's id), never "no route"; streams are read to their head only.
            let (status, text) = if path.ends_with("/stream") {
                (call(&method.to_uppercase(), &concrete).send_head(&app.router).await.status(), String::new())
            } else {
                let a = call(&method.to_uppercase(), &concrete).send(&app.router).await;
                (a.status, a.text)
            };
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED
                    && !(status == StatusCode::NOT_FOUND && text.contains("no route for")),
                "{method} {path} is documented but answers {status} {text}"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object(), "the bearer scheme is documented");
}

#[tokio::test]
async fn a_trigger_returns_before_any_worker_could_have_claimed_the_job() {
    // No worker runs in this test; a worker started afterwards is the first to claim the job.
    let app = app(None).await;
    let id = trigger(&app.router, "/api/sync/bulk-sync-background", None).await;
    let events = app.engine.store().events(job_id(&id), 0, 10).await.unwrap();
    assert!(events.iter().all(|e| e.event_type != "JobClaimed"), "{events:?}");
    let worker = app.engine.worker(WorkerConfig::new(WorkerId::new("after")));
    let (claimed, _) = worker.run_once().await.unwrap().expect("the job is still waiting for a worker");
    assert_eq!(claimed.to_string(), id);
}

#[tokio::test]
async fn a_failed_job_resumes_and_reruns_through_the_api_and_other_states_answer_409() {
    let app = app(None).await;
    let input = json!({"items": 30, "batch": 10, "failAt": 15});
    let example = dongbo_engine::JobRequest::new(dongbo_engine::example::EXAMPLE_COUNT, input);
    let job = app.engine.request(example).await.unwrap().job.id;
    let worker = app.engine.worker(WorkerConfig::new(WorkerId::new("w")));
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, dongbo_engine::RunOutcome::Failed);

    let a =
        call("POST", &format!("/api/jobs/{job}/resume")).json(&json!({"reason": "try again"})).send(&app.router).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!((a.data()["status"].as_str(), a.data()["processed"].as_i64()), (Some("PENDING"), Some(10)));
    let resumed = app.engine.store().events(job, 0, 100).await.unwrap().pop().unwrap();
    assert_eq!(resumed.event_type, "JobResumed");
    assert_eq!(resumed.payload["reason"], "try again");
    assert_eq!(resumed.payload["previousStatus"], "FAILED");
    let a = call("POST", &format!("/api/jobs/{job}/resume")).json(&json!({})).send(&app.router).await;
    assert_eq!(
        a.error(StatusCode::CONFLICT),
        format!("job {job} is PENDING: only a FAILED or CANCELLED job can be resumed")
    );

    let a = call("POST", &format!("/api/jobs/{job}/rerun")).json(&json!({})).send(&app.router).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{a:?}");
    let copy = a.data()["jobId"].as_str().expect("a new job id").to_owned();
    assert_ne!(copy, job.to_string());
    let a = call("GET", &format!("/api/jobs/{copy}")).send(&app.router).await;
    assert_eq!(a.data()["metadata"]["rerunOf"], json!(job.to_string()));

    let unknown = JobId::new();
    let a = call("POST", &format!("/api/jobs/{unknown}/resume")).json(&json!({})).send(&app.router).await;
    a.error(StatusCode::NOT_FOUND);
    let a = call("POST", &format!("/api/jobs/{unknown}/rerun")).json(&json!({})).send(&app.router).await;
    a.error(StatusCode::NOT_FOUND);
}

/// A value each named parameter accepts, for the requests below (a path's `{id}` is filled in by
/// what the path names: a job, a schedule or a mapping).
fn accepted_value(name: &str, schema: &Value, job: &str) -> String {
    let value = match name {
        "id" if schema["format"] == "uuid" => job,
        "id" if schema["type"] == "integer" => "1",
        "id" => "nightly",
        "kind" => "product",
        "side" => "nhanh",
        "state" => "PENDING",
        "source" => "manual",
        "entity" => "nhanh_customer:1",
        "status" => "COMPLETED",
        _ if schema["type"] == "integer" => return schema["minimum"].as_i64().unwrap_or(1).to_string(),
        _ => "x",
    };
    value.to_owned()
}

/// Values outside what the document states for a parameter: past its bounds, or text that no
/// stated pattern or format admits.
fn refused_values(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(max) = schema["maximum"].as_i64() {
        out.push((max + 1).to_string());
    }
    if let Some(min) = schema["minimum"].as_i64() {
        out.push((min - 1).to_string());
    }
    if schema["pattern"].is_string() || schema["format"] == "uuid" {
        out.push("no%20such%20value".into());
    }
    out
}

#[tokio::test]
async fn every_bound_and_pattern_the_document_states_for_a_parameter_is_one_the_handler_enforces() {
    // The document states what a handler checks (so a client or a fuzzer can send valid requests):
    // for each stated bound, pattern or format, a request just outside it is a 400, and the same
    // request with an accepted value, or with the bound itself, is not.
    let app = app(None).await;
    let job = trigger(&app.router, "/api/nhanh/pull-products", None).await;
    let doc = call("GET", "/openapi.json").send(&app.router).await.json.expect("the document is JSON");
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().unwrap() {
            if op["requestBody"]["required"] == true {
                continue;
            }
            let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
            // The old progress query takes one of three forms, which a document cannot state as
            // required: the page form is the one with bounds.
            let form = if path == "/api/sync/job-progress" { vec!["all=true".to_owned()] } else { Vec::new() };
            let request = |tested: &str, value: &str| {
                let mut url = path.clone();
                let mut query = form.clone();
                for p in &params {
                    let name = p["name"].as_str().unwrap();
                    let v = if name == tested { value.to_owned() } else { accepted_value(name, &p["schema"], &job) };
                    match p["in"].as_str() {
                        Some("path") => url = url.replace(&format!("{{{name}}}"), &v),
                        Some("query") if p["required"] == true || name == tested => query.push(format!("{name}={v}")),
                        _ => {}
                    }
                }
                if !query.is_empty() {
                    url = format!("{url}?{}", query.join("&"));
                }
                call(&method.to_uppercase(), &url)
            };
            for p in &params {
                let name = p["name"].as_str().unwrap();
                let refused = refused_values(&p["schema"]);
                if refused.is_empty() || path.ends_with("/stream") {
                    continue;
                }
                // An accepted value, and each stated bound itself: a bound is exact, not just safe.
                let schema = &p["schema"];
                let edges = [schema["minimum"].as_i64(), schema["maximum"].as_i64()];
                let accepted = edges.iter().flatten().map(i64::to_string);
                for value in accepted.chain([accepted_value(name, schema, &job)]) {
                    let a = request(name, &value).send(&app.router).await;
                    assert_ne!(a.status, StatusCode::BAD_REQUEST, "{method} {path} with {name}={value}: {}", a.text);
                }
                for value in refused {
                    let a = request(name, &value).send(&app.router).await;
                    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{method} {path} with {name}={value}: {}", a.text);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} refused values were tried: the document states fewer constraints");
}

/// `schema` with a `$ref` to the document's components followed.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

/// The object schema of an operation's JSON body (an optional body is stated as `null` or the
/// object), or `None` when the body is not an object (the webhooks take raw text).
fn body_schema<'a>(doc: &'a Value, op: &'a Value) -> Option<&'a Value> {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let schema = match schema["oneOf"].as_array() {
        Some(branches) => branches.iter().find(|b| b["type"] != "null")?,
        None => schema,
    };
    let schema = resolved(doc, schema);
    (schema["type"] == "object").then_some(schema)
}

/// A value the named body property accepts (what the handler then does with it may still be a
/// 404 or a 409: only a 400 or a 422 says the body was refused).
fn accepted_body_value(name: &str, schema: &Value) -> Value {
    match name {
        "kind" => json!("customer"),
        "shopifyId" => json!("gid://shopify/Customer/1"),
        "locationId" => json!("gid://shopify/Location/1"),
        "nhanhId" | "depotId" => json!(1),
        "id" => json!("body-rules"),
        "cron" => json!("*/15 * * * *"),
        "jobType" => json!("CUSTOMER_SYNC"),
        "timeZone" => json!("Asia/Ho_Chi_Minh"),
        "mappingIds" => json!([1]),
        _ => {
            let types = schema["type"].as_array().cloned().unwrap_or_else(|| vec![schema["type"].clone()]);
            match types.first().and_then(Value::as_str) {
                Some("boolean") => json!(true),
                Some("integer") => json!(schema["minimum"].as_i64().unwrap_or(1)),
                Some("array") => json!([]),
                Some("object") => json!({}),
                _ if schema["format"] == "date" => json!("2026-01-31"),
                // A pattern listing words, `^(a|b)$`: its first word.
                _ => match schema["pattern"].as_str().and_then(|p| p.strip_prefix("^(")?.strip_suffix(")$")) {
                    Some(words) => json!(words.split('|').next().unwrap()),
                    None => json!("x"),
                },
            }
        }
    }
}

/// Values a body property's stated schema refuses: another JSON type, past a bound (an `int32`
/// past its range), text no stated pattern admits; for `oneOf`, what every branch refuses.
fn refused_body_values(doc: &Value, schema: &Value) -> Vec<Value> {
    let schema = resolved(doc, schema);
    if let Some(branches) = schema["oneOf"].as_array() {
        let branches: Vec<&Value> = branches.iter().map(|b| resolved(doc, b)).collect();
        let admits = |v: &Value| {
            branches.iter().any(|b| match v {
                Value::Number(n) if n.is_i64() => {
                    b["type"] == "integer" && b["minimum"].as_i64().is_none_or(|m| n.as_i64().unwrap() >= m)
                }
                Value::String(_) => b["type"] == "string" && b["pattern"].is_null(),
                _ => false,
            })
        };
        let mut out = vec![json!(true)];
        out.extend(branches.iter().flat_map(|b| refused_body_values(doc, b)).filter(|v| !admits(v)));
        return out;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::Array(t) => t.iter().filter_map(Value::as_str).collect(),
        Value::String(t) => vec![t.as_str()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    match types.first().copied() {
        Some("integer") => {
            out.push(json!("x"));
            if let Some(min) = schema["minimum"].as_i64() {
                out.push(json!(min - 1));
            }
            match schema["maximum"].as_i64() {
                Some(i64::MAX) => out.push(json!(u64::try_from(i64::MAX).unwrap() + 1)),
                Some(max) => out.push(json!(max + 1)),
                None if schema["format"] == "int32" => out.push(json!(i64::from(i32::MAX) + 1)),
                None => {}
            }
        }
        Some("string") => {
            out.push(json!(5));
            if schema["pattern"].is_string() || schema["format"] == "date" {
                out.push(json!("no such value"));
            }
            if schema["format"] == "date" {
                out.push(json!("2026-02-30"));
            }
        }
        Some("boolean") => out.push(json!("x")),
        Some("array") => {
            out.push(json!(5));
            out.extend(refused_body_values(doc, &schema["items"]).into_iter().map(|v| json!([v])));
        }
        Some("object") => out.push(json!(5)),
        _ => {}
    }
    out
}

/// Whether a status says the request body was refused.
fn refused(status: StatusCode) -> bool {
    status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY
}

#[tokio::test]
async fn every_rule_the_document_states_for_a_request_body_is_one_the_handler_enforces() {
    // As for parameters above, for bodies: the body with each property's accepted value (and each
    // stated bound itself) is not refused; the same body with one property outside what the
    // document states for it, or with a property the document does not name, is (422: the JSON
    // was read, its contents are refused; 400 for the few rules a handler checks itself). The
    // product's own workflows are registered: a trigger's input is checked by its workflow.
    let app = app_with(None, dongbo_api::registry::registry(&dongbo_workflows::Upstreams::default())).await;
    let job = trigger(&app.router, "/api/nhanh/pull-products", None).await;
    let doc = call("GET", "/openapi.json").send(&app.router).await.json.expect("the document is JSON");
    let mut checked = 0;
    let sent = std::cell::Cell::new(0);
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().unwrap() {
            let Some(schema) = body_schema(&doc, op) else { continue };
            let mut url = path.clone();
            for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "path") {
                let name = p["name"].as_str().unwrap();
                url = url.replace(&format!("{{{name}}}"), &accepted_value(name, &p["schema"], &job));
            }
            let props = schema["properties"].as_object().cloned().unwrap_or_default();
            let required: Vec<&str> =
                schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let base: serde_json::Map<String, Value> = props
                .iter()
                .filter(|(name, _)| required.contains(&name.as_str()))
                .map(|(name, s)| (name.clone(), accepted_body_value(name, s)))
                .collect();
            let send = |name: &str, value: Value| {
                let mut body = base.clone();
                if body.contains_key("id") {
                    // A name per request: a second schedule under one name is a 409 before its
                    // other fields are looked at.
                    sent.set(sent.get() + 1);
                    body.insert("id".into(), json!(format!("body-rules-{}", sent.get())));
                }
                body.insert(name.to_owned(), value);
                call(&method.to_uppercase(), &url).json(&Value::Object(body))
            };
            for (name, s) in &props {
                let s = resolved(&doc, s);
                let edges = [s["minimum"].as_i64(), s["maximum"].as_i64()];
                for value in edges.iter().flatten().map(|&e| json!(e)).chain([accepted_body_value(name, s)]) {
                    let a = send(name, value.clone()).send(&app.router).await;
                    assert!(!refused(a.status), "{method} {path} with {name}: {value}: {} {}", a.status, a.text);
                }
                for value in refused_body_values(&doc, s) {
                    let a = send(name, value.clone()).send(&app.router).await;
                    assert!(refused(a.status), "{method} {path} with {name}: {value}: {} {}", a.status, a.text);
                    checked += 1;
                }
            }
            if schema["additionalProperties"] == false {
                let a = send("noSuchProperty", json!(1)).send(&app.router).await;
                assert!(
                    refused(a.status),
                    "{method} {path} with a property it does not state: {} {}",
                    a.status,
                    a.text
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 90, "only {checked} refused bodies were tried: the document states fewer rules");
}
