//! The projection is the fold of the log, whatever happened to its rows: damaged (rows deleted,
//! counters zeroed) and rebuilt, it equals both the projection before the damage and a fold of
//! each job's events. And the log itself never changes behind a job: across a resume, a cancel
//! and a prune, every earlier event stays byte for byte as stored (the prune removes whole
//! finished jobs' streams, nothing else).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dongbo_engine::example::EXAMPLE_COUNT;
use dongbo_engine::{BackgroundJob, Clock, Db, JobFilter, JobId, JobStatus, RunOutcome, WorkerId};
use serde_json::json;

use crate::harness::Harness;

async fn snapshot(h: &Harness) -> Vec<BackgroundJob> {
    h.store.list_jobs(&JobFilter { limit: 100_000, ..JobFilter::default() }).await.unwrap()
}

/// Every job with events: its row equals the fold of its events.
async fn assert_projection_is_the_fold(h: &Harness) -> usize {
    let mut folded = 0;
    for row in snapshot(h).await {
        let events = h.events(row.id).await;
        if events.is_empty() {
            continue; // pruned: the row stays, the stream is gone
        }
        let mut fold = None;
        for e in &events {
            fold = Some(dongbo_engine::job::apply(fold, e).expect("the log folds"));
        }
        assert_eq!(fold.as_ref(), Some(&row), "the projection of {} is not the fold of its log", row.id);
        folded += 1;
    }
    folded
}

/// Runs the worker until nothing is due, moving the clock over retry waits.
async fn drain(h: &Harness, worker: &dongbo_engine::Worker) {
    while let Some((_, outcome)) = worker.run_once().await.unwrap() {
        if outcome == RunOutcome::RetryScheduled {
            h.clock.advance(Duration::from_secs(60));
        }
    }
}

/// A history with every status: completed, failed, retried, cancelled while pending and while
/// leased, still pending and running.
async fn varied_history(h: &Harness) -> (JobId, JobId, JobId) {
    let engine = h.engine();
    let worker = h.worker(&engine, "w");
    h.request_example(&engine, json!({"items": 25, "batch": 10})).await;
    let failed = h.request_example(&engine, json!({"items": 25, "batch": 10, "failAt": 12})).await;
    h.request_example(&engine, json!({"items": 5, "transientFailures": 1})).await;
    let pending_cancel = h.request_example(&engine, json!({"items": 5})).await;
    engine.cancel(pending_cancel, "operator").await.unwrap();
    drain(h, &worker).await;
    // Cancelled while leased: the flag lands, and the next claimant cancels it.
    let leased = h.request_example(&engine, json!({"items": 30, "batch": 10})).await;
    let now = h.clock.now();
    let lease = chrono::TimeDelta::seconds(30);
    h.store.claim(&WorkerId::new("gone"), &[EXAMPLE_COUNT], now, now + lease).await.unwrap().expect("claim");
    engine.cancel(leased, "operator").await.unwrap();
    h.clock.advance(Duration::from_secs(31));
    drain(h, &worker).await;
    assert_eq!(h.job(leased).await.status, JobStatus::Cancelled);
    assert_eq!(h.job(failed).await.status, JobStatus::Failed);
    // One still pending, one running (claimed and holding its lease).
    h.request_example(&engine, json!({"items": 5})).await;
    let running = h.request_example(&engine, json!({"items": 5})).await;
    let now = h.clock.now();
    let claimed = h.store.claim(&WorkerId::new("r"), &[EXAMPLE_COUNT], now, now + lease).await.unwrap();
    assert!(claimed.is_some());
    (failed, pending_cancel, running)
}

pub async fn a_damaged_projection_rebuilds_to_the_fold_of_the_log(h: Harness) {
    varied_history(&h).await;
    let before = snapshot(&h).await;
    assert!(before.len() >= 7);
    assert_eq!(assert_projection_is_the_fold(&h).await, before.len());

    // Damage: two rows deleted, every other one zeroed.
    let db = h.store.db();
    let damage = [
        "DELETE FROM background_jobs WHERE id IN (SELECT id FROM background_jobs ORDER BY id LIMIT 2)",
        "UPDATE background_jobs SET status = 'PENDING', total = NULL, processed = 0, successful = 0, failed = 0,
             error = NULL, attempts = 0, started_at = NULL, completed_at = NULL",
    ];
    for sql in damage {
        match &db {
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let damaged = snapshot(&h).await;
    assert_eq!(damaged.len(), before.len() - 2);
    assert!(damaged.iter().all(|j| !before.contains(j) || j.status == JobStatus::Pending));

    let rebuilt = h.store.rebuild_projection().await.unwrap();
    assert_eq!(rebuilt as usize, before.len());
    assert_eq!(snapshot(&h).await, before, "the rebuilt projection differs from the one before the damage");
    assert_eq!(assert_projection_is_the_fold(&h).await, before.len());
}

/// Every stored event as its raw columns, keyed by global position.
type Raw = BTreeMap<i64, (String, i64, String, String, String, String)>;

async fn raw_log(h: &Harness) -> Raw {
    match h.store.db() {
        Db::Sqlite(p) => {
            let rows: Vec<(i64, String, i64, String, String, i64, String)> = sqlx::query_as(
                "SELECT position, job_id, seq, event_type, payload, recorded_at, actor FROM events ORDER BY position",
            )
            .fetch_all(&p)
            .await
            .unwrap();
            rows.into_iter().map(|(p, j, s, t, pl, at, a)| (p, (j, s, t, pl, at.to_string(), a))).collect()
        }
        Db::Postgres(p) => {
            let rows: Vec<(i64, String, i64, String, String, String, String)> = sqlx::query_as(
                "SELECT position, job_id::text, seq, event_type, payload::text, recorded_at::text, actor
                 FROM events ORDER BY position",
            )
            .fetch_all(&p)
            .await
            .unwrap();
            rows.into_iter().map(|(p, j, s, t, pl, at, a)| (p, (j, s, t, pl, at, a))).collect()
        }
    }
}

/// Every event of `earlier` is in `later` unchanged, except whole streams of `gone` jobs.
fn assert_kept(earlier: &Raw, later: &Raw, gone: &BTreeSet<String>, phase: &str) {
    for (position, event) in earlier {
        match later.get(position) {
            Some(now) => assert_eq!(now, event, "{phase}: event at position {position} changed"),
            None => assert!(gone.contains(&event.0), "{phase}: event at position {position} vanished: {event:?}"),
        }
    }
    for job in gone {
        assert!(later.values().all(|e| &e.0 != job), "{phase}: job {job} was pruned in part");
    }
    let new: Vec<_> = later.keys().filter(|p| !earlier.contains_key(p)).collect();
    assert!(new.iter().all(|p| earlier.keys().all(|q| q < p)), "{phase}: an event was inserted before older ones");
}

pub async fn earlier_events_stay_byte_for_byte_across_resume_cancel_and_prune(h: Harness) {
    let (failed, cancelled, running) = varied_history(&h).await;
    let engine = h.engine();
    let worker = h.worker(&engine, "w2");
    let none = BTreeSet::new();
    let start = raw_log(&h).await;

    // Cancel the running job (flagged under its lease, cancelled by the next claimant).
    engine.cancel(running, "operator").await.unwrap();
    h.clock.advance(Duration::from_secs(31));
    drain(&h, &worker).await;
    assert_eq!(h.job(running).await.status, JobStatus::Cancelled);
    let after_cancel = raw_log(&h).await;
    assert!(after_cancel.len() > start.len());
    assert_kept(&start, &after_cancel, &none, "cancel");

    // Resume the failed job and the cancelled one; both finish from their checkpoints.
    engine.resume(failed, "operator", Some("fixed")).await.unwrap();
    engine.resume(cancelled, "operator", None).await.unwrap();
    drain(&h, &worker).await;
    let resumed = raw_log(&h).await;
    assert!(resumed.len() > after_cancel.len());
    assert_kept(&after_cancel, &resumed, &none, "resume");

    // Ten days on, a new job runs and the prune takes the old finished jobs' streams.
    h.clock.advance(Duration::from_secs(10 * 86_400));
    let recent = h.request_example(&engine, json!({"items": 5})).await;
    drain(&h, &worker).await;
    let before_prune = raw_log(&h).await;
    let old_finished: BTreeSet<String> = snapshot(&h)
        .await
        .into_iter()
        .filter(|j| j.status.is_finished() && j.id != recent)
        .map(|j| j.id.to_string())
        .collect();
    assert!(!old_finished.is_empty());
    let pruned = engine.prune(Duration::from_secs(7 * 86_400), 3).await.unwrap();
    assert!(pruned > 0);
    let after_prune = raw_log(&h).await;
    let gone: BTreeSet<String> =
        old_finished.iter().filter(|j| after_prune.values().all(|e| &&e.0 != j)).cloned().collect();
    assert!(!gone.is_empty(), "the prune removed no stream");
    assert_eq!(
        before_prune.values().filter(|e| gone.contains(&e.0)).count() as u64,
        pruned,
        "the prune counted events it did not remove, or removed others"
    );
    assert_kept(&before_prune, &after_prune, &gone, "prune");
    assert!(after_prune.values().any(|e| e.0 == recent.to_string()), "the recent job's stream is kept");
    assert!(assert_projection_is_the_fold(&h).await > 0);
}
