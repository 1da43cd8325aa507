//! Idempotency keys, concurrency keys and input validation.

use dongbo_engine::example::EXAMPLE_COUNT;
use dongbo_engine::{EngineError, Existing, JobFilter, JobRequest, JobStatus};
use serde_json::json;

use crate::harness::Harness;

fn keyed(input: serde_json::Value, key: &str) -> JobRequest {
    JobRequest { idempotency_key: Some(key.into()), ..JobRequest::new(EXAMPLE_COUNT, input) }
}

async fn job_count(h: &Harness) -> usize {
    h.store.list_jobs(&JobFilter { limit: 1000, ..JobFilter::default() }).await.unwrap().len()
}

pub async fn one_idempotency_key_makes_one_job(h: Harness) {
    let engine = h.engine();
    let first = engine.request(keyed(json!({"items": 5}), "k-1")).await.unwrap();
    let second = engine.request(keyed(json!({"items": 5}), "k-1")).await.unwrap();
    assert_eq!(first.existing, None);
    assert_eq!(second.existing, Some(Existing::SameIdempotencyKey));
    assert_eq!(first.job.id, second.job.id);
    let other = engine.request(keyed(json!({"items": 5}), "k-2")).await.unwrap();
    assert_ne!(other.job.id, first.job.id);
    assert_eq!(job_count(&h).await, 2);
}

pub async fn racing_requests_with_one_idempotency_key_make_one_job(h: Harness) {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = dongbo_engine::Engine::new(h.second_store().await, h.registry());
        tasks.push(tokio::spawn(async move { engine.request(keyed(json!({"items": 1}), "race")).await.unwrap() }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        ids.insert(r.job.id);
        created += usize::from(r.existing.is_none());
    }
    assert_eq!((ids.len(), created), (1, 1));
    assert_eq!(job_count(&h).await, 1);
}

pub async fn a_concurrency_key_lets_only_one_job_run_at_a_time(h: Harness) {
    let engine = h.engine();
    let input = json!({"items": 3, "batch": 3, "exclusive": "store-1"});
    let first = engine.request(JobRequest::new(EXAMPLE_COUNT, input.clone())).await.unwrap();
    let second = engine.request(JobRequest::new(EXAMPLE_COUNT, input.clone())).await.unwrap();
    assert_eq!(second.existing, Some(Existing::AlreadyRunning));
    assert_eq!(second.job.id, first.job.id);
    // A different key is independent.
    let other =
        engine.request(JobRequest::new(EXAMPLE_COUNT, json!({"items": 1, "exclusive": "store-2"}))).await.unwrap();
    assert_eq!(other.existing, None);

    // Once the first finishes, the key is free again.
    let worker = h.worker(&engine, "w");
    while worker.run_once().await.unwrap().is_some() {}
    assert_eq!(h.job(first.job.id).await.status, JobStatus::Completed);
    let third = engine.request(JobRequest::new(EXAMPLE_COUNT, input)).await.unwrap();
    assert_eq!(third.existing, None);
    assert_ne!(third.job.id, first.job.id);
}

pub async fn an_invalid_input_is_refused_with_a_clear_error_and_writes_nothing(h: Harness) {
    let engine = h.engine();
    let err = engine.request(JobRequest::new(EXAMPLE_COUNT, json!({"items": "many"}))).await.unwrap_err();
    assert!(matches!(&err, EngineError::InvalidInput(m) if m.contains("invalid input for EXAMPLE_COUNT")), "{err}");
    let err = engine.request(JobRequest::new(EXAMPLE_COUNT, json!({"items": 3, "batch": 0}))).await.unwrap_err();
    assert_eq!(err.to_string(), "batch must be at least 1");
    // The example: 100,000 steps of 10 s would hold a worker for eleven days.
    let days = json!({"items": 100_000, "batch": 1, "stepMillis": 10_000});
    let err = engine.request(JobRequest::new(EXAMPLE_COUNT, days)).await.unwrap_err();
    assert!(matches!(&err, EngineError::InvalidInput(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the example's simulated work (steps × stepMillis = 100000 × 10000) must be at most 600 s, not 1000000 s"
    );
    let err = engine.request(JobRequest::new(EXAMPLE_COUNT, json!({"items": 1, "stepMillis": 10_001}))).await;
    assert_eq!(err.unwrap_err().to_string(), "stepMillis must be at most 10000, not 10001");
    let err = engine.request(JobRequest::new("NOPE", json!({}))).await.unwrap_err();
    assert_eq!(err.to_string(), "unknown job type `NOPE`");
    assert_eq!(job_count(&h).await, 0);
}

pub async fn an_example_at_its_work_limit_is_accepted(h: Harness) {
    let engine = h.engine();
    // Exactly ten minutes of simulated work: 60 steps of 10 s.
    let limit = json!({"items": 600, "batch": 10, "stepMillis": 10_000});
    let requested = engine.request(JobRequest::new(EXAMPLE_COUNT, limit)).await.unwrap();
    assert_eq!((requested.existing, requested.job.status), (None, JobStatus::Pending));
}
