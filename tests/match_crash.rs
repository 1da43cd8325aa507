//! Crash-and-resume of AUTO_MATCH_CUSTOMERS in real processes: a `dongbo worker` killed with
//! SIGKILL mid-match resumes in a second process from its last checkpoint (the last key
//! decided), redoes at most the one uncommitted batch, and ends with exactly the mappings and
//! conflicts of an undisturbed run — on SQLite and on PostgreSQL.

use std::collections::BTreeSet;
use std::time::Duration;

use dongbo_engine::event::EventPayload;
use dongbo_engine::{Db, Engine, JobId, JobRequest, JobStatus, Registry, WorkerConfig, WorkerId};
use dongbo_tests::{fresh_db, spawn_worker, wait_for, Backend};
use dongbo_workflows::catalog::store::matching::{list_conflicts, list_mappings, MatchKind};
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, NhanhCustomerRow, ShopifyCustomerRow, UpsertNhanhCustomers, UpsertShopifyCustomers,
};
use dongbo_workflows::jobs::AUTO_MATCH_CUSTOMERS;
use serde_json::json;

const CUSTOMERS: u64 = 20_000;

/// The same catalog in every database: pairs, every 40th Nhanh number duplicated (a conflict),
/// every 7th Nhanh field with a second number nobody holds.
async fn fill(db: &Db) {
    let job = JobId::new();
    let nhanh: Vec<NhanhCustomerRow> = (0..CUSTOMERS)
        .map(|i| {
            let own = if i % 40 == 39 { i - 1 } else { i };
            let mut mobile = format!("090{own:07}");
            if i % 7 == 0 {
                mobile.push_str(&format!(", 091{i:07}"));
            }
            NhanhCustomerRow {
                id: 1_000 + i,
                name: None,
                mobile: Some(mobile),
                total_amount: Some(1),
                updated_at: Some(1),
            }
        })
        .collect();
    let shop: Vec<ShopifyCustomerRow> = (0..CUSTOMERS)
        .map(|i| ShopifyCustomerRow {
            id: format!("gid://shopify/Customer/{}", 9_000 + i),
            display_name: None,
            email: None,
            phone: Some(format!("+8490{i:07}")),
            address_phone: None,
            amount_spent: None,
            total_spent: None,
            updated_at: None,
        })
        .collect();
    apply_outside_step(db, &UpsertNhanhCustomers { job, rows: nhanh, seen_by_full_pull: None }).await.unwrap();
    apply_outside_step(db, &UpsertShopifyCustomers { job, rows: shop, seen_by_full_pull: None }).await.unwrap();
}

fn engine(store: dongbo_engine::SharedStore) -> Engine {
    let mut registry = Registry::new();
    dongbo_workflows::matching::register(&mut registry);
    Engine::new(store, registry)
}

type Outcome = (BTreeSet<(i64, Option<String>, Option<String>)>, BTreeSet<(String, Vec<i64>, Vec<String>)>);

async fn outcome(db: &Db) -> Outcome {
    let m = list_mappings(db, MatchKind::Customers)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.nhanh_id, m.shopify_id, m.match_key));
    let c = list_conflicts(db, MatchKind::Customers)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.key, c.nhanh_ids, c.shopify_ids));
    (m.collect(), c.collect())
}

async fn a_killed_match_resumes_with_one_batch_redone_at_most(backend: Backend) {
    let input = json!({ "strategy": "memory", "batchSize": 100 });

    // The undisturbed run, in process.
    let Some(calm_db) = fresh_db(backend).await else { return };
    let calm = dongbo_workflows::open(&calm_db.url).await.unwrap();
    fill(&calm.db()).await;
    let calm_engine = engine(calm.clone());
    let calm_job = calm_engine.request(JobRequest::new(AUTO_MATCH_CUSTOMERS, input.clone())).await.unwrap().job.id;
    let worker = calm_engine.worker(WorkerConfig::new(WorkerId::new("calm")));
    while !calm.job(calm_job).await.unwrap().unwrap().status.is_finished() {
        worker.run_once().await.unwrap();
    }
    let expected = outcome(&calm.db()).await;
    assert!(expected.0.len() > 15_000 && !expected.1.is_empty(), "the catalog gives mappings and conflicts");

    // The run that is killed.
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    fill(&store.db()).await;
    let job = engine(store.clone()).request(JobRequest::new(AUTO_MATCH_CUSTOMERS, input)).await.unwrap().job.id;
    let mut first = spawn_worker(&db.url, &[]);
    wait_for("the first worker to commit some batches", Duration::from_secs(120), || async {
        let row = store.job(job).await.unwrap().unwrap();
        (row.processed >= 3_000).then_some(())
    })
    .await;
    first.kill().expect("SIGKILL the first worker");
    first.wait().unwrap();
    let at_kill = store.job(job).await.unwrap().unwrap();
    assert!(at_kill.processed < at_kill.total.unwrap(), "killed too late to test a resume");

    let mut second = spawn_worker(&db.url, &[]);
    let row = wait_for("the second worker to finish the match", Duration::from_secs(300), || async {
        let row = store.job(job).await.unwrap().unwrap();
        row.status.is_finished().then_some(row)
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();

    assert_eq!(row.status, JobStatus::Completed, "{:?}", row.error);
    assert_eq!(row.attempts, 2);
    assert_eq!(Some(row.processed), row.total, "every Nhanh record decided exactly once");
    assert_eq!(outcome(&store.db()).await, expected, "the same mappings and conflicts as the undisturbed run");

    let events = store.events(job, 0, 1_000_000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "sequence numbers are contiguous");
    let mut claims = Vec::new();
    let mut batches = Vec::new();
    let mut summary = None;
    for e in &events {
        match e.decode().unwrap() {
            EventPayload::JobClaimed(c) => claims.push((e.seq, c)),
            EventPayload::StepCompleted(s) if s.step == "batch" => {
                batches.push((s.state["batch"].as_u64().unwrap(), s.state["cursor"].as_str().unwrap().to_owned()))
            }
            EventPayload::JobCompleted(c) => summary = Some(c.summary),
            _ => {}
        }
    }
    assert_eq!(claims.len(), 2);
    let (resume_seq, resume) = &claims[1];
    assert!(resume.after_lost_lease && resume.attempt == 2);
    let last_before =
        events.iter().filter(|e| e.seq < *resume_seq && e.event_type == "StepCompleted").map(|e| e.seq).max();
    assert_eq!(resume.resumed_from, last_before, "the resume continues from the last checkpoint");
    // Each batch index was committed once, in order, each past the last: nothing committed twice.
    let indexes: Vec<u64> = batches.iter().map(|b| b.0).collect();
    assert_eq!(indexes, (1..=batches.len() as u64).collect::<Vec<_>>());
    assert!(batches.windows(2).all(|w| w[0].1 < w[1].1), "checkpoint keys strictly increase");
    let summary = summary.expect("JobCompleted");
    assert_eq!(summary["created"].as_u64(), Some(expected.0.len() as u64), "every mapping created once: {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_match_resumes_on_sqlite() {
    a_killed_match_resumes_with_one_batch_redone_at_most(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_match_resumes_on_postgres() {
    a_killed_match_resumes_with_one_batch_redone_at_most(Backend::Postgres).await;
}
