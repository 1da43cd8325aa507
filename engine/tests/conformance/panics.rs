//! A panic inside a step is the step's failure; a worker loop that dies anyway stops renewing its
//! lease and is started again by its supervisor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dongbo_engine::event::EventPayload;
use dongbo_engine::worker::StepHook;
use dongbo_engine::{
    Engine, JobId, JobRequest, JobStatus, Progress, RunOutcome, Step, StepContext, StepError, WorkerPool, Workflow,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::harness::{worker_config, Harness};

const PANICKY: &str = "PANICKY";

/// Panics in every step run under the first `panics` claims of its job, then counts `steps`
/// steps of one item each.
#[derive(Clone, Copy)]
struct Panicky;

#[derive(Serialize, Deserialize)]
struct PanickyInput {
    panics: u32,
    steps: u32,
}

#[async_trait]
impl Workflow for Panicky {
    type Input = PanickyInput;
    type State = u32;

    fn job_type(&self) -> &'static str {
        PANICKY
    }

    fn initial_state(&self, _input: &PanickyInput) -> u32 {
        0
    }

    async fn step(&self, ctx: &StepContext, input: &PanickyInput, done: u32) -> Result<Step<u32>, StepError> {
        if ctx.attempt <= input.panics {
            panic!("boom on claim {}", ctx.attempt);
        }
        let progress =
            Progress { total: Some(i64::from(input.steps)), processed: 1, successful: 1, ..Progress::default() };
        let step = if done + 1 >= input.steps {
            Step::complete("count", json!({ "steps": done + 1 }))
        } else {
            Step::next("count", done + 1)
        };
        Ok(step.with_progress(progress))
    }
}

fn engine(h: &Harness) -> Engine {
    let mut registry = h.registry();
    registry.register(Panicky);
    h.engine_with(registry)
}

async fn request(engine: &Engine, panics: u32, steps: u32) -> JobId {
    engine.request(JobRequest::new(PANICKY, json!({ "panics": panics, "steps": steps }))).await.unwrap().job.id
}

/// The errors of a job's `StepFailed` events, in order.
async fn step_failures(h: &Harness, job: JobId) -> Vec<(String, bool)> {
    h.events(job)
        .await
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            EventPayload::StepFailed(f) => Some((f.error, f.retryable)),
            _ => None,
        })
        .collect()
}

/// A hook that panics on the first step it hears of: a bug outside any step, which kills the
/// worker loop that runs it.
fn panics_once() -> StepHook {
    let armed = AtomicBool::new(true);
    Arc::new(move |_| {
        if armed.swap(false, Ordering::SeqCst) {
            panic!("a bug in the step hook");
        }
    })
}

pub async fn a_panicking_step_is_a_failed_step_with_its_message_and_is_retried(h: Harness) {
    let engine = engine(&h);
    let job = request(&engine, 2, 3).await;
    let worker = engine.worker(worker_config("w"));
    for claim in 1..=2 {
        assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::RetryScheduled, "claim {claim}");
        assert!(worker.run_once().await.unwrap().is_none(), "not due before its retry time");
        h.clock.advance(Duration::from_secs(600));
    }
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Completed);
    assert_eq!(
        step_failures(&h, job).await,
        [("step panicked: boom on claim 1".to_owned(), true), ("step panicked: boom on claim 2".to_owned(), true)]
    );
    let row = h.job(job).await;
    assert_eq!((row.status, row.processed, row.attempts, row.error), (JobStatus::Completed, 3, 3, None));
}

pub async fn a_step_that_always_panics_fails_the_job_when_its_attempts_run_out(h: Harness) {
    let engine = engine(&h);
    let job = request(&engine, u32::MAX, 3).await;
    let mut config = worker_config("w");
    config.retry.max_attempts = 3;
    let worker = engine.worker(config);
    for _ in 1..=2 {
        assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::RetryScheduled);
        h.clock.advance(Duration::from_secs(600));
    }
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Failed);
    let row = h.job(job).await;
    assert_eq!(row.status, JobStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("gave up after 3 attempts: step panicked: boom on claim 3"));
    assert!(worker.run_once().await.unwrap().is_none(), "a failed job is not claimed again");
}

pub async fn a_cancel_lands_on_a_job_whose_step_panicked(h: Harness) {
    let engine = engine(&h);
    let job = request(&engine, u32::MAX, 3).await;
    let worker = engine.worker(worker_config("w"));
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::RetryScheduled);
    let row = engine.cancel(job, "operator").await.unwrap();
    assert_eq!(row.status, JobStatus::Cancelled, "the panic gave the lease up, so the cancel is immediate");
    h.clock.advance(Duration::from_secs(600));
    assert!(worker.run_once().await.unwrap().is_none(), "a cancelled job is never claimed");
    let types = h.event_types(job).await;
    assert_eq!(&types[types.len() - 3..], ["StepFailed", "CancelRequested", "JobCancelled"]);
}

pub async fn other_jobs_keep_running_beside_a_panicking_one(h: Harness) {
    let engine = engine(&h);
    let panicky = request(&engine, u32::MAX, 3).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(h.request_example(&engine, json!({"items": 20, "batch": 5})).await);
    }
    let worker = Arc::new(engine.worker(worker_config("w")));
    let stop = worker.shutdown_handle();
    let running = worker.clone();
    let run = tokio::spawn(async move { running.run().await });
    dongbo_tests::wait_for("the other jobs to complete", Duration::from_secs(60), || async {
        for job in &others {
            if h.job(*job).await.status != JobStatus::Completed {
                return None;
            }
        }
        Some(())
    })
    .await;
    assert!(!run.is_finished(), "the worker loop survived the panic");
    let row = h.job(panicky).await;
    assert_eq!((row.status, row.attempts), (JobStatus::Running, 1), "the panicked job waits for its retry");
    assert_eq!(step_failures(&h, panicky).await.len(), 1);
    // Its lease was given up: when the retry is due another worker takes it at once.
    h.clock.advance(Duration::from_secs(600));
    stop.shutdown();
    run.await.unwrap();
    let other = engine.worker(worker_config("other"));
    let (claimed, outcome) = other.run_once().await.unwrap().unwrap();
    assert_eq!((claimed, outcome), (panicky, RunOutcome::RetryScheduled));
}

pub async fn a_dead_run_stops_its_heartbeat_and_its_lease_runs_out(h: Harness) {
    let engine = engine(&h);
    let job = request(&engine, 0, 3).await;
    let baseline = Arc::strong_count(&h.store);
    let mut config = worker_config("dies");
    config.on_step = Some(panics_once());
    let worker = engine.worker(config);
    let run = tokio::spawn(async move { worker.run_once().await });
    assert!(run.await.unwrap_err().is_panic(), "the hook's panic ends the run");
    // The heartbeat task holds a handle on the store for as long as it lives: once every handle
    // the dead run had is gone, nothing can renew its lease.
    dongbo_tests::wait_for("the dead run's heartbeat to stop", Duration::from_secs(10), || async {
        (Arc::strong_count(&h.store) == baseline).then_some(())
    })
    .await;
    assert_eq!(h.job(job).await.status, JobStatus::Running, "leased until its lease runs out");
    let rival = engine.worker(worker_config("rival"));
    assert!(rival.run_once().await.unwrap().is_none(), "the lease holds until it runs out");
    h.clock.advance(Duration::from_secs(31));
    assert_eq!(rival.run_once().await.unwrap().unwrap(), (job, RunOutcome::Completed));
    let row = h.job(job).await;
    assert_eq!((row.status, row.processed, row.attempts), (JobStatus::Completed, 3, 2));
    let claims: Vec<_> = h
        .events(job)
        .await
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            EventPayload::JobClaimed(c) => Some((c.worker, c.after_lost_lease)),
            _ => None,
        })
        .collect();
    assert_eq!(claims, [("dies".to_owned(), false), ("rival".to_owned(), true)]);
}

pub async fn the_supervisor_restarts_a_worker_loop_that_died(h: Harness) {
    let engine = engine(&h);
    let job = request(&engine, 0, 3).await;
    let mut config = worker_config("supervised");
    config.on_step = Some(panics_once());
    let pool = WorkerPool::start(&engine, vec![config], Duration::from_millis(10));
    let health = pool.health();
    assert_eq!(health.configured(), 1);
    dongbo_tests::wait_for("the dead loop to be restarted", Duration::from_secs(30), || async {
        (health.restarts() == 1 && health.live() == 1).then_some(())
    })
    .await;
    // The job the loop held when it died resumes once its lease runs out, on the restarted loop.
    h.clock.advance(Duration::from_secs(31));
    dongbo_tests::wait_for("the job to complete", Duration::from_secs(30), || async {
        (h.job(job).await.status == JobStatus::Completed).then_some(())
    })
    .await;
    let row = h.job(job).await;
    assert_eq!((row.processed, row.attempts), (3, 2));
    assert!(!health.degraded());
    pool.stop().await;
    assert_eq!((health.live(), health.restarts()), (0, 1), "a stopped loop is not restarted");
    assert!(health.degraded());
}
