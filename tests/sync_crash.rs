//! PRODUCT_SYNC and CUSTOMER_SYNC run by a real `dongbo worker` process that is killed with
//! SIGKILL mid-run and resumed by a second one: the simulator's journal shows no inventory key
//! applied twice and no mapped item missing, and Shopify's final state equals Nhanh's for every
//! mapped item — on SQLite and on PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use dongbo_engine::{Db, Engine, JobId, JobRequest, JobStatus, Registry, SharedStore};
use dongbo_simulator::{Scope, SimConfig, Simulator};
use dongbo_tests::{fresh_db, spawn_worker, wait_for, Backend};
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, set_location_mapping, NhanhCustomerRow, ShopifyProductRow, ShopifyVariantRow,
    UpsertNhanhCustomers, UpsertShopifyProducts,
};
use dongbo_workflows::catalog::store::sync::{set_manual_customer_mapping, set_manual_product_mapping};
use dongbo_workflows::connectors::nhanh::CustomerFilters;
use dongbo_workflows::{jobs, Upstreams};
use serde_json::json;

/// Mirrors what the syncs read (Nhanh totals, Shopify inventory items), maps every true pair
/// by hand and maps the depots onto locations.
async fn prepare_catalog(db: &Db, sim: &Simulator, up: &Upstreams) {
    let nhanh = up.nhanh().unwrap();
    let mut next = None;
    loop {
        let page = nhanh.list_customers(&CustomerFilters::default(), next).await.unwrap();
        let rows = page.items.iter().map(NhanhCustomerRow::from).collect();
        apply_outside_step(db, &UpsertNhanhCustomers { job: JobId::new(), rows, seen_by_full_pull: None })
            .await
            .unwrap();
        match page.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    let shopify = up.shopify().unwrap();
    let mut after: Option<String> = None;
    loop {
        let page = shopify.products_page(100, after.as_deref(), None).await.unwrap();
        let products = page.items.iter().map(ShopifyProductRow::from).collect();
        let mut variants = Vec::new();
        for p in &page.items {
            variants.extend(p.variants.iter().map(|v| ShopifyVariantRow::new(&p.id, v)));
            let mut more = p.more_variants.clone();
            while let Some(cursor) = more {
                let vp = shopify.product_variants_page(&p.id, 100, Some(&cursor)).await.unwrap();
                variants.extend(vp.items.iter().map(|v| ShopifyVariantRow::new(&p.id, v)));
                more = vp.next;
            }
        }
        let upsert = UpsertShopifyProducts { job: JobId::new(), products, variants, seen_by_full_pull: None };
        apply_outside_step(db, &upsert).await.unwrap();
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let truth = sim.truth();
    for (depot, location) in &truth.depot_to_location {
        set_location_mapping(db, *depot, location).await.unwrap();
    }
    for (nhanh, gid) in &truth.product_pairs {
        set_manual_product_mapping(db, *nhanh as i64, gid, 0).await.unwrap();
    }
    for (nhanh, gid) in &truth.customer_pairs {
        set_manual_customer_mapping(db, *nhanh as i64, gid, 0).await.unwrap();
    }
}

/// Runs `job_type` in a worker process, kills it after its first committed step, and finishes it
/// in a second process. Returns the job id.
async fn run_killed_and_resumed(
    engine: &Engine,
    store: &SharedStore,
    url: &str,
    sim: &Simulator,
    job_type: &str,
) -> JobId {
    let job = engine.request(JobRequest::new(job_type, json!({}))).await.unwrap().job.id;
    let mut first = spawn_worker(url, &sim.env());
    wait_for("the first worker to commit a step", Duration::from_secs(120), || async {
        let row = store.job(job).await.unwrap().unwrap();
        (row.processed > 0).then_some(())
    })
    .await;
    first.kill().expect("SIGKILL the first worker");
    first.wait().unwrap();
    let at_kill = store.job(job).await.unwrap().unwrap();
    assert!(!at_kill.status.is_finished(), "{job_type} finished before the kill: the test proves nothing");

    let mut second = spawn_worker(url, &sim.env());
    let row = wait_for("the second worker to finish the job", Duration::from_secs(300), || async {
        let row = store.job(job).await.unwrap().unwrap();
        row.status.is_finished().then_some(row)
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(row.status, JobStatus::Completed, "{job_type}: {:?}", row.error);
    assert_eq!(row.attempts, 2, "{job_type} resumed once");
    assert_eq!((row.total, row.processed, row.failed), (Some(row.processed), row.processed, 0));
    job
}

async fn a_killed_sync_resumes_without_applying_twice_or_missing_items(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let config = SimConfig { products: 3_000, customers: 3_000, ..SimConfig::default() };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.unwrap();
    let env = sim.env();
    let up = Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    prepare_catalog(&store.db(), &sim, &up).await;
    let mut registry = Registry::new();
    dongbo_workflows::sync::register(&mut registry, &up);
    let engine = Engine::new(store.clone(), registry);
    // Slow replies so that each sync spans several seconds and the kill lands mid-run.
    sim.faults().update(Scope::Both, |f| f.latency_ms = 250);

    run_killed_and_resumed(&engine, &store, &db.url, &sim, jobs::PRODUCT_SYNC).await;
    run_killed_and_resumed(&engine, &store, &db.url, &sim, jobs::CUSTOMER_SYNC).await;
    sim.faults().clear();

    let journal = sim.journal();
    let mut applied = HashMap::<(String, String, String), usize>::new();
    for e in journal.iter().filter(|e| e.kind == "inventorySetQuantities" && e.applied) {
        let key = e.idempotency_key.clone().expect("every inventory write carries a key");
        let location = e.value["locationId"].as_str().unwrap_or_default().to_string();
        *applied.entry((key, e.target.clone(), location)).or_default() += 1;
    }
    assert!(applied.values().all(|&n| n == 1), "an inventory key was applied twice");
    let state = sim.state();
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
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_run_resumes_exactly_once_on_sqlite() {
    a_killed_sync_resumes_without_applying_twice_or_missing_items(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_run_resumes_exactly_once_on_postgres() {
    a_killed_sync_resumes_without_applying_twice_or_missing_items(Backend::Postgres).await;
}
