//! Audit queries and retention.

use std::time::Duration;

use chrono::Duration as Span;
use dongbo_engine::{Clock, JobStatus};
use serde_json::json;

use crate::harness::Harness;

pub async fn a_jobs_events_and_events_by_type_and_time_are_queryable(h: Harness) {
    let engine = h.engine();
    let start = h.clock.now();
    let a = h.request_example(&engine, json!({"items": 20, "batch": 10})).await;
    h.clock.advance(Duration::from_secs(60));
    let b = h.request_example(&engine, json!({"items": 10, "batch": 10})).await;
    let worker = h.worker(&engine, "w");
    while worker.run_once().await.unwrap().is_some() {}

    // Paging through a job's events.
    let first = h.store.events(a, 0, 2).await.unwrap();
    let rest = h.store.events(a, first.last().unwrap().seq, 100).await.unwrap();
    assert_eq!(first.len() + rest.len(), h.events(a).await.len());

    // By type within a window: only the first request lies in the first minute.
    let requested =
        h.store.events_by_type(Some("JobRequested"), start, start + Span::seconds(30), 0, 100).await.unwrap();
    assert_eq!(requested.iter().map(|e| e.job_id).collect::<Vec<_>>(), vec![a]);
    let all = h.store.events_by_type(Some("JobRequested"), start, start + Span::hours(1), 0, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.job_id).collect::<Vec<_>>(), vec![a, b]);
    let steps = h.store.events_by_type(Some("StepCompleted"), start, start + Span::hours(1), 0, 100).await.unwrap();
    assert_eq!(steps.len(), 3);
    let any = h.store.events_by_type(None, start, start + Span::hours(1), 0, 1000).await.unwrap();
    assert!(any.windows(2).all(|w| w[0].position < w[1].position));
}

pub async fn the_audit_index_finds_the_jobs_that_touched_an_entity(h: Harness) {
    let engine = h.engine();
    let a = h.request_example(&engine, json!({"items": 20, "batch": 10})).await;
    let b = h.request_example(&engine, json!({"items": 10, "batch": 5})).await;
    let worker = h.worker(&engine, "w");
    while worker.run_once().await.unwrap().is_some() {}
    let touches = h.store.entity_events("example_item:0", 100).await.unwrap();
    let jobs: Vec<_> = touches.iter().map(|t| t.event.job_id).collect();
    assert_eq!(jobs, vec![a, b]);
    assert!(touches.iter().all(|t| t.action == "counted" && t.event.event_type == "StepCompleted"));
    let only_b = h.store.entity_events("example_item:5", 100).await.unwrap();
    assert_eq!(only_b.iter().map(|t| t.event.job_id).collect::<Vec<_>>(), vec![b]);
    assert!(h.store.entity_events("example_item:999", 100).await.unwrap().is_empty());
}

pub async fn pruning_removes_old_finished_events_in_batches_and_keeps_rows(h: Harness) {
    let engine = h.engine();
    let worker = h.worker(&engine, "w");
    let mut old = Vec::new();
    for _ in 0..5 {
        old.push(h.request_example(&engine, json!({"items": 10, "batch": 10})).await);
    }
    while worker.run_once().await.unwrap().is_some() {}
    let unfinished_old = h.request_example(&engine, json!({"items": 10})).await;
    h.clock.advance(Duration::from_secs(10 * 86_400));
    let recent = h.request_example(&engine, json!({"items": 10, "batch": 10})).await;
    let _ = worker.run_once().await.unwrap(); // runs one of the two due jobs…
    let _ = worker.run_once().await.unwrap(); // …and the other

    let before: Vec<_> = futures_rows(&h, &old).await;
    let pruned = engine.prune(Duration::from_secs(7 * 86_400), 2).await.unwrap();
    assert!(pruned > 0);
    for id in &old {
        assert!(h.events(*id).await.is_empty(), "old finished job {id} kept its events");
    }
    assert_eq!(futures_rows(&h, &old).await, before, "projection rows must stay");
    assert!(!h.events(recent).await.is_empty());
    assert!(!h.events(unfinished_old).await.is_empty());
    assert_eq!(h.job(recent).await.status, JobStatus::Completed);
    assert_eq!(engine.prune(Duration::from_secs(7 * 86_400), 2).await.unwrap(), 0, "nothing left to prune");
}

async fn futures_rows(h: &Harness, ids: &[dongbo_engine::JobId]) -> Vec<dongbo_engine::BackgroundJob> {
    let mut rows = Vec::new();
    for id in ids {
        rows.push(h.job(*id).await);
    }
    rows
}
