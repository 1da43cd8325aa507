//! What the sync tests share: a simulator, a catalog filled through the pulls' upserts, manual
//! mappings of the simulator's true pairs, and an engine to drive jobs to their end.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use dongbo_engine::{
    BackgroundJob, Db, Engine, JobId, JobRequest, Registry, SharedStore, StepEffects, WorkerConfig, WorkerId,
};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_tests::wait_for;
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, set_location_mapping, NhanhCustomerRow, ShopifyProductRow, ShopifyVariantRow,
    UpsertNhanhCustomers, UpsertShopifyProducts,
};
use dongbo_workflows::catalog::store::sync::{self as store, MappingSync, SyncKind};
use dongbo_workflows::connectors::nhanh::CustomerFilters;
use dongbo_workflows::sync::{CustomerSync, ProductSync, RetryFailedSync, SyncSettings};
use dongbo_workflows::Upstreams;
use serde_json::Value;

/// A simulator of `products` × `customers` with throttling on (Standard plan).
pub async fn simulator(products: usize, customers: usize) -> Simulator {
    let config = SimConfig { products, customers, ..SimConfig::default() };
    Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.expect("start the simulator")
}

/// Clients pointed at the simulator.
pub fn upstreams(sim: &Simulator) -> Upstreams {
    let env = sim.env();
    Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).expect("upstreams")
}

/// The sync job types with `settings`.
pub fn registry(upstreams: &Upstreams, settings: SyncSettings) -> Registry {
    let mut r = Registry::new();
    r.register(ProductSync::new(upstreams.clone(), settings));
    r.register(CustomerSync::new(upstreams.clone(), settings));
    r.register(RetryFailedSync::new(upstreams.clone(), settings));
    r
}

async fn apply(db: &Db, effect: &dyn StepEffects) {
    apply_outside_step(db, effect).await.expect("catalog upsert");
}

/// Mirrors every Nhanh customer (for their totals) through the pulls' upsert.
pub async fn mirror_nhanh_customers(db: &Db, up: &Upstreams) {
    let nhanh = up.nhanh().unwrap();
    let mut next = None;
    loop {
        let page = nhanh.list_customers(&CustomerFilters::default(), next).await.unwrap();
        let rows: Vec<NhanhCustomerRow> = page.items.iter().map(NhanhCustomerRow::from).collect();
        apply(db, &UpsertNhanhCustomers { job: JobId::new(), rows, seen_by_full_pull: None }).await;
        match page.next {
            Some(n) => next = Some(n),
            None => return,
        }
    }
}

/// Mirrors every Shopify product and variant (for their inventory items).
pub async fn mirror_shopify_products(db: &Db, up: &Upstreams) {
    let shopify = up.shopify().unwrap();
    let mut after: Option<String> = None;
    loop {
        let page = shopify.products_page(100, after.as_deref(), None).await.unwrap();
        let mut products = Vec::new();
        let mut variants = Vec::new();
        for p in &page.items {
            products.push(ShopifyProductRow::from(p));
            variants.extend(p.variants.iter().map(|v| ShopifyVariantRow::new(&p.id, v)));
            let mut more = p.more_variants.clone();
            while let Some(cursor) = more {
                let vp = shopify.product_variants_page(&p.id, 100, Some(&cursor)).await.unwrap();
                variants.extend(vp.items.iter().map(|v| ShopifyVariantRow::new(&p.id, v)));
                more = vp.next;
            }
        }
        apply(db, &UpsertShopifyProducts { job: JobId::new(), products, variants, seen_by_full_pull: None }).await;
        match page.next {
            Some(n) => after = Some(n),
            None => return,
        }
    }
}

/// The simulator's depot → location mapping, set as an operator would.
pub async fn map_locations(db: &Db, sim: &Simulator) {
    for (depot, location) in &sim.truth().depot_to_location {
        set_location_mapping(db, *depot, location).await.unwrap();
    }
}

/// Manual mappings of the first `n` true customer pairs: `(mapping id, nhanh id, customer gid)`.
pub async fn map_customers(db: &Db, sim: &Simulator, n: usize) -> Vec<(i64, u64, String)> {
    let mut out = Vec::new();
    for (nhanh, gid) in sim.truth().customer_pairs.iter().take(n) {
        let id = store::set_manual_customer_mapping(db, *nhanh as i64, gid, 0).await.unwrap();
        out.push((id, *nhanh, gid.clone()));
    }
    out
}

/// Manual mappings of the first `n` true product pairs: `(mapping id, nhanh id, variant gid)`.
pub async fn map_products(db: &Db, sim: &Simulator, n: usize) -> Vec<(i64, u64, String)> {
    let mut out = Vec::new();
    for (nhanh, gid) in sim.truth().product_pairs.iter().take(n) {
        let id = store::set_manual_product_mapping(db, *nhanh as i64, gid, 0).await.unwrap();
        out.push((id, *nhanh, gid.clone()));
    }
    out
}

/// Requests a job and runs workers until it has finished.
pub async fn run_job(engine: &Engine, job_type: &str, input: Value) -> BackgroundJob {
    let id = engine.request(JobRequest::new(job_type, input)).await.unwrap().job.id;
    run_until_finished(engine, id).await
}

/// Runs workers until job `id` has finished.
pub async fn run_until_finished(engine: &Engine, id: JobId) -> BackgroundJob {
    let worker = Arc::new(engine.worker(WorkerConfig::new(WorkerId::new("sync-test"))));
    let store: SharedStore = engine.store().clone();
    wait_for("the job to finish", Duration::from_secs(300), || {
        let worker = worker.clone();
        let store = store.clone();
        async move {
            worker.run_once().await.unwrap();
            let job = store.job(id).await.unwrap().unwrap();
            job.status.is_finished().then_some(job)
        }
    })
    .await
}

/// A mapping's sync bookkeeping.
pub async fn mapping(db: &Db, kind: SyncKind, id: i64) -> MappingSync {
    store::mapping_sync(db, kind, id).await.unwrap().expect("mapping exists")
}
