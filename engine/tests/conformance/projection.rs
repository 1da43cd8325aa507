//! The projection equals a replay of the log.

use std::time::Duration;

use dongbo_engine::{BackgroundJob, JobFilter, RunOutcome};
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::harness::{worker_config, Harness};

async fn snapshot(h: &Harness) -> Vec<BackgroundJob> {
    h.store.list_jobs(&JobFilter { limit: 100_000, ..JobFilter::default() }).await.unwrap()
}

async fn assert_rebuild_is_identical(h: &Harness) {
    let before = snapshot(h).await;
    let rebuilt = h.store.rebuild_projection().await.unwrap();
    assert_eq!(rebuilt as usize, before.len());
    let after = snapshot(h).await;
    assert_eq!(before, after, "the projection differs from a replay of the log");
}

pub async fn rebuilding_the_projection_from_the_log_reproduces_it_exactly(h: Harness) {
    let engine = h.engine();
    let worker = h.worker(&engine, "w");
    h.request_example(&engine, json!({"items": 25, "batch": 10})).await;
    h.request_example(&engine, json!({"items": 25, "batch": 10, "failAt": 12})).await;
    h.request_example(&engine, json!({"items": 5, "transientFailures": 1})).await;
    let cancelled = h.request_example(&engine, json!({"items": 5})).await;
    engine.cancel(cancelled, "operator").await.unwrap();
    while let Some((_, outcome)) = worker.run_once().await.unwrap() {
        if outcome == RunOutcome::RetryScheduled {
            h.clock.advance(Duration::from_secs(60));
        }
    }
    h.request_example(&engine, json!({"items": 5})).await; // still pending
    assert_rebuild_is_identical(&h).await;
}

pub async fn random_histories_rebuild_to_the_same_projection(h: Harness) {
    let engine = h.engine();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xD0_6B0);
    for round in 0..12 {
        let workers: Vec<_> = (0..2).map(|i| engine.worker(worker_config(&format!("r{round}w{i}")))).collect();
        for _ in 0..rng.gen_range(1..4) {
            let items = rng.gen_range(0..40);
            let input = json!({
                "items": items,
                "batch": rng.gen_range(1..15),
                "transientFailures": rng.gen_range(0..3),
                "failAt": if rng.gen_bool(0.2) { json!(rng.gen_range(0..40)) } else { json!(null) },
            });
            let job = h.request_example(&engine, input).await;
            if rng.gen_bool(0.15) {
                engine.cancel(job, "random").await.unwrap();
            }
        }
        for _ in 0..rng.gen_range(0..8) {
            let w = &workers[rng.gen_range(0..workers.len())];
            match rng.gen_range(0..3) {
                0 => h.clock.advance(Duration::from_secs(rng.gen_range(1..120))),
                _ => {
                    let _ = w.run_once().await.unwrap();
                }
            }
        }
        assert_rebuild_is_identical(&h).await;
    }
}

pub async fn sequence_numbers_are_contiguous_and_steps_are_reported(h: Harness) {
    let engine = h.engine();
    let job = h.request_example(&engine, json!({"items": 30, "batch": 10, "transientFailures": 1})).await;
    let worker = h.worker(&engine, "w");
    while let Some((_, outcome)) = worker.run_once().await.unwrap() {
        if outcome == RunOutcome::RetryScheduled {
            h.clock.advance(Duration::from_secs(60));
        }
    }
    let events = h.events(job).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "JobRequested",
            "JobClaimed",
            "StepFailed",
            "JobClaimed",
            "StepCompleted",
            "StepCompleted",
            "StepCompleted",
            "JobCompleted"
        ]
    );
    let row = h.job(job).await;
    assert_eq!((row.total, row.processed, row.successful, row.failed), (Some(30), 30, 30, 0));
}
