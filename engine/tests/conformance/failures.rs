//! Retries with backoff on the injected clock, permanent failures, cancellation.

use std::time::Duration;

use dongbo_engine::event::EventPayload;
use dongbo_engine::{JobRequest, JobStatus, RunOutcome};
use serde_json::json;

use crate::gated::{Gated, GATED};
use crate::harness::{worker_config, Harness};

fn retry_times(events: &[dongbo_engine::Event]) -> Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    events
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            EventPayload::StepFailed(f) => Some((e.recorded_at, f.next_retry_at.expect("a retry time"))),
            _ => None,
        })
        .collect()
}

pub async fn transient_failures_back_off_exponentially_on_the_injected_clock(h: Harness) {
    let engine = h.engine();
    let job = h.request_example(&engine, json!({"items": 10, "batch": 10, "transientFailures": 3})).await;
    let mut config = worker_config("w");
    config.retry.base = Duration::from_secs(2);
    config.retry.jitter = 0.25;
    let worker = engine.worker(config);

    let mut delays = Vec::new();
    for failure in 1..=3u32 {
        assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::RetryScheduled, "failure {failure}");
        let (at, next) = *retry_times(&h.events(job).await).last().unwrap();
        let delay = (next - at).to_std().unwrap();
        delays.push(delay);
        // Not due a millisecond before its time…
        h.clock.advance(delay - Duration::from_millis(1));
        assert!(worker.run_once().await.unwrap().is_none(), "retried before its backoff ran out");
        h.clock.advance(Duration::from_millis(1));
    }
    // …and each delay lies within its exponential band: base·2^(n−1) less at most 25 % jitter.
    for (i, d) in delays.iter().enumerate() {
        let full = Duration::from_secs(2) * (1 << i);
        assert!(*d <= full && *d >= full.mul_f64(0.75), "delay {i} was {d:?}, band {full:?}");
    }
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Completed);
    let row = h.job(job).await;
    assert_eq!((row.status, row.processed, row.error), (JobStatus::Completed, 10, None));
    assert_eq!(row.attempts, 4, "each retry is a new claim");
}

pub async fn a_permanent_error_fails_the_job_with_its_reason(h: Harness) {
    let engine = h.engine();
    let job = h.request_example(&engine, json!({"items": 30, "batch": 10, "failAt": 15})).await;
    let worker = h.worker(&engine, "w");
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Failed);
    let row = h.job(job).await;
    assert_eq!(row.status, JobStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("item 15 cannot be counted"));
    assert_eq!(row.processed, 10, "the step before the failure stays committed");
    assert!(row.completed_at.is_some());
    assert_eq!(h.event_types(job).await.last().unwrap(), "JobFailed");
}

pub async fn retries_give_up_after_the_attempt_limit(h: Harness) {
    let engine = h.engine();
    let job = h.request_example(&engine, json!({"items": 5, "transientFailures": 10})).await;
    let mut config = worker_config("w");
    config.retry.max_attempts = 3;
    let worker = engine.worker(config);
    loop {
        match worker.run_once().await.unwrap() {
            Some((_, RunOutcome::RetryScheduled)) => h.clock.advance(Duration::from_secs(600)),
            Some((_, outcome)) => {
                assert_eq!(outcome, RunOutcome::Failed);
                break;
            }
            None => panic!("the job vanished from the queue"),
        }
    }
    let row = h.job(job).await;
    assert_eq!(row.status, JobStatus::Failed);
    assert!(
        row.error.as_deref().unwrap().starts_with("gave up after 3 attempts: simulated transient failure"),
        "{:?}",
        row.error
    );
}

pub async fn a_cancel_stops_a_running_job_at_the_next_step_boundary(h: Harness) {
    let (gated, entered) = Gated::new(5);
    let mut registry = h.registry();
    registry.register(gated.clone());
    let engine = h.engine_with(registry);
    let job = engine.request(JobRequest::new(GATED, json!({}))).await.unwrap().job.id;
    let worker = engine.worker(worker_config("w"));
    let run = tokio::spawn(async move { worker.run_once().await });
    entered.next().await;
    let row = engine.cancel(job, "operator").await.unwrap();
    assert_eq!(row.status, JobStatus::Running, "a running job finishes its step first");
    gated.open_once();
    assert_eq!(run.await.unwrap().unwrap().unwrap().1, RunOutcome::Cancelled);
    let row = h.job(job).await;
    assert_eq!((row.status, row.processed), (JobStatus::Cancelled, 1));
    let types = h.event_types(job).await;
    assert_eq!(&types[types.len() - 3..], ["StepCompleted", "CancelRequested", "JobCancelled"]);
}

pub async fn a_cancel_of_a_waiting_job_is_immediate(h: Harness) {
    let engine = h.engine();
    let job = h.request_example(&engine, json!({"items": 5})).await;
    let row = engine.cancel(job, "operator").await.unwrap();
    assert_eq!(row.status, JobStatus::Cancelled);
    assert!(h.worker(&engine, "w").run_once().await.unwrap().is_none(), "a cancelled job is never claimed");
    // Cancelling again changes nothing.
    assert_eq!(engine.cancel(job, "operator").await.unwrap(), row);
    assert_eq!(h.event_types(job).await, ["JobRequested", "CancelRequested", "JobCancelled"]);
}
