//! What the simulator-backed sections share: clients pointed at a simulator, running one job to
//! its end on an in-process worker, and a catalog ready to sync.
//!
//! The sync fixture fills the catalog with the real pulls (Shopify throttling off, so setup is
//! quick), maps the simulator's true pairs by hand as an operator would, maps depots onto
//! locations, then turns throttling back on with a full bucket for the measured part.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, Context};
use dongbo_engine::{BackgroundJob, Engine, JobId, JobRequest, JobStatus, SharedStore, WorkerConfig, WorkerId};
use dongbo_simulator::{Scope, SimConfig, Simulator};
use dongbo_workflows::catalog::store::pulls::set_location_mapping;
use dongbo_workflows::catalog::store::sync::{set_manual_customer_mapping, set_manual_product_mapping};
use dongbo_workflows::pull::{self, NhanhCustomersInput, ShopifyPullInput};
use dongbo_workflows::Upstreams;

use super::ScratchDb;
use crate::registry_on;

/// Clients pointed at the simulator.
pub fn upstreams(sim: &Simulator) -> anyhow::Result<Upstreams> {
    let env = sim.env();
    Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .map_err(|e| anyhow::anyhow!("configuring the upstreams: {e}"))
}

/// Requests a job and works it on one in-process worker (`config`) until it has finished; a job
/// that does not end COMPLETED is an error.
pub async fn run_to_end(engine: &Engine, request: JobRequest, config: WorkerConfig) -> anyhow::Result<BackgroundJob> {
    let job_type = request.job_type.clone();
    let id = engine.request(request).await.with_context(|| format!("requesting {job_type}"))?.job.id;
    finish(engine, id, config).await
}

/// Works job `id` on one in-process worker (`config`) until it has finished — claiming it as
/// soon as it is due, e.g. once a dead worker's lease has run out; it must end COMPLETED.
pub async fn finish(engine: &Engine, id: JobId, mut config: WorkerConfig) -> anyhow::Result<BackgroundJob> {
    config.poll = Duration::from_millis(10);
    let poll = config.poll;
    let worker = engine.worker(config);
    loop {
        if worker.run_once().await?.is_none() {
            tokio::time::sleep(poll).await;
        }
        let job = engine.store().job(id).await?.context("a bench job vanished")?;
        if job.status.is_finished() {
            if job.status != JobStatus::Completed {
                bail!("{} ended {}: {}", job.job_type, job.status, job.error.unwrap_or_default());
            }
            return Ok(job);
        }
    }
}

/// A simulator and a catalog ready for PRODUCT_SYNC and CUSTOMER_SYNC.
pub struct SyncFixture {
    /// The simulator (Standard plan, throttling on).
    pub sim: Simulator,
    /// Clients pointed at it.
    pub upstreams: Upstreams,
    /// The engine, with every job type `dongbo serve` runs (RECONCILE and PIPELINE included).
    pub engine: Engine,
    /// Its store.
    pub store: SharedStore,
    /// Mapped pairs.
    pub mapped_customers: usize,
    /// Mapped pairs.
    pub mapped_products: usize,
    /// Shopify locations receiving stock.
    pub locations: usize,
    /// The database; dropped last.
    pub db: ScratchDb,
}

impl SyncFixture {
    /// `products` × `customers` in the simulator, mirrored and mapped in `db`.
    pub async fn prepare(db: ScratchDb, products: usize, customers: usize) -> anyhow::Result<SyncFixture> {
        let config = SimConfig { products, customers, ..SimConfig::default() };
        let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.context("starting the simulator")?;
        let upstreams = upstreams(&sim)?;
        let store = dongbo_workflows::open(db.url()).await.context("opening the scratch database")?;
        let engine = Engine::new(store.clone(), registry_on(&store, &upstreams));
        let catalog = store.db();

        sim.faults().set_throttle(Scope::Shopify, false);
        for request in [
            pull::NHANH_CUSTOMERS.request(&NhanhCustomersInput::default())?,
            pull::SHOPIFY_PRODUCTS.request(&ShopifyPullInput::default())?,
        ] {
            run_to_end(&engine, request, WorkerConfig::new(WorkerId::new("bench-setup"))).await?;
        }
        let truth = sim.truth();
        for (depot, location) in &truth.depot_to_location {
            set_location_mapping(&catalog, *depot, location).await.context("mapping a depot")?;
        }
        for (nhanh, gid) in &truth.customer_pairs {
            set_manual_customer_mapping(&catalog, *nhanh as i64, gid, 0).await.context("mapping a customer")?;
        }
        for (nhanh, gid) in &truth.product_pairs {
            set_manual_product_mapping(&catalog, *nhanh as i64, gid, 0).await.context("mapping a product")?;
        }
        sim.faults().set_throttle(Scope::Shopify, true);
        let locations = truth.depot_to_location.iter().map(|(_, l)| l).collect::<BTreeSet<_>>().len();
        Ok(SyncFixture {
            mapped_customers: truth.customer_pairs.len(),
            mapped_products: truth.product_pairs.len(),
            locations,
            sim,
            upstreams,
            engine,
            store,
            db,
        })
    }
}
