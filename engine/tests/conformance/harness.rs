//! A fresh store per test, engines on a manual clock, and small readers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dongbo_engine::example::{ExampleCount, EXAMPLE_COUNT};
use dongbo_engine::{
    BackgroundJob, Engine, Event, JobId, JobRequest, ManualClock, Registry, SharedStore, Worker, WorkerConfig, WorkerId,
};
use dongbo_tests::{Backend, TestDb};
use serde_json::Value;

pub struct Harness {
    pub store: SharedStore,
    pub clock: ManualClock,
    pub db: TestDb,
}

impl Harness {
    pub async fn new(backend: Backend) -> Option<Harness> {
        let db = dongbo_tests::fresh_db(backend).await?;
        let store = dongbo_engine::open(&db.url).await.expect("open store");
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        Some(Harness { store, clock, db })
    }

    /// Another store (own pool) on the same database.
    pub async fn second_store(&self) -> SharedStore {
        dongbo_engine::open(&self.db.url).await.expect("open second store")
    }

    pub fn registry(&self) -> Registry {
        let mut r = Registry::new();
        r.register(ExampleCount);
        r
    }

    pub fn engine(&self) -> Engine {
        self.engine_with(self.registry())
    }

    pub fn engine_with(&self, registry: Registry) -> Engine {
        Engine::with_clock(self.store.clone(), registry, Arc::new(self.clock.clone()))
    }

    pub fn worker(&self, engine: &Engine, name: &str) -> Worker {
        engine.worker(worker_config(name))
    }

    pub async fn request_example(&self, engine: &Engine, input: Value) -> JobId {
        engine.request(JobRequest::new(EXAMPLE_COUNT, input)).await.expect("request").job.id
    }

    pub async fn job(&self, id: JobId) -> BackgroundJob {
        self.store.job(id).await.expect("read job").expect("job exists")
    }

    pub async fn events(&self, id: JobId) -> Vec<Event> {
        self.store.events(id, 0, 100_000).await.expect("read events")
    }

    pub async fn event_types(&self, id: JobId) -> Vec<String> {
        self.events(id).await.into_iter().map(|e| e.event_type).collect()
    }
}

pub fn worker_config(name: &str) -> WorkerConfig {
    let mut c = WorkerConfig::new(WorkerId::new(name));
    c.lease = Duration::from_secs(30);
    c.poll = Duration::from_millis(50);
    c
}
