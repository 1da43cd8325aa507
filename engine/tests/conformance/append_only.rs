//! The event log is append-only in the database itself: a raw UPDATE or DELETE is refused, and
//! only the prune deletes events.

use std::time::Duration;

use dongbo_engine::{Db, JobId};
use serde_json::json;

use crate::harness::Harness;

/// Runs a raw statement against a job's events as a stray script would; the database's error.
async fn raw(h: &Harness, sqlite: &str, postgres: &str, job: JobId) -> Result<u64, String> {
    let done = match h.store.db() {
        Db::Sqlite(pool) => sqlx::query(sqlite).bind(job.to_string()).execute(&pool).await.map(|r| r.rows_affected()),
        Db::Postgres(pool) => sqlx::query(postgres).bind(job.as_uuid()).execute(&pool).await.map(|r| r.rows_affected()),
    };
    done.map_err(|e| e.to_string())
}

async fn update(h: &Harness, job: JobId) -> Result<u64, String> {
    raw(
        h,
        "UPDATE events SET actor = 'forger' WHERE job_id = ?",
        "UPDATE events SET actor = 'forger' WHERE job_id = $1",
        job,
    )
    .await
}

async fn delete(h: &Harness, job: JobId) -> Result<u64, String> {
    raw(h, "DELETE FROM events WHERE job_id = ?", "DELETE FROM events WHERE job_id = $1", job).await
}

pub async fn the_database_refuses_to_change_or_delete_an_event_and_only_the_prune_deletes(h: Harness) {
    let engine = h.engine();
    let worker = h.worker(&engine, "w");
    let old = h.request_example(&engine, json!({"items": 10, "batch": 5})).await;
    while worker.run_once().await.unwrap().is_some() {}
    let events = h.events(old).await;
    assert!(events.len() >= 4);

    let err = update(&h, old).await.unwrap_err();
    assert!(err.contains("events are append-only: an event cannot be changed"), "{err}");
    let err = delete(&h, old).await.unwrap_err();
    assert!(err.contains("events are append-only: only the prune"), "{err}");
    if let Db::Postgres(pool) = h.store.db() {
        let err = sqlx::query("TRUNCATE events").execute(&pool).await.unwrap_err().to_string();
        assert!(err.contains("events are append-only"), "{err}");
    }
    assert_eq!(h.events(old).await, events, "the refused statements changed nothing");

    // The prune still deletes old finished jobs' events…
    h.clock.advance(Duration::from_secs(10 * 86_400));
    let recent = h.request_example(&engine, json!({"items": 10, "batch": 5})).await;
    while worker.run_once().await.unwrap().is_some() {}
    let pruned = engine.prune(Duration::from_secs(7 * 86_400), 10).await.unwrap();
    assert_eq!(pruned, events.len() as u64);
    assert!(h.events(old).await.is_empty());
    // …and leaves no opening behind it: the next stray delete is refused again.
    let kept = h.events(recent).await;
    let err = delete(&h, recent).await.unwrap_err();
    assert!(err.contains("events are append-only"), "{err}");
    assert_eq!(h.events(recent).await, kept);
}

/// The largest position among `jobs`' events.
async fn newest_position(h: &Harness, jobs: &[JobId]) -> i64 {
    let mut newest = 0;
    for job in jobs {
        newest = h.events(*job).await.iter().map(|e| e.position).max().unwrap_or(0).max(newest);
    }
    newest
}

pub async fn a_position_is_never_handed_out_twice_even_after_the_prune_removes_old_streams(h: Harness) {
    let engine = h.engine();
    let worker = h.worker(&engine, "w");
    let first = h.request_example(&engine, json!({"items": 10, "batch": 5})).await;
    while worker.run_once().await.unwrap().is_some() {}
    let last = h.request_example(&engine, json!({"items": 10, "batch": 5})).await;
    while worker.run_once().await.unwrap().is_some() {}
    let handed_out = newest_position(&h, &[first, last]).await;
    assert!(handed_out > 0);

    // Both jobs are old and finished: the prune may take every stream it is allowed to.
    h.clock.advance(Duration::from_secs(10 * 86_400));
    let pruned = engine.prune(Duration::from_secs(7 * 86_400), 10).await.unwrap();
    assert!(pruned > 0, "the first job's events are pruned");
    assert!(h.events(first).await.is_empty());

    // A reader that has seen every position up to `handed_out` (the notifier's cursor, a client
    // paging the log) must find the next job's events after it.
    let next = h.request_example(&engine, json!({"items": 10, "batch": 5})).await;
    while worker.run_once().await.unwrap().is_some() {}
    let events = h.events(next).await;
    assert!(!events.is_empty());
    let reused: Vec<i64> = events.iter().map(|e| e.position).filter(|p| *p <= handed_out).collect();
    assert!(reused.is_empty(), "positions handed out before the prune were handed out again: {reused:?}");
}
