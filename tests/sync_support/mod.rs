//! What the two sync-across-a-kill tests (`sync_crash`, `sync_kill_journal`) share: a simulator,
//! a database whose catalog mirrors it with every true pair mapped by hand, an engine with the
//! syncs registered, and the second worker process that finishes a killed job.
//!
//! A module of the test targets rather than a part of the `dongbo-tests` library: the library
//! depends on no dongbo crate (the engine's own tests use it), and this needs the workflows and
//! the simulator.

use std::time::Duration;

use dongbo_engine::{BackgroundJob, Db, Engine, JobId, JobStatus, Registry, SharedStore};
use dongbo_simulator::{Scope, SimConfig, Simulator};
use dongbo_tests::{fresh_db, spawn_worker, wait_for, Backend, TestDb};
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, set_location_mapping, NhanhCustomerRow, ShopifyProductRow, ShopifyVariantRow,
    UpsertNhanhCustomers, UpsertShopifyProducts,
};
use dongbo_workflows::catalog::store::sync::{set_manual_customer_mapping, set_manual_product_mapping};
use dongbo_workflows::connectors::nhanh::CustomerFilters;
use dongbo_workflows::Upstreams;

/// A simulator of 3,000 products and 3,000 customers answering every call 250 ms late (so a
/// step's calls are out long enough for a kill to land among them), and a database on `backend`
/// whose catalog mirrors it, every true pair mapped.
pub struct SyncFixture {
    /// The database (dropped last).
    pub db: TestDb,
    /// Its store.
    pub store: SharedStore,
    /// The simulator.
    pub sim: Simulator,
    /// An engine over the store with the syncs registered, to request jobs with.
    pub engine: Engine,
}

impl SyncFixture {
    /// The fixture, or `None` when PostgreSQL is not available outside CI.
    pub async fn start(backend: Backend) -> Option<SyncFixture> {
        let db = fresh_db(backend).await?;
        let store = dongbo_workflows::open(&db.url).await.unwrap();
        let config = SimConfig { products: 3_000, customers: 3_000, ..SimConfig::default() };
        let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.unwrap();
        let env = sim.env();
        let up = Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
        prepare_catalog(&store.db(), &sim, &up).await;
        let mut registry = Registry::new();
        dongbo_workflows::sync::register(&mut registry, &up);
        let engine = Engine::new(store.clone(), registry);
        sim.faults().update(Scope::Both, |f| f.latency_ms = 250);
        Some(SyncFixture { db, store, sim, engine })
    }

    /// Starts a second `dongbo worker` process after the first was killed, waits for it to finish
    /// `job`, stops it, and checks that the job completed on its second claim.
    pub async fn finish_in_a_second_worker(&self, job: JobId, job_type: &str) -> BackgroundJob {
        let mut second = spawn_worker(&self.db.url, &self.sim.env());
        let row = wait_for("the second worker to finish the job", Duration::from_secs(300), || async {
            let row = self.store.job(job).await.unwrap().unwrap();
            row.status.is_finished().then_some(row)
        })
        .await;
        second.kill().unwrap();
        second.wait().unwrap();
        assert_eq!(row.status, JobStatus::Completed, "{job_type}: {:?}", row.error);
        assert_eq!(row.attempts, 2, "{job_type} resumed once");
        row
    }
}

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
