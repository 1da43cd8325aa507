//! PRODUCT_SYNC and CUSTOMER_SYNC run by a real `dongbo worker` process that is killed with
//! SIGKILL mid-run and resumed by a second one: the simulator's journal shows no inventory key
//! applied twice and no mapped item missing, and Shopify's final state equals Nhanh's for every
//! mapped item — on SQLite and on PostgreSQL.

mod sync_support;

use std::collections::HashMap;
use std::time::Duration;

use dongbo_engine::{JobId, JobRequest};
use dongbo_tests::{spawn_worker, wait_for, Backend};
use dongbo_workflows::jobs;
use serde_json::json;
use sync_support::SyncFixture;

/// Runs `job_type` in a worker process, kills it after its first committed step, and finishes it
/// in a second process. Returns the job id.
async fn run_killed_and_resumed(f: &SyncFixture, job_type: &str) -> JobId {
    let job = f.engine.request(JobRequest::new(job_type, json!({}))).await.unwrap().job.id;
    let mut first = spawn_worker(&f.db.url, &f.sim.env());
    wait_for("the first worker to commit a step", Duration::from_secs(120), || async {
        let row = f.store.job(job).await.unwrap().unwrap();
        (row.processed > 0).then_some(())
    })
    .await;
    first.kill().expect("SIGKILL the first worker");
    first.wait().unwrap();
    let at_kill = f.store.job(job).await.unwrap().unwrap();
    assert!(!at_kill.status.is_finished(), "{job_type} finished before the kill: the test proves nothing");

    let row = f.finish_in_a_second_worker(job, job_type).await;
    assert_eq!((row.total, row.processed, row.failed), (Some(row.processed), row.processed, 0));
    job
}

async fn a_killed_sync_resumes_without_applying_twice_or_missing_items(backend: Backend) {
    // Slow replies (the fixture's) so that each sync spans several seconds and the kill lands
    // mid-run.
    let Some(f) = SyncFixture::start(backend).await else { return };
    run_killed_and_resumed(&f, jobs::PRODUCT_SYNC).await;
    run_killed_and_resumed(&f, jobs::CUSTOMER_SYNC).await;
    f.sim.faults().clear();

    let journal = f.sim.journal();
    let mut applied = HashMap::<(String, String, String), usize>::new();
    for e in journal.iter().filter(|e| e.kind == "inventorySetQuantities" && e.applied) {
        let key = e.idempotency_key.clone().expect("every inventory write carries a key");
        let location = e.value["locationId"].as_str().unwrap_or_default().to_string();
        *applied.entry((key, e.target.clone(), location)).or_default() += 1;
    }
    assert!(applied.values().all(|&n| n == 1), "an inventory key was applied twice");
    let state = f.sim.state();
    let expected = state.expected_inventory();
    assert!(!expected.is_empty());
    for level in &expected {
        assert!(
            applied.keys().any(|(_, item, loc)| *item == level.inventory_item_id && *loc == level.location_id),
            "no applied write for {} at {}",
            level.inventory_item_id,
            level.location_id
        );
        assert_eq!(state.inventory(&level.inventory_item_id, &level.location_id), Some(level.quantity));
    }
    for (gid, total) in state.expected_total_spent() {
        assert_eq!(state.customer_metafield(&gid, "custom", "total_spent"), Some(total.to_string()), "{gid}");
    }
    f.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_run_resumes_exactly_once_on_sqlite() {
    a_killed_sync_resumes_without_applying_twice_or_missing_items(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_run_resumes_exactly_once_on_postgres() {
    a_killed_sync_resumes_without_applying_twice_or_missing_items(Backend::Postgres).await;
}
