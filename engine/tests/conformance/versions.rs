//! Checkpoints written by an older version of a workflow.

use async_trait::async_trait;
use dongbo_engine::event::{EventPayload, NewEvent, Progress, StepCompleted};
use dongbo_engine::store::{Append, QueueChange};
use dongbo_engine::{Clock, JobRequest, JobStatus, RunOutcome, Step, StepContext, StepError, WorkerId, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::harness::{worker_config, Harness};

/// Version 2 of a counter whose checkpoint was `{"n": 3}` in version 1 and is
/// `{"count": 3, "unit": "items"}` now.
struct CounterV2 {
    upgrades: bool,
}

#[derive(Serialize, Deserialize)]
struct StateV2 {
    count: u32,
    unit: String,
}

#[async_trait]
impl Workflow for CounterV2 {
    type Input = Value;
    type State = StateV2;

    fn job_type(&self) -> &'static str {
        "COUNTER"
    }

    fn state_version(&self) -> u32 {
        2
    }

    fn initial_state(&self, _input: &Value) -> StateV2 {
        StateV2 { count: 0, unit: "items".into() }
    }

    async fn step(&self, _ctx: &StepContext, _input: &Value, state: StateV2) -> Result<Step<StateV2>, StepError> {
        Ok(Step::complete("finish", json!({ "count": state.count + 1, "unit": state.unit })))
    }

    fn upgrade_state(&self, from: u32, state: Value) -> Result<Value, String> {
        match (self.upgrades, from) {
            (true, 1) => Ok(json!({ "count": state["n"], "unit": "items" })),
            _ => Err(format!(
                "checkpoint written with state version {from}, this binary reads version 2 and cannot convert it"
            )),
        }
    }
}

/// Creates a COUNTER job whose last checkpoint was written by version 1, as an old binary would.
async fn job_with_v1_checkpoint(h: &Harness, upgrades: bool) -> (dongbo_engine::Engine, dongbo_engine::JobId) {
    let mut registry = h.registry();
    registry.register(CounterV2 { upgrades });
    let engine = h.engine_with(registry);
    let job = engine.request(JobRequest::new("COUNTER", json!({}))).await.unwrap().job.id;
    let old = WorkerId::new("old-binary");
    let now = h.clock.now();
    let claimed = h.store.claim(&old, &["COUNTER"], now, now + chrono::Duration::seconds(30)).await.unwrap().unwrap();
    let v1 = NewEvent {
        seq: claimed.next_seq,
        payload: EventPayload::StepCompleted(StepCompleted {
            v: 1,
            step: "count".into(),
            state_version: 1,
            state: json!({ "n": 3 }),
            progress: Progress { processed: 3, ..Progress::default() },
            note: None,
            touched: vec![],
            touched_count: None,
            wait_until: None,
        }),
        recorded_at: now,
        actor: "old-binary".into(),
    };
    let queue = QueueChange::Continue { lease_until: now };
    h.store
        .append(&claimed.lease, Append { events: vec![v1], effects: None, touched: Vec::new(), queue, row: None })
        .await
        .unwrap();
    h.store.release(&claimed.lease).await.unwrap();
    (engine, job)
}

pub async fn an_old_checkpoint_is_upgraded_by_a_newer_workflow(h: Harness) {
    let (engine, job) = job_with_v1_checkpoint(&h, true).await;
    let worker = engine.worker(worker_config("new-binary"));
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Completed);
    let row = h.job(job).await;
    assert_eq!(row.status, JobStatus::Completed);
    assert_eq!(row.metadata["summary"], json!({ "count": 4, "unit": "items" }));
}

pub async fn a_checkpoint_the_binary_cannot_read_fails_the_job_clearly(h: Harness) {
    let (engine, job) = job_with_v1_checkpoint(&h, false).await;
    let worker = engine.worker(worker_config("new-binary"));
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Failed);
    let row = h.job(job).await;
    assert_eq!(row.status, JobStatus::Failed);
    assert_eq!(
        row.error.as_deref(),
        Some("checkpoint written with state version 1, this binary reads version 2 and cannot convert it")
    );
}
