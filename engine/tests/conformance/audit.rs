//! Audit queries and retention.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Duration as Span;
use dongbo_engine::event::{EventPayload, TOUCHED_IN_PAYLOAD};
use dongbo_engine::{Clock, EntityRef, JobRequest, JobStatus, Step, StepContext, StepError, Workflow};
use serde_json::{json, Value};

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

/// One step that touches `{"records": n}` records, `bulk_item:0` to `bulk_item:{n-1}`.
struct TouchMany;

#[async_trait]
impl Workflow for TouchMany {
    type Input = Value;
    type State = ();

    fn job_type(&self) -> &'static str {
        "TOUCH_MANY"
    }

    fn initial_state(&self, _input: &Value) {}

    async fn step(&self, _ctx: &StepContext, input: &Value, _state: ()) -> Result<Step<()>, StepError> {
        let n = input["records"].as_u64().unwrap_or(0);
        let touched =
            (0..n).map(|i| EntityRef { kind: "bulk_item".into(), id: i.to_string(), action: "seen".into() }).collect();
        Ok(Step::complete("touch", json!({})).with_touched(touched))
    }
}

pub async fn a_step_payload_lists_a_bounded_sample_of_what_it_touched_and_the_index_holds_all(h: Harness) {
    let mut registry = h.registry();
    registry.register(TouchMany);
    let engine = h.engine_with(registry);
    let many = TOUCHED_IN_PAYLOAD as u64 * 2 + 500;
    let big = engine.request(JobRequest::new("TOUCH_MANY", json!({ "records": many }))).await.unwrap().job.id;
    let small = engine.request(JobRequest::new("TOUCH_MANY", json!({ "records": 3 }))).await.unwrap().job.id;
    let worker = h.worker(&engine, "w");
    while worker.run_once().await.unwrap().is_some() {}

    let step = |events: Vec<dongbo_engine::Event>| {
        events
            .into_iter()
            .find_map(|e| match e.decode().unwrap() {
                EventPayload::StepCompleted(s) => Some(s),
                _ => None,
            })
            .expect("a StepCompleted event")
    };
    let big_step = step(h.events(big).await);
    assert_eq!(big_step.touched.len(), TOUCHED_IN_PAYLOAD, "the payload lists a bounded sample");
    assert_eq!(big_step.touched[0].id, "0", "the first ones, in the step's order");
    assert_eq!(big_step.touched_count, Some(many), "and says how many there were");
    let small_step = step(h.events(small).await);
    assert_eq!(small_step.touched.len(), 3);
    assert_eq!(small_step.touched_count, None, "a payload that lists them all needs no count");

    // The index holds every one, the last of the big step's included.
    let last = h.store.entity_events(&format!("bulk_item:{}", many - 1), 100).await.unwrap();
    assert_eq!(last.iter().map(|t| t.event.job_id).collect::<Vec<_>>(), vec![big]);
    let first = h.store.entity_events("bulk_item:0", 100).await.unwrap();
    assert_eq!(first.iter().map(|t| t.event.job_id).collect::<Vec<_>>(), vec![big, small]);
    assert!(first.iter().all(|t| t.action == "seen"));
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

pub async fn a_prune_age_beyond_the_calendar_is_refused_clearly(h: Harness) {
    let engine = h.engine();
    let worker = h.worker(&engine, "w");
    let job = h.request_example(&engine, json!({"items": 10, "batch": 10})).await;
    while worker.run_once().await.unwrap().is_some() {}
    // What `dongbo prune --older-than 1000000years` asks for: before year −998,000, which no
    // timestamp can hold.
    let million_years = humantime_years(1_000_000);
    let err = engine.prune(million_years, 10).await.unwrap_err();
    assert!(matches!(err, dongbo_engine::EngineError::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("reaches before the earliest time a timestamp can hold"), "{err}");
    assert!(!h.events(job).await.is_empty(), "nothing was pruned");
    // The largest age a std duration holds is refused the same way.
    assert!(matches!(engine.prune(Duration::MAX, 10).await, Err(dongbo_engine::EngineError::InvalidInput(_))));
}

/// `n` years as humantime counts them (365.25 days).
fn humantime_years(n: u64) -> Duration {
    Duration::from_secs(n * 31_557_600)
}
