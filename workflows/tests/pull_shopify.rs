//! The Shopify pulls against the simulator over real HTTP, on SQLite and PostgreSQL: by bulk
//! export and by pages they leave the same, exact catalog; a bulk pull stopped mid-export
//! resumes in another process at its line and holds nothing once done; a malformed page fails
//! the job.

mod pull_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dongbo_engine::{Engine, JobRequest, JobStatus, Registry, Step, StepContext, StepError, WorkerId, Workflow};
use dongbo_simulator::{Scope, Simulator};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::pulls::{
    list_locations, list_shopify_customer_keys, list_shopify_customers, list_shopify_products, list_shopify_variants,
};
use dongbo_workflows::jobs::{PULL_SHOPIFY_CUSTOMERS, PULL_SHOPIFY_PRODUCTS};
use dongbo_workflows::pull::shopify::{Phase, PullShopifyCustomers, ShopifyPullInput, ShopifyPullState};
use dongbo_workflows::pull::PullSettings;
use pull_support::Rig;
use serde_json::json;

/// Asserts the catalog's Shopify customers and products are exactly the simulator's.
pub async fn assert_shopify_mirror(rig: &Rig, sim: &Simulator) {
    let state = sim.state();
    let customers = list_shopify_customers(&rig.db).await.unwrap();
    assert_eq!(customers.len(), state.shopify_customer_count());
    for c in &customers {
        assert_eq!(c.phone, state.shopify_customer_phone(&c.id), "customer {}", c.id);
    }
    let keyed = list_shopify_customer_keys(&rig.db).await.unwrap();
    assert!(!keyed.is_empty());
    let variants = list_shopify_variants(&rig.db).await.unwrap();
    assert_eq!(variants.len(), state.shopify_variant_count());
    for v in &variants {
        let s = state.variant(&v.id).unwrap_or_else(|| panic!("variant {} unknown to the simulator", v.id));
        assert_eq!((&v.sku, &v.barcode), (&s.sku, &s.barcode), "variant {}", v.id);
        assert_eq!(v.inventory_item_id.as_deref(), Some(s.inventory_item_id.as_str()));
    }
    assert_eq!(list_shopify_products(&rig.db).await.unwrap().len(), sim.truth().shopify_products);
    assert_eq!(list_locations(&rig.db).await.unwrap().len(), sim.truth().locations.len());
}

async fn bulk_and_paged_pulls_leave_the_same_exact_catalog(backend: Backend) {
    let sim = pull_support::simulator(3_000, 600).await;
    // Auto mode exports stores above 1,000 records; 700 lines per ingest step.
    let settings = PullSettings { bulk_threshold: 1_000, bulk_chunk_lines: 700, ..PullSettings::default() };
    let Some(rig) = Rig::new(backend, &sim, settings).await else { return };

    let bulk = rig.run(PULL_SHOPIFY_CUSTOMERS, json!({})).await;
    assert_eq!(bulk.status, JobStatus::Completed, "{:?}", bulk.error);
    let summary = rig.summary(bulk.id).await;
    assert_eq!(summary["transfer"], "bulk");
    assert_eq!(bulk.total, Some(sim.state().shopify_customer_count() as i64));
    assert_eq!(bulk.processed, bulk.total.unwrap());
    assert!(summary["pages"].as_u64().unwrap() >= 5, "ingested in chunks: {summary}");
    let products = rig.run(PULL_SHOPIFY_PRODUCTS, json!({"mode": "bulk"})).await;
    assert_eq!(products.status, JobStatus::Completed, "{:?}", products.error);
    assert_eq!(rig.summary(products.id).await["transfer"], "bulk");
    assert_shopify_mirror(&rig, &sim).await;
    let by_bulk = (
        list_shopify_customers(&rig.db).await.unwrap(),
        list_shopify_variants(&rig.db).await.unwrap(),
        list_shopify_customer_keys(&rig.db).await.unwrap(),
    );

    let paged = rig.run(PULL_SHOPIFY_CUSTOMERS, json!({"mode": "paged"})).await;
    assert_eq!(paged.status, JobStatus::Completed, "{:?}", paged.error);
    assert_eq!(rig.summary(paged.id).await["transfer"], "paged");
    assert_eq!(rig.summary(paged.id).await["removed"], 0);
    let products = rig.run(PULL_SHOPIFY_PRODUCTS, json!({"mode": "paged"})).await;
    assert_eq!(products.status, JobStatus::Completed, "{:?}", products.error);
    assert_shopify_mirror(&rig, &sim).await;
    let by_pages = (
        list_shopify_customers(&rig.db).await.unwrap(),
        list_shopify_variants(&rig.db).await.unwrap(),
        list_shopify_customer_keys(&rig.db).await.unwrap(),
    );
    assert!(by_bulk == by_pages, "bulk and paged pulls mirror the same rows and keys");
    rig.assert_no_token_in_events(bulk.id, &sim).await;
    rig.assert_no_token_in_events(products.id, &sim).await;
}

async fn an_incremental_shopify_pull_pages_from_the_watermark(backend: Backend) {
    let sim = pull_support::simulator(1_500, 50).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    let full = rig.run(PULL_SHOPIFY_CUSTOMERS, json!({})).await;
    assert_eq!(full.status, JobStatus::Completed, "{:?}", full.error);
    // The simulator's customers were all updated long before this pull started: nothing is new.
    let inc = rig.run(PULL_SHOPIFY_CUSTOMERS, json!({"incremental": true, "mode": "bulk"})).await;
    assert_eq!(inc.status, JobStatus::Completed, "{:?}", inc.error);
    let summary = rig.summary(inc.id).await;
    assert_eq!((summary["mode"].as_str(), summary["transfer"].as_str()), (Some("incremental"), Some("paged")));
    assert_eq!(inc.processed, 0);
    assert_eq!(summary["removed"], 0);
    assert_eq!(list_shopify_customers(&rig.db).await.unwrap().len(), sim.state().shopify_customer_count());
}

async fn a_malformed_shopify_page_fails_the_job_with_a_clear_reason(backend: Backend) {
    let sim = pull_support::simulator(300, 20).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    sim.faults().update(Scope::Shopify, |f| f.malformed_rate = 1.0);
    let job = rig.run(PULL_SHOPIFY_PRODUCTS, json!({})).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("malformed upstream reply"), "{error}");
    rig.assert_no_token_in_events(job.id, &sim).await;
}

/// `PULL_SHOPIFY_CUSTOMERS` as one process runs it: its own workflow instance (and so its own
/// open export), which stops — as a process killed mid-export would, its in-memory state gone —
/// when it reaches the ingest step at line `stop_at` or beyond, once.
struct Process {
    pull: Arc<PullShopifyCustomers>,
    stop_at: Option<usize>,
    stopped: AtomicBool,
    /// The export the process held when it stopped.
    held_at_stop: Mutex<Option<(String, usize)>>,
}

impl Process {
    fn new(rig_upstreams: &dongbo_workflows::Upstreams, settings: PullSettings, stop_at: Option<usize>) -> Arc<Self> {
        let pull = Arc::new(PullShopifyCustomers::new(rig_upstreams.clone(), settings));
        Arc::new(Process { pull, stop_at, stopped: AtomicBool::new(false), held_at_stop: Mutex::new(None) })
    }
}

struct AsProcess(Arc<Process>);

#[async_trait]
impl Workflow for AsProcess {
    type Input = ShopifyPullInput;
    type State = ShopifyPullState;

    fn job_type(&self) -> &'static str {
        PULL_SHOPIFY_CUSTOMERS
    }

    fn initial_state(&self, input: &ShopifyPullInput) -> ShopifyPullState {
        self.0.pull.initial_state(input)
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &ShopifyPullInput,
        state: ShopifyPullState,
    ) -> Result<Step<ShopifyPullState>, StepError> {
        let p = &self.0;
        if let (Phase::BulkIngest { offset, .. }, Some(stop_at)) = (&state.phase, p.stop_at) {
            if *offset >= stop_at && !p.stopped.swap(true, Ordering::SeqCst) {
                *p.held_at_stop.lock().unwrap() = p.pull.open_export();
                return Err(StepError::transient("the process stopped mid-export"));
            }
        }
        p.pull.step(ctx, input, state).await
    }
}

/// An engine whose only workflow is `process`.
fn engine_of(rig: &Rig, process: &Arc<Process>) -> Engine {
    let mut registry = Registry::new();
    registry.register(AsProcess(process.clone()));
    Engine::new(rig.store.clone(), registry)
}

async fn a_bulk_pull_resumes_at_its_line_in_another_process_and_holds_nothing_once_done(backend: Backend) {
    let sim = pull_support::simulator(2_000, 10).await;
    let settings = PullSettings { bulk_chunk_lines: 300, ..PullSettings::default() };
    let Some(rig) = Rig::new(backend, &sim, settings).await else { return };
    let request = JobRequest::new(PULL_SHOPIFY_CUSTOMERS, json!({"mode": "bulk"}));
    let id = rig.engine.request(request).await.expect("request").job.id;

    // The first process ingests three chunks, then stops while holding the export open.
    let first = Process::new(&rig.upstreams, settings, Some(900));
    let worker = engine_of(&rig, &first).worker(rig.worker_config());
    dongbo_tests::wait_for("the first process to stop", Duration::from_secs(120), || async {
        worker.run_once().await.expect("worker");
        first.stopped.load(Ordering::SeqCst).then_some(())
    })
    .await;
    let held = first.held_at_stop.lock().unwrap().clone();
    let (operation, line) = held.expect("the first process held the export open between its steps");
    assert!(operation.starts_with("gid://shopify/BulkOperation/"), "{operation}");
    assert_eq!(line, 900);
    let stopped = rig.job(id).await;
    assert_eq!(stopped.processed, 900, "three chunks committed before the stop");

    // Another process, which never saw the export, takes the job over.
    let second = Process::new(&rig.upstreams, settings, None);
    let mut config = rig.worker_config();
    config.id = WorkerId::new("second-process");
    let worker = engine_of(&rig, &second).worker(config);
    let job = dongbo_tests::wait_for("the second process to finish the pull", Duration::from_secs(120), || async {
        worker.run_once().await.expect("worker");
        let job = rig.job(id).await;
        job.status.is_finished().then_some(job)
    })
    .await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let total = sim.state().shopify_customer_count() as i64;
    // Every line ingested exactly once across the two processes: no line read twice, none skipped.
    assert_eq!((job.total, job.processed), (Some(total), total));
    assert_eq!(rig.summary(id).await["transfer"], "bulk");
    let customers = list_shopify_customers(&rig.db).await.unwrap();
    assert_eq!(customers.len(), sim.state().shopify_customer_count());
    for c in &customers {
        assert_eq!(c.phone, sim.state().shopify_customer_phone(&c.id), "customer {}", c.id);
    }
    // Nothing of the export is left with the process that finished it.
    assert_eq!(second.pull.open_export(), None);
    rig.assert_no_token_in_events(id, &sim).await;
}

dongbo_tests::on_both_stores!(multi_thread:
    a_bulk_pull_resumes_at_its_line_in_another_process_and_holds_nothing_once_done,
    bulk_and_paged_pulls_leave_the_same_exact_catalog,
    an_incremental_shopify_pull_pages_from_the_watermark,
    a_malformed_shopify_page_fails_the_job_with_a_clear_reason,
);
