//! A Nhanh customer pull run by a real `dongbo worker` process killed with SIGKILL mid-run
//! resumes in a second process and refetches at most one page: the simulator counts every
//! `customer/list` request, and there are at most (pages committed) + 1 of them — on SQLite and
//! on PostgreSQL. The resumed pull leaves the catalog exact.

use std::time::Duration;

use dongbo_engine::{Engine, JobRequest, JobStatus, Registry};
use dongbo_simulator::{Scope, SimConfig, Simulator};
use dongbo_tests::{fresh_db, spawn_worker, wait_for, Backend};
use dongbo_workflows::catalog::store::pulls::list_nhanh_customers;
use dongbo_workflows::jobs::PULL_NHANH_CUSTOMERS;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET {base}/_sim/requests`, over a bare HTTP/1.1 connection.
async fn sim_requests(base: &str) -> Value {
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect to the simulator");
    let request = format!("GET /_sim/requests HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("/_sim/requests: {e}: {reply}"))
}

async fn a_killed_pull_resumes_in_another_process_refetching_at_most_one_page(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    // 6,000 customers ≈ 62 pages: under Nhanh's 150 requests per 30 s, so the real limits hold.
    let sim = Simulator::start(
        SimConfig { customers: 6_000, products: 10, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .expect("start simulator");
    sim.faults().update(Scope::Nhanh, |f| f.latency_ms = 60);
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let env = sim.env();
    let upstreams =
        dongbo_workflows::Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .expect("upstreams");
    let mut registry = Registry::new();
    dongbo_workflows::pull::register(&mut registry, &upstreams);
    let engine = Engine::new(store.clone(), registry);
    let job = engine.request(JobRequest::new(PULL_NHANH_CUSTOMERS, json!({"mode": "full"}))).await.unwrap().job.id;

    let mut first = spawn_worker(&db.url, &sim.env());
    wait_for("the first worker to commit some pages", Duration::from_secs(60), || async {
        let row = store.job(job).await.unwrap().unwrap();
        (row.processed >= 1_500).then_some(())
    })
    .await;
    first.kill().expect("SIGKILL the first worker");
    first.wait().unwrap();
    let at_kill = store.job(job).await.unwrap().unwrap();
    assert!(at_kill.processed < 6_000, "killed too late to test a resume");

    let mut second = spawn_worker(&db.url, &sim.env());
    let row = wait_for("the second worker to finish the pull", Duration::from_secs(120), || async {
        let row = store.job(job).await.unwrap().unwrap();
        row.status.is_finished().then_some(row)
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();

    assert_eq!(row.status, JobStatus::Completed, "{:?}", row.error);
    // Nhanh's v3 pages document no total count: the pull counts, and never invents a total.
    assert_eq!((row.total, row.processed, row.successful), (None, 6_000, 6_000));
    assert_eq!(row.attempts, 2);
    let events = store.events(job, 0, 100_000).await.unwrap();
    let summary = &events.iter().rev().find(|e| e.event_type == "JobCompleted").unwrap().payload["summary"];
    let pages = summary["pages"].as_i64().unwrap();
    let requests = sim_requests(&sim.nhanh_base_url()).await;
    let fetched = requests["requests"]["/v3.0/customer/list"].as_i64().unwrap_or_else(|| panic!("{requests}"));
    assert!(
        (pages..=pages + 1).contains(&fetched),
        "{fetched} customer/list requests for {pages} pages: a resume refetches at most one page"
    );
    assert_eq!(list_nhanh_customers(&store.db()).await.unwrap().len(), 6_000);
    let c = sim.credentials();
    for e in &events {
        let text = e.payload.to_string();
        assert!(!text.contains(&c.nhanh_access_token) && !text.contains(&c.shopify_access_token), "{text}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pull_resumes_in_another_process_refetching_at_most_one_page_on_sqlite() {
    a_killed_pull_resumes_in_another_process_refetching_at_most_one_page(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pull_resumes_in_another_process_refetching_at_most_one_page_on_postgres() {
    a_killed_pull_resumes_in_another_process_refetching_at_most_one_page(Backend::Postgres).await;
}
