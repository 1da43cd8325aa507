//! Resume and rerun: a FAILED or CANCELLED job continues from its last checkpoint under the same
//! id; a rerun is a new job with the same input that points back at the original.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use dongbo_engine::event::EventPayload;
use dongbo_engine::job::JobStatus;
use dongbo_engine::{
    Engine, JobId, JobRequest, Progress, RunOutcome, Step, StepContext, StepError, StoreError, Workflow,
};
use serde_json::json;

use crate::gated::{ledger_rows, Gated, Mark, GATED};
use crate::harness::{worker_config, Harness};

const BREAKABLE: &str = "BREAKABLE";

/// Counts five steps, writing a ledger row in each; the third fails for good while `broken`.
#[derive(Clone)]
struct Breakable {
    broken: Arc<AtomicBool>,
}

#[async_trait]
impl Workflow for Breakable {
    type Input = serde_json::Value;
    type State = u32;

    fn job_type(&self) -> &'static str {
        BREAKABLE
    }

    fn initial_state(&self, _input: &serde_json::Value) -> u32 {
        0
    }

    async fn step(&self, ctx: &StepContext, _input: &serde_json::Value, done: u32) -> Result<Step<u32>, StepError> {
        if done == 2 && self.broken.load(Ordering::SeqCst) {
            return Err(StepError::permanent("the upstream refused item 2"));
        }
        let progress = Progress { total: Some(5), processed: 1, successful: 1, ..Progress::default() };
        let mark = Mark { job: ctx.job_id, item: i64::from(done), fail: false };
        let step = if done + 1 >= 5 {
            Step::complete("count", json!({ "counted": 5 }))
        } else {
            Step::next("count", done + 1)
        };
        Ok(step.with_progress(progress).with_effects(mark))
    }
}

async fn resumed_payload(h: &Harness, job: JobId) -> dongbo_engine::event::JobResumed {
    h.events(job)
        .await
        .iter()
        .find_map(|e| match e.decode().unwrap() {
            EventPayload::JobResumed(r) => Some(r),
            _ => None,
        })
        .expect("a JobResumed event")
}

fn conflict(err: StoreError) -> String {
    match err {
        StoreError::Conflict(message) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub async fn a_failed_job_resumes_from_its_checkpoint_and_ends_with_exact_counts(h: Harness) {
    let broken = Arc::new(AtomicBool::new(true));
    let mut registry = h.registry();
    registry.register(Breakable { broken: broken.clone() });
    let engine = h.engine_with(registry);
    let job = engine.request(JobRequest::new(BREAKABLE, json!({}))).await.unwrap().job.id;
    let worker = engine.worker(worker_config("w"));
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Failed);
    let failed = h.job(job).await;
    assert_eq!((failed.status, failed.processed), (JobStatus::Failed, 2));
    let checkpoint = h.events(job).await.iter().filter(|e| e.event_type == "StepCompleted").map(|e| e.seq).max();

    // The upstream is fixed; an operator resumes the job.
    broken.store(false, Ordering::SeqCst);
    let row = engine.resume(job, "operator", Some("the upstream is back")).await.unwrap();
    assert_eq!((row.status, row.processed, row.error, row.completed_at), (JobStatus::Pending, 2, None, None));
    let resumed = resumed_payload(&h, job).await;
    assert_eq!(
        (resumed.by.as_str(), resumed.reason.as_deref(), resumed.previous_status, resumed.from_checkpoint),
        ("operator", Some("the upstream is back"), JobStatus::Failed, checkpoint)
    );
    assert_eq!(worker.run_once().await.unwrap().unwrap(), (job, RunOutcome::Completed));
    let done = h.job(job).await;
    assert_eq!((done.status, done.processed, done.successful, done.total), (JobStatus::Completed, 5, 5, Some(5)));
    assert_eq!(ledger_rows(&h.store.db(), job).await, 5, "each item written once");
    let claims: Vec<_> = h
        .events(job)
        .await
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            EventPayload::JobClaimed(c) => Some(c.resumed_from),
            _ => None,
        })
        .collect();
    assert_eq!(claims, [None, checkpoint], "the second claim continues from the checkpoint");

    // A completed job cannot be resumed; the projection is still the fold of the log.
    let message = conflict(engine.resume(job, "operator", None).await.unwrap_err());
    assert_eq!(message, format!("job {job} is COMPLETED: only a FAILED or CANCELLED job can be resumed"));
    h.store.rebuild_projection().await.unwrap();
    assert_eq!(h.job(job).await, done);
}

pub async fn a_cancelled_job_resumes_and_a_running_one_cannot(h: Harness) {
    let (gated, entered) = Gated::new(4);
    let mut registry = h.registry();
    registry.register(gated.clone());
    let engine = h.engine_with(registry);
    let job = engine.request(JobRequest::new(GATED, json!({}))).await.unwrap().job.id;
    let worker = engine.worker(worker_config("w"));
    let run = tokio::spawn(async move { worker.run_once().await });
    entered.next().await;
    let message = conflict(engine.resume(job, "operator", None).await.unwrap_err());
    assert_eq!(message, format!("job {job} is RUNNING: only a FAILED or CANCELLED job can be resumed"));
    engine.cancel(job, "operator").await.unwrap();
    gated.open_once();
    assert_eq!(run.await.unwrap().unwrap().unwrap().1, RunOutcome::Cancelled);
    assert_eq!((h.job(job).await.status, h.job(job).await.processed), (JobStatus::Cancelled, 1));

    let row = engine.resume(job, "operator", None).await.unwrap();
    assert_eq!(row.status, JobStatus::Pending);
    assert_eq!(row.metadata.get("cancelRequested"), None, "the old cancel request is not pending any more");
    assert_eq!(resumed_payload(&h, job).await.previous_status, JobStatus::Cancelled);
    for _ in 0..3 {
        gated.open_once();
    }
    let worker = engine.worker(worker_config("w2"));
    let run = tokio::spawn(async move { worker.run_once().await });
    for _ in 0..3 {
        entered.next().await;
    }
    assert_eq!(run.await.unwrap().unwrap().unwrap(), (job, RunOutcome::Completed));
    let done = h.job(job).await;
    assert_eq!((done.status, done.processed), (JobStatus::Completed, 4));
    assert_eq!(ledger_rows(&h.store.db(), job).await, 4);
    h.store.rebuild_projection().await.unwrap();
    assert_eq!(h.job(job).await, done);
}

pub async fn a_rerun_is_a_new_job_with_the_same_input_that_points_back(h: Harness) {
    let engine: Engine = h.engine();
    let input = json!({"items": 30, "batch": 10, "failAt": 15});
    let original = h.request_example(&engine, input).await;
    let worker = h.worker(&engine, "w");
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Failed);
    let rerun = engine.rerun(original, "operator").await.unwrap();
    assert_eq!(rerun.existing, None);
    let copy = rerun.job.id;
    assert_ne!(copy, original);
    assert_eq!(rerun.job.metadata["rerunOf"], json!(original.to_string()));
    let (first, copied) = (&h.events(original).await[0], &h.events(copy).await[0]);
    match (first.decode().unwrap(), copied.decode().unwrap()) {
        (EventPayload::JobRequested(a), EventPayload::JobRequested(b)) => {
            assert_eq!((b.input, b.rerun_of, b.requested_by.as_str()), (a.input, Some(original), "operator"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.job(original).await.status, JobStatus::Failed, "the original stays as it was");
    assert!(matches!(
        engine.rerun(JobId::new(), "operator").await,
        Err(dongbo_engine::EngineError::Store(StoreError::NotFound(_)))
    ));
    h.store.rebuild_projection().await.unwrap();
    assert_eq!(h.job(copy).await.metadata["rerunOf"], json!(original.to_string()));
}
