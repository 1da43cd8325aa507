//! The Nhanh pulls against the simulator over real HTTP, on SQLite and PostgreSQL: incremental
//! pulls read only what changed since the watermark and miss nothing, faults do not change the
//! result, a malformed page fails the job with a clear reason, and no token reaches the log.

mod pull_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dongbo_engine::JobStatus;
use dongbo_simulator::{Scope, Simulator};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::pulls::{list_nhanh_customers, list_nhanh_products, watermark, PullSource};
use dongbo_workflows::jobs::{PULL_NHANH_CUSTOMERS, PULL_NHANH_PRODUCTS};
use dongbo_workflows::pull::PullSettings;
use pull_support::Rig;
use serde_json::json;

/// Asserts the catalog's Nhanh customers are exactly the simulator's, with current totals.
async fn assert_customers_mirror(rig: &Rig, sim: &Simulator) {
    let mirrored = list_nhanh_customers(&rig.db).await.unwrap();
    let state = sim.state();
    assert_eq!(mirrored.len(), state.nhanh_customer_count());
    for c in &mirrored {
        assert_eq!(c.total_amount.map(|t| t as u64), state.nhanh_total_amount(c.id), "customer {}", c.id);
    }
}

async fn an_incremental_pull_reads_only_what_changed_and_misses_nothing(backend: Backend) {
    let sim = pull_support::simulator(3_000, 50).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };

    // A full pull, during which five customers change after a few pages were read.
    let mut config = rig.worker_config();
    let touched_mid_pull: Arc<Mutex<Vec<u64>>> = Arc::default();
    let (once, sim2, sink) = (Arc::new(AtomicBool::new(false)), sim.clone(), touched_mid_pull.clone());
    config.on_step = Some(Arc::new(move |report| {
        if report.step == "page" && !once.swap(true, Ordering::SeqCst) {
            *sink.lock().unwrap() = sim2.touch_nhanh_customers(5);
        }
    }));
    let full = rig.run_with(PULL_NHANH_CUSTOMERS, json!({}), config).await;
    assert_eq!(full.status, JobStatus::Completed, "{:?}", full.error);
    assert_eq!(full.total, None, "Nhanh documents no total: the job shows a count");
    assert_eq!(full.processed, 3_000);
    let summary = rig.summary(full.id).await;
    assert_eq!(summary["mode"], "full");
    assert_eq!(summary["upserted"], 3_000);
    assert!(watermark(&rig.db, PullSource::NhanhCustomers).await.unwrap().is_some());
    let mid = touched_mid_pull.lock().unwrap().clone();
    assert_eq!(mid.len(), 5);

    // Changes after the full pull: the incremental pull reads them and the five changed during
    // the full pull (which may have been read before they changed), and nothing else.
    let after = sim.touch_nhanh_customers(40);
    let inc = rig.run(PULL_NHANH_CUSTOMERS, json!({"mode": "incremental"})).await;
    assert_eq!(inc.status, JobStatus::Completed, "{:?}", inc.error);
    let mut changed: Vec<u64> = mid.iter().chain(&after).copied().collect();
    changed.sort_unstable();
    changed.dedup();
    assert_eq!(inc.processed, changed.len() as i64, "only changed rows are fetched");
    assert_eq!(inc.total, None);
    assert_eq!(rig.summary(inc.id).await["mode"], "incremental");
    assert_customers_mirror(&rig, &sim).await;

    // Nothing changed since: the next incremental pull reads nothing new.
    let quiet = rig.run(PULL_NHANH_CUSTOMERS, json!({"mode": "incremental"})).await;
    assert_eq!(quiet.status, JobStatus::Completed);
    assert!(quiet.processed <= changed.len() as i64, "a quiet pull reads at most the overlap");
    rig.assert_no_token_in_events(inc.id, &sim).await;
}

async fn a_pull_through_5xx_timeouts_and_throttling_still_completes_exactly(backend: Backend) {
    let sim = pull_support::simulator(4_000, 50).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    sim.faults().update(Scope::Nhanh, |f| {
        f.error_rate = 0.05;
        f.timeout_rate = 0.02;
        f.timeout_ms = 1_500;
        f.throttle = true;
    });
    // A client with a 500 ms timeout, so timeouts cost little.
    let upstreams = pull_support::upstreams(&sim, std::time::Duration::from_millis(500));
    let mut registry = dongbo_engine::Registry::new();
    dongbo_workflows::pull::register_with(&mut registry, &upstreams, PullSettings::default());
    let engine = dongbo_engine::Engine::new(rig.store.clone(), registry);
    let id = engine
        .request(dongbo_engine::JobRequest::new(PULL_NHANH_CUSTOMERS, json!({"mode": "full"})))
        .await
        .unwrap()
        .job
        .id;
    let worker = engine.worker(rig.worker_config());
    let job = dongbo_tests::wait_for("the pull to finish", std::time::Duration::from_secs(300), || async {
        worker.run_once().await.unwrap();
        let job = rig.job(id).await;
        matches!(job.status, JobStatus::Completed | JobStatus::Failed).then_some(job)
    })
    .await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert_eq!(job.processed, 4_000);
    assert_customers_mirror(&rig, &sim).await;
    let stats = upstreams.nhanh.as_ref().unwrap().stats();
    assert!(stats.retries > 0, "faults were injected and retried: {stats:?}");
    assert_eq!(sim.rate_limit_hits().0, 0, "the limiter kept the pull under the window");
    rig.assert_no_token_in_events(id, &sim).await;
}

async fn a_malformed_page_fails_the_job_with_a_clear_reason(backend: Backend) {
    let sim = pull_support::simulator(500, 50).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    sim.faults().update(Scope::Nhanh, |f| f.malformed_rate = 1.0);
    let job = rig.run(PULL_NHANH_CUSTOMERS, json!({})).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("malformed upstream reply") && error.contains("customer/list"), "{error}");
    assert_eq!(job.processed, 0);
    assert!(list_nhanh_customers(&rig.db).await.unwrap().is_empty());
    rig.assert_no_token_in_events(job.id, &sim).await;
}

async fn a_full_pull_marks_customers_that_disappeared_as_removed(backend: Backend) {
    let sim = pull_support::simulator(300, 20).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    // A customer the store no longer has, mirrored by an earlier pull.
    let ghost = dongbo_workflows::catalog::store::pulls::NhanhCustomerRow {
        id: 999_999_999,
        name: Some("gone".into()),
        mobile: Some("0912345678".into()),
        total_amount: Some(1),
        updated_at: Some(1),
    };
    let old = dongbo_engine::JobId::new();
    let fill = dongbo_workflows::catalog::store::pulls::UpsertNhanhCustomers {
        job: old,
        rows: vec![ghost],
        seen_by_full_pull: Some(old),
    };
    dongbo_workflows::catalog::store::pulls::apply_outside_step(&rig.db, &fill).await.unwrap();
    let job = rig.run(PULL_NHANH_CUSTOMERS, json!({"mode": "legacy"})).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert_eq!(rig.summary(job.id).await["removed"], 1);
    let ids: HashMap<u64, ()> = list_nhanh_customers(&rig.db).await.unwrap().into_iter().map(|c| (c.id, ())).collect();
    assert!(!ids.contains_key(&999_999_999));
    assert_customers_mirror(&rig, &sim).await;
    let counts = dongbo_workflows::catalog::store::pulls::catalog_counts(&rig.db).await.unwrap();
    assert_eq!(counts.nhanh_customers_removed, 1);
}

dongbo_tests::on_both_stores!(multi_thread:
    an_incremental_pull_reads_only_what_changed_and_misses_nothing,
    a_pull_through_5xx_timeouts_and_throttling_still_completes_exactly,
    a_malformed_page_fails_the_job_with_a_clear_reason,
    a_full_pull_marks_customers_that_disappeared_as_removed,
);

/// A product's `updatedAt` does not move with its stock (apidocs.nhanh.vn/v3/product/list), so
/// an incremental product pull follows stock changes through `product/inventory`'s
/// `updatedAtFrom`: after stock moves, the catalog holds the new stock, and only the changed
/// products were read.
async fn an_incremental_product_pull_refreshes_stock_that_moved(backend: Backend) {
    let sim = pull_support::simulator(10, 400).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    let full = rig.run(PULL_NHANH_PRODUCTS, json!({})).await;
    assert_eq!(full.status, JobStatus::Completed, "{:?}", full.error);
    assert_eq!((full.total, full.processed), (None, sim.state().nhanh_product_count() as i64));

    let moved = sim.touch_nhanh_products(15);
    let inc = rig.run(PULL_NHANH_PRODUCTS, json!({"mode": "incremental"})).await;
    assert_eq!(inc.status, JobStatus::Completed, "{:?}", inc.error);
    assert_eq!(rig.summary(inc.id).await["mode"], "incremental");
    assert!(inc.processed >= moved.len() as i64 && inc.processed <= 2 * moved.len() as i64, "{}", inc.processed);
    let depots: Vec<u64> = sim.truth().depots.iter().map(|d| d.id).collect();
    let rows: HashMap<u64, Option<i64>> =
        list_nhanh_products(&rig.db).await.unwrap().into_iter().map(|r| (r.id, r.available)).collect();
    for id in &moved {
        let want: i64 = depots.iter().map(|&d| sim.state().nhanh_available(*id, d).unwrap_or(0)).sum();
        assert_eq!(rows.get(id), Some(&Some(want)), "product {id}'s stock after the incremental pull");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_product_pull_refreshes_stock_that_moved_on_sqlite() {
    an_incremental_product_pull_refreshes_stock_that_moved(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_product_pull_refreshes_stock_that_moved_on_postgres() {
    an_incremental_product_pull_refreshes_stock_that_moved(Backend::Postgres).await;
}
