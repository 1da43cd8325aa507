//! What the pull tests share: a simulator, an engine over a fresh store with the pull workflows
//! registered against the simulator (with a shortened Nhanh window), running a job to its end,
//! and scanning a job's events for the simulator's tokens.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use dongbo_engine::{
    BackgroundJob, Db, Engine, JobId, JobRequest, JobStatus, Registry, SharedStore, WorkerConfig, WorkerId,
};
use dongbo_simulator::{NhanhLimits, Plan, SimConfig, Simulator};
use dongbo_tests::{Backend, TestDb};
use dongbo_workflows::connectors::limiter::window::WindowConfig;
use dongbo_workflows::connectors::{NhanhClient, NhanhConfig, RetryPolicy, ShopifyClient, ShopifyConfig};
use dongbo_workflows::pull::{register_with, PullSettings};
use dongbo_workflows::Upstreams;
use serde_json::Value;

/// A simulator whose Nhanh window is one second (150 requests per second instead of per 30 s)
/// and whose Shopify plan is Plus, so hundreds of pages take seconds; the rest is as published.
pub async fn simulator(customers: usize, products: usize) -> Arc<Simulator> {
    let config = SimConfig {
        customers,
        products,
        nhanh: NhanhLimits { window: Duration::from_secs(1), lock_seconds: 1, ..NhanhLimits::default() },
        // The Plus bucket (1,000 points/s) so paged Shopify pulls take seconds; the limiter and
        // the throttle are the same code on every plan.
        plan: Plan::Plus,
        ..SimConfig::default()
    };
    Arc::new(Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.expect("start simulator"))
}

/// Clients for `sim`, the Nhanh one paced to the simulator's one-second window.
pub fn upstreams(sim: &Simulator, timeout: Duration) -> Upstreams {
    let env = sim.env();
    let var = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut nhanh = NhanhConfig::from_vars(var).expect("nhanh vars");
    nhanh.timeout = timeout;
    let window = WindowConfig { limit: 150, window: Duration::from_secs(1), margin: Duration::from_millis(50) };
    let nhanh = NhanhClient::with_policy(nhanh, window, RetryPolicy::default()).expect("nhanh client");
    let mut shopify = ShopifyConfig::from_vars(var).expect("shopify vars");
    shopify.timeout = timeout;
    let shopify = ShopifyClient::new(shopify).expect("shopify client");
    Upstreams { nhanh: Some(Arc::new(nhanh)), shopify: Some(Arc::new(shopify)), ..Upstreams::default() }
}

/// An engine on a fresh store of `backend` with the pulls registered.
pub struct Rig {
    pub engine: Engine,
    pub store: SharedStore,
    pub db: Db,
    pub upstreams: Upstreams,
    _test_db: TestDb,
}

impl Rig {
    pub async fn new(backend: Backend, sim: &Simulator, settings: PullSettings) -> Option<Rig> {
        let test_db = dongbo_tests::fresh_db(backend).await?;
        let store = dongbo_workflows::open(&test_db.url).await.expect("open store");
        let upstreams = upstreams(sim, Duration::from_secs(5));
        let mut registry = Registry::new();
        register_with(&mut registry, &upstreams, settings);
        let engine = Engine::new(store.clone(), registry);
        let db = store.db();
        Some(Rig { engine, store, db, upstreams, _test_db: test_db })
    }

    pub fn worker_config(&self) -> WorkerConfig {
        let mut c = WorkerConfig::new(WorkerId::new("pull-test"));
        c.poll = Duration::from_millis(20);
        c.retry.base = Duration::from_millis(50);
        c.retry.max = Duration::from_millis(500);
        c.retry.max_attempts = 20;
        c
    }

    /// Requests `job_type` with `input` and runs workers until the job finishes.
    pub async fn run(&self, job_type: &str, input: Value) -> BackgroundJob {
        self.run_with(job_type, input, self.worker_config()).await
    }

    pub async fn run_with(&self, job_type: &str, input: Value, config: WorkerConfig) -> BackgroundJob {
        let id = self.engine.request(JobRequest::new(job_type, input)).await.expect("request").job.id;
        let worker = self.engine.worker(config);
        dongbo_tests::wait_for(&format!("{job_type} to finish"), Duration::from_secs(600), || async {
            worker.run_once().await.expect("worker");
            let job = self.job(id).await;
            matches!(job.status, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled).then_some(job)
        })
        .await
    }

    pub async fn job(&self, id: JobId) -> BackgroundJob {
        self.store.job(id).await.expect("read job").expect("job exists")
    }

    /// The job's `JobCompleted` summary.
    pub async fn summary(&self, id: JobId) -> Value {
        let events = self.store.events(id, 0, 1_000_000).await.expect("events");
        let done = events.iter().rev().find(|e| e.event_type == "JobCompleted").expect("JobCompleted event");
        done.payload.get("summary").cloned().unwrap_or(Value::Null)
    }

    /// Asserts that no event of the job carries any of the simulator's secrets.
    pub async fn assert_no_token_in_events(&self, id: JobId, sim: &Simulator) {
        let c = sim.credentials();
        let secrets = [&c.nhanh_access_token, &c.shopify_access_token, &c.nhanh_secret_key];
        let events = self.store.events(id, 0, 1_000_000).await.expect("events");
        assert!(!events.is_empty());
        for e in &events {
            let text = e.payload.to_string();
            for s in secrets {
                assert!(!text.contains(s.as_str()), "event {} of job {id} holds a token: {text}", e.seq);
            }
            assert!(!text.contains("/_sim/bulk/"), "event {} of job {id} holds a bulk result URL", e.seq);
        }
    }
}
