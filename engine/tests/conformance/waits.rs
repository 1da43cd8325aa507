//! Steps that wait (`Step::wait`): the checkpoint commits, the worker is given up, and the job is
//! claimed again once the wait is over — neither an attempt nor a failure, and nothing lost to a
//! kill in between.

use std::time::Duration;

use async_trait::async_trait;
use dongbo_engine::event::EventPayload;
use dongbo_engine::{
    Clock, Engine, JobId, JobRequest, JobStatus, Progress, Registry, RunOutcome, Step, StepContext, StepError, Workflow,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::harness::{worker_config, Harness};

const WAITER: &str = "WAITER";

/// `WAITER`: counts one item per step and waits `secs` after each of its first `waits` steps.
struct Waiter;

#[derive(Serialize, Deserialize)]
struct WaiterInput {
    waits: u32,
    secs: u64,
    #[serde(default)]
    tag: u32,
}

#[async_trait]
impl Workflow for Waiter {
    type Input = WaiterInput;
    type State = u32;

    fn job_type(&self) -> &'static str {
        WAITER
    }

    fn concurrency_key(&self, _input: &WaiterInput) -> Option<String> {
        Some(WAITER.into())
    }

    fn initial_state(&self, _input: &WaiterInput) -> u32 {
        0
    }

    async fn step(&self, _ctx: &StepContext, input: &WaiterInput, waited: u32) -> Result<Step<u32>, StepError> {
        let progress =
            Progress { total: Some(i64::from(input.waits)), processed: 1, successful: 1, ..Progress::default() };
        if waited >= input.waits {
            return Ok(Step::complete("done", json!({ "waited": waited })));
        }
        Ok(Step::wait("waiting", waited + 1, Duration::from_secs(input.secs)).with_progress(progress))
    }
}

fn engine(h: &Harness) -> Engine {
    let mut r: Registry = h.registry();
    r.register(Waiter);
    h.engine_with(r)
}

async fn request(engine: &Engine, waits: u32, secs: u64, tag: u32) -> JobId {
    let input = json!({ "waits": waits, "secs": secs, "tag": tag });
    engine.request(JobRequest::new(WAITER, input)).await.expect("request").job.id
}

/// The claims of a job: (claim number, resumed from, after a lost lease, after a wait).
async fn claims(h: &Harness, job: JobId) -> Vec<(u32, Option<i64>, bool, bool)> {
    h.events(job)
        .await
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            EventPayload::JobClaimed(c) => Some((c.attempt, c.resumed_from, c.after_lost_lease, c.after_wait)),
            _ => None,
        })
        .collect()
}

pub async fn a_waiting_job_is_not_claimed_before_its_time_and_is_claimed_after(h: Harness) {
    let engine = engine(&h);
    let job = request(&engine, 2, 10, 0).await;
    let worker = h.worker(&engine, "w");
    let start = h.clock.now();

    assert_eq!(worker.run_once().await.unwrap(), Some((job, RunOutcome::Waiting)));
    let row = h.job(job).await;
    assert_eq!((row.status, row.attempts, row.processed, row.error.as_deref()), (JobStatus::Running, 1, 1, None));
    assert_eq!(row.waiting_until(), Some(start + chrono::Duration::seconds(10)), "{}", row.metadata);
    let queued = engine.queue().await.unwrap();
    assert_eq!(
        queued.iter().map(|q| (q.job.id, q.due_at)).collect::<Vec<_>>(),
        vec![(job, start + chrono::Duration::seconds(10))]
    );

    // Not a millisecond early…
    h.clock.advance(Duration::from_secs(10) - Duration::from_millis(1));
    assert_eq!(worker.run_once().await.unwrap(), None, "claimed before its wait was over");
    // …and at its time, from the waiting step's checkpoint.
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(worker.run_once().await.unwrap(), Some((job, RunOutcome::Waiting)));
    h.clock.advance(Duration::from_secs(10));
    assert_eq!(worker.run_once().await.unwrap(), Some((job, RunOutcome::Completed)));

    let row = h.job(job).await;
    assert_eq!((row.status, row.processed, row.error.as_deref()), (JobStatus::Completed, 2, None));
    assert_eq!(row.attempts, 1, "a claim that ends a wait is not an attempt");
    assert_eq!(row.waiting_until(), None);
    let types = h.event_types(job).await;
    assert!(!types.iter().any(|t| t == "StepFailed"), "a wait recorded a failure: {types:?}");
    let waits: Vec<i64> = h
        .events(job)
        .await
        .iter()
        .filter(|e| matches!(e.decode().unwrap(), EventPayload::StepCompleted(s) if s.wait_until.is_some()))
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        claims(&h, job).await,
        vec![(1, None, false, false), (2, Some(waits[0]), false, true), (3, Some(waits[1]), false, true)]
    );
}

pub async fn waits_never_count_against_the_retry_limit(h: Harness) {
    let engine = engine(&h);
    let job = request(&engine, 6, 1, 0).await;
    let mut config = worker_config("w");
    config.retry.max_attempts = 1;
    let worker = engine.worker(config);
    for wait in 1..=6 {
        assert_eq!(worker.run_once().await.unwrap(), Some((job, RunOutcome::Waiting)), "wait {wait}");
        h.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(worker.run_once().await.unwrap(), Some((job, RunOutcome::Completed)));
    let row = h.job(job).await;
    assert_eq!((row.status, row.attempts, row.processed), (JobStatus::Completed, 1, 6));
}

pub async fn a_kill_during_the_wait_loses_nothing(h: Harness) {
    let engine = engine(&h);
    let job = request(&engine, 1, 30, 0).await;
    let worker = engine.worker(worker_config("doomed"));
    let running = tokio::spawn(async move { worker.run().await });
    let store = h.store.clone();
    dongbo_tests::wait_for("the job to wait", Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.job(job).await.unwrap().and_then(|r| r.waiting_until()) }
    })
    .await;
    // The process dies while the job waits: its worker task is gone, and nothing else is told.
    running.abort();
    let _ = running.await;
    drop(engine);

    // Another process (its own pool) finds the job waiting, and runs it once the wait is over.
    let mut registry = h.registry();
    registry.register(Waiter);
    let other = Engine::with_clock(h.second_store().await, registry, std::sync::Arc::new(h.clock.clone()));
    let rival = other.worker(worker_config("rival"));
    assert_eq!(rival.run_once().await.unwrap(), None, "claimed before its wait was over");
    h.clock.advance(Duration::from_secs(30));
    assert_eq!(rival.run_once().await.unwrap(), Some((job, RunOutcome::Completed)));
    let row = h.job(job).await;
    assert_eq!((row.status, row.processed, row.attempts), (JobStatus::Completed, 1, 1));
    let claims = claims(&h, job).await;
    assert_eq!(claims.len(), 2, "{claims:?}");
    assert!(!claims[1].2 && claims[1].3, "the second claim ends a wait, not a lost lease: {claims:?}");
}

pub async fn a_waiting_job_keeps_its_key_and_a_cancel_ends_it_at_once(h: Harness) {
    let engine = engine(&h);
    let first = request(&engine, 3, 60, 1).await;
    let worker = h.worker(&engine, "w");
    assert_eq!(worker.run_once().await.unwrap(), Some((first, RunOutcome::Waiting)));
    // Another job of the same key waits behind the waiting one, even once due.
    let second = request(&engine, 0, 1, 2).await;
    assert_eq!(worker.run_once().await.unwrap(), None, "a job of a held key ran beside the waiting one");

    let row = engine.cancel(first, "operator").await.unwrap();
    assert_eq!(row.status, JobStatus::Cancelled, "nobody holds a waiting job: its cancel is immediate");
    assert_eq!(row.waiting_until(), None);
    assert_eq!(worker.run_once().await.unwrap(), Some((second, RunOutcome::Completed)));
    h.clock.advance(Duration::from_secs(120));
    assert_eq!(worker.run_once().await.unwrap(), None, "the cancelled job was claimed again");

    let before = h.store.list_jobs(&dongbo_engine::JobFilter { limit: 100, ..Default::default() }).await.unwrap();
    h.store.rebuild_projection().await.unwrap();
    let after = h.store.list_jobs(&dongbo_engine::JobFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(before, after, "the projection of waits differs from a replay of the log");
}

/// A finish hook is called once for each job a worker ran to its end, with how it ended, before
/// the worker claims again; `wake` ends a wait at once (the clock never moves here), and never
/// shortens the backoff of a failed step, nor touches a finished job.
pub async fn a_finish_hook_sees_each_ended_job_and_wake_ends_a_wait_early(h: Harness) {
    let engine = engine(&h);
    let waiting = request(&engine, 1, 3600, 0).await;
    let ended = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (seen, waker) = (ended.clone(), engine.clone());
    engine.on_finish(std::sync::Arc::new(move |job, outcome| {
        let (seen, waker) = (seen.clone(), waker.clone());
        Box::pin(async move {
            seen.lock().unwrap().push((job, outcome));
            waker.wake(waiting).await.expect("wake");
        })
    }));
    let worker = h.worker(&engine, "w");
    assert_eq!(worker.run_once().await.unwrap(), Some((waiting, RunOutcome::Waiting)));
    assert_eq!(worker.run_once().await.unwrap(), None, "claimed before its wait was over");
    assert!(ended.lock().unwrap().is_empty(), "a wait is not an end");

    let quick = h.request_example(&engine, json!({ "items": 1 })).await;
    assert_eq!(worker.run_once().await.unwrap(), Some((quick, RunOutcome::Completed)));
    // The hook woke the waiting job: due now, an hour early.
    assert_eq!(worker.run_once().await.unwrap(), Some((waiting, RunOutcome::Completed)));
    assert_eq!(*ended.lock().unwrap(), vec![(quick, RunOutcome::Completed), (waiting, RunOutcome::Completed)]);
    assert!(!engine.wake(waiting).await.unwrap(), "a finished job is not waiting");

    let flaky = h.request_example(&engine, json!({ "items": 1, "transientFailures": 1 })).await;
    assert_eq!(worker.run_once().await.unwrap(), Some((flaky, RunOutcome::RetryScheduled)));
    assert!(!engine.wake(flaky).await.unwrap(), "a retry's backoff was shortened");
    assert_eq!(worker.run_once().await.unwrap(), None, "claimed during its backoff");
    assert_eq!(ended.lock().unwrap().len(), 2, "a scheduled retry is not an end");
}

/// A job cancelled while nobody runs it (waiting out a `Step::wait`, or never claimed) ends in
/// `Engine::cancel`, and the finish hooks see it end once: a parent waiting for it is woken as
/// when a worker ends a child.
pub async fn a_job_cancelled_while_nobody_runs_it_calls_the_finish_hooks_once(h: Harness) {
    let engine = engine(&h);
    let ended = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ended.clone();
    engine.on_finish(std::sync::Arc::new(move |job, outcome| {
        let seen = seen.clone();
        Box::pin(async move { seen.lock().unwrap().push((job, outcome)) })
    }));
    let worker = h.worker(&engine, "w");
    let waiting = request(&engine, 1, 3600, 0).await;
    assert_eq!(worker.run_once().await.unwrap(), Some((waiting, RunOutcome::Waiting)));
    let never_claimed = h.request_example(&engine, json!({ "items": 1 })).await;

    for id in [waiting, never_claimed] {
        assert_eq!(engine.cancel(id, "operator").await.unwrap().status, JobStatus::Cancelled);
    }
    let expected = vec![(waiting, RunOutcome::Cancelled), (never_claimed, RunOutcome::Cancelled)];
    assert_eq!(*ended.lock().unwrap(), expected);
    // Cancelling a finished job again ends nothing.
    assert_eq!(engine.cancel(waiting, "operator").await.unwrap().status, JobStatus::Cancelled);
    assert_eq!(*ended.lock().unwrap(), expected, "a job ended twice");
    assert_eq!(worker.run_once().await.unwrap(), None);
}
