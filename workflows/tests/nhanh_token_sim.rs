//! The token's life against the simulator: the check reads the token's expiry, coverage and the
//! depots' names through the real client, warns 29 days ahead, and a job whose token expired
//! fails permanently with a reason naming `dongbo nhanh authorize`.

use dongbo_engine::{Engine, JobRequest, JobStatus, WorkerConfig, WorkerId};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_workflows::catalog::store::credentials::last_check;
use dongbo_workflows::catalog::store::pulls::list_depots;
use dongbo_workflows::nhanh_token::watch::{check_once, CheckOutcome};
use dongbo_workflows::nhanh_token::Standing;
use dongbo_workflows::Upstreams;
use serde_json::json;

const DAY: i64 = 86_400;

async fn sim() -> Simulator {
    Simulator::start(SimConfig { customers: 30, products: 10, ..SimConfig::default() }, "127.0.0.1:0", "127.0.0.1:0")
        .await
        .unwrap()
}

fn upstreams(sim: &Simulator) -> Upstreams {
    let env = sim.env();
    Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_reads_expiry_coverage_and_names_from_nhanh_and_warns_29_days_ahead() {
    let sim = sim().await;
    let now = chrono::Utc::now().timestamp();
    sim.nhanh_token_expires_at(now + 29 * DAY + 60);
    let t = dongbo_tests::sqlite_db();
    let db = dongbo_workflows::open(&t.url).await.unwrap().db();
    let up = upstreams(&sim);
    let client = up.nhanh.clone().unwrap();
    match check_once(client.as_ref(), &db, now).await {
        CheckOutcome::Checked { standing: Standing::ExpiringSoon { days_left, .. }, .. } => assert_eq!(days_left, 29),
        other => panic!("expected a warning 29 days ahead, got {other:?}"),
    }
    let stored = last_check(&db).await.unwrap().expect("the check is stored");
    assert_eq!(stored.expires_at, now + 29 * DAY + 60);
    let depots = list_depots(&db).await.unwrap();
    assert!(!depots.is_empty() && depots.iter().all(|d| d.name.is_some()), "depot names: {depots:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_token_expired_fails_permanently_naming_what_to_do() {
    let sim = sim().await;
    sim.nhanh_token_expires_at(chrono::Utc::now().timestamp() - 60);
    let up = upstreams(&sim);
    let t = dongbo_tests::sqlite_db();
    let mut registry = dongbo_engine::Registry::new();
    dongbo_workflows::register_all(&mut registry, &up);
    let engine = Engine::new(dongbo_workflows::open(&t.url).await.unwrap(), registry);
    let job = engine.request(JobRequest::new("PULL_NHANH_CUSTOMERS", json!({ "mode": "full" }))).await.unwrap().job;
    let worker = engine.worker(WorkerConfig::new(WorkerId::new("w")));
    while worker.run_once().await.unwrap().is_some() {}
    let row = engine.store().job(job.id).await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Failed, "{row:?}");
    assert_eq!(row.attempts, 1, "a refused token is not retried: {row:?}");
    let error = row.error.unwrap_or_default();
    assert!(error.contains("expired or was replaced") && error.contains("dongbo nhanh authorize"), "{error}");
    assert!(!error.contains(&sim.credentials().nhanh_access_token), "the token is in the job's error");
}
