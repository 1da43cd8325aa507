//! `/metrics` counts the calls dongbo made upstream, per upstream, once a job has made some.

use axum::body::Body;
use axum::http::Request;
use dongbo_api::http::{router, AppState};
use dongbo_api::registry::{registry, watch_upstreams};
use dongbo_engine::{Engine, JobRequest, WorkerConfig, WorkerId};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_workflows::Upstreams;
use serde_json::json;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_upstream_requests_a_pull_made() {
    let sim = Simulator::start(
        SimConfig { customers: 300, products: 20, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let env = sim.env();
    let upstreams = Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    let db = dongbo_tests::sqlite_db();
    let engine = Engine::new(dongbo_workflows::open(&db.url).await.unwrap(), registry(&upstreams));
    let state = AppState::new(engine.clone(), None);
    watch_upstreams(&state.metrics, &upstreams);
    engine.request(JobRequest::new("PULL_NHANH_CUSTOMERS", json!({ "mode": "full" }))).await.unwrap();
    let worker = engine.worker(WorkerConfig::new(WorkerId::new("w")));
    while worker.run_once().await.unwrap().is_some() {}

    let reply = router(state).oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let bytes = axum::body::to_bytes(reply.into_body(), 1 << 20).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("dongbo_upstream_requests_total{upstream=\"nhanh\"}"))
        .unwrap_or_else(|| panic!("no nhanh request counter in:\n{text}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "a 300-customer pull takes several pages: {line}");
    assert!(text.contains("dongbo_upstream_requests_total{upstream=\"shopify\"} 0"), "{text}");
}
