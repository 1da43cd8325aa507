//! Durable schedules and pipelines on SQLite and PostgreSQL, with the clock passed in: one
//! firing per slot however many schedulers tick at once, a slot missed while everything was down
//! fires once at start, paused slots never fire, "run now" fires outside the slots, a won slot
//! whose job was never recorded is finished by the next tick, and a PIPELINE parent runs its
//! stages of child jobs to the end on a single worker (its wait gives the worker up).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dongbo_engine::example::ExampleCount;
use dongbo_engine::{
    BackgroundJob, Engine, JobFilter, JobId, JobStatus, Priority, Registry, SharedStore, WorkerConfig, WorkerId,
};
use dongbo_tests::{fresh_db, wait_for, Backend};
use dongbo_workflows::catalog::store::schedules::{self as store, children_of, parent_of};
use dongbo_workflows::schedules::scheduler::{slot_key, NewSchedule, SchedulePatch};
use dongbo_workflows::schedules::{ScheduleError, Scheduler};
use dongbo_workflows::Upstreams;
use serde_json::{json, Value};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn engine(url: &str) -> (SharedStore, Engine) {
    let store = dongbo_workflows::open(url).await.unwrap();
    let mut registry = Registry::new();
    registry.register(ExampleCount);
    dongbo_workflows::schedules::register(&mut registry, &store, &Upstreams::default());
    (store.clone(), Engine::new(store, registry))
}

fn every15(id: &str) -> NewSchedule {
    NewSchedule {
        id: id.into(),
        cron: "*/15 * * * *".into(),
        time_zone: Some("UTC".into()),
        job_type: "EXAMPLE_COUNT".into(),
        input: json!({"items": 3}),
        paused: false,
    }
}

async fn jobs_of(store: &SharedStore, job_type: &str) -> Vec<BackgroundJob> {
    store.list_jobs(&JobFilter { job_type: Some(job_type.into()), limit: 1000, ..JobFilter::default() }).await.unwrap()
}

async fn run_until_finished(engine: &Engine, id: JobId) -> BackgroundJob {
    let worker = Arc::new(engine.worker(WorkerConfig::new(WorkerId::new("schedules-test"))));
    let store = engine.store().clone();
    wait_for("the job to finish", Duration::from_secs(120), || {
        let worker = worker.clone();
        let store = store.clone();
        async move {
            worker.run_once().await.unwrap();
            let job = store.job(id).await.unwrap().unwrap();
            job.status.is_finished().then_some(job)
        }
    })
    .await
}

async fn one_firing_per_slot_and_missed_slots_fire_once(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let (store, engine) = engine(&db.url).await;
    let created = at("2026-12-06T10:05:00Z");
    Scheduler::new(engine.clone(), "api").create(every15("every15"), created).await.unwrap();

    // Before the first slot nothing fires.
    let a = Scheduler::new(engine.clone(), "process-a");
    assert!(a.tick(at("2026-12-06T10:14:59Z")).await.unwrap().is_empty());

    // Down from 10:05 to 11:20: eight schedulers (eight processes) tick at once at start. The
    // slots 10:15 … 11:15 were missed; exactly one of them fires, the latest, once.
    let now = at("2026-12-06T11:20:00Z");
    let ticks = (0..8).map(|i| {
        let s = Scheduler::new(engine.clone(), format!("process-{i}"));
        tokio::spawn(async move { s.tick(now).await.unwrap() })
    });
    let mut fired = Vec::new();
    for t in ticks {
        fired.extend(t.await.unwrap());
    }
    assert_eq!(fired.len(), 1, "one firing across all schedulers: {fired:?}");
    assert_eq!(fired[0].at, at("2026-12-06T11:15:00Z"));
    let jobs = jobs_of(&store, "EXAMPLE_COUNT").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, fired[0].job_id);
    assert_eq!(jobs[0].priority, Priority::Scheduled, "a slot is scheduled work");
    let firings = store::firings(&store.db(), "every15", 10).await.unwrap();
    assert_eq!(firings.len(), 1);
    assert_eq!(firings[0].job_id, Some(fired[0].job_id.to_string()));
    let requested = store.events(fired[0].job_id, 0, 1).await.unwrap();
    assert_eq!(
        requested[0].payload["idempotencyKey"],
        json!(slot_key("every15", at("2026-12-06T11:15:00Z"))),
        "{}",
        requested[0].payload
    );

    // The same instant again, and later in the same slot: nothing more.
    assert!(a.tick(now).await.unwrap().is_empty());
    assert!(a.tick(at("2026-12-06T11:29:59Z")).await.unwrap().is_empty());
    // The next slot fires once.
    let next = a.tick(at("2026-12-06T11:30:00.5Z")).await.unwrap();
    assert_eq!(next.iter().map(|f| f.at).collect::<Vec<_>>(), vec![at("2026-12-06T11:30:00Z")]);
    assert_eq!(jobs_of(&store, "EXAMPLE_COUNT").await.len(), 2);
}

#[tokio::test]
async fn one_firing_per_slot_and_missed_slots_fire_once_sqlite() {
    one_firing_per_slot_and_missed_slots_fire_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn one_firing_per_slot_and_missed_slots_fire_once_postgres() {
    one_firing_per_slot_and_missed_slots_fire_once(Backend::Postgres).await;
}

async fn pause_resume_run_now_and_changes(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let (store, engine) = engine(&db.url).await;
    let s = Scheduler::new(engine.clone(), "p");
    s.create(every15("e"), at("2026-12-06T10:00:00Z")).await.unwrap();
    let row = s.set_paused("e", true, at("2026-12-06T10:01:00Z")).await.unwrap();
    assert!(row.paused);
    assert_eq!(dongbo_workflows::schedules::scheduler::next_firing(&row, at("2026-12-06T10:01:00Z")), None);
    // Paused across 10:15, 10:30 and 10:45: none fires, not even after resuming.
    assert!(s.tick(at("2026-12-06T10:50:00Z")).await.unwrap().is_empty());
    let row = s.set_paused("e", false, at("2026-12-06T10:50:00Z")).await.unwrap();
    assert_eq!(
        dongbo_workflows::schedules::scheduler::next_firing(&row, at("2026-12-06T10:50:00Z")),
        Some(at("2026-12-06T11:00:00Z"))
    );
    assert!(s.tick(at("2026-12-06T10:59:00Z")).await.unwrap().is_empty());
    assert_eq!(s.tick(at("2026-12-06T11:00:00Z")).await.unwrap().len(), 1);

    // Run now, paused or not: a job of its own each time, and the slots are untouched.
    s.set_paused("e", true, at("2026-12-06T11:01:00Z")).await.unwrap();
    let (first, _) = s.run_now("e", "api", at("2026-12-06T11:02:00Z")).await.unwrap();
    let job = run_until_finished(&engine, first.job_id).await;
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.priority, Priority::Manual, "run now is an operator's request");
    let (second, _) = s.run_now("e", "api", at("2026-12-06T11:03:00Z")).await.unwrap();
    assert_ne!(first.job_id, second.job_id);
    let kinds: Vec<String> = store::firings(&store.db(), "e", 10).await.unwrap().into_iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec!["manual", "manual", "slot"]);

    // A change of timing does not reach back: the hourly slot at 11:00 already passed.
    s.set_paused("e", false, at("2026-12-06T11:04:00Z")).await.unwrap();
    let patch = SchedulePatch { cron: Some("0 * * * *".into()), ..SchedulePatch::default() };
    let row = s.change("e", patch, at("2026-12-06T11:05:00Z")).await.unwrap();
    assert_eq!(row.cron, "0 * * * *");
    assert!(s.tick(at("2026-12-06T11:59:00Z")).await.unwrap().is_empty());
    assert_eq!(s.tick(at("2026-12-06T12:00:00Z")).await.unwrap().len(), 1);

    // Bad input is refused with a reason, and nothing is written.
    for (new, says) in [
        (NewSchedule { cron: "60 * * * *".into(), ..every15("x") }, "invalid cron expression"),
        (NewSchedule { time_zone: Some("Asia/Saigon_Nowhere".into()), ..every15("x") }, "unknown time zone"),
        (NewSchedule { job_type: "NO_SUCH_JOB".into(), ..every15("x") }, "unknown job type"),
        (NewSchedule { input: json!({"items": "three"}), ..every15("x") }, "invalid input"),
        (NewSchedule { id: "no spaces".into(), ..every15("x") }, "schedule name"),
    ] {
        match s.create(new, at("2026-12-06T12:00:00Z")).await {
            Err(ScheduleError::Invalid(m)) => assert!(m.contains(says), "{m}"),
            other => panic!("expected Invalid containing {says}: {other:?}"),
        }
    }
    assert!(matches!(s.create(every15("e"), at("2026-12-06T12:00:00Z")).await, Err(ScheduleError::Exists(_))));
    assert!(matches!(s.get("x").await, Err(ScheduleError::NotFound(_))));
    // The defaults are there, paused, in Ho Chi Minh City's zone.
    let defaults: Vec<(String, String, bool)> = s
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.id != "e")
        .map(|r| (r.id, format!("{} {} {}", r.cron, r.time_zone, r.job_type), r.paused))
        .collect();
    assert_eq!(
        defaults,
        vec![
            ("incremental".into(), "*/15 * * * * Asia/Ho_Chi_Minh PIPELINE".into(), true),
            ("nightly-reconcile".into(), "0 2 * * * Asia/Ho_Chi_Minh PIPELINE".into(), true),
        ]
    );
    s.delete("e").await.unwrap();
    assert!(store::firings(&store.db(), "e", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn pause_resume_run_now_and_changes_sqlite() {
    pause_resume_run_now_and_changes(Backend::Sqlite).await;
}

#[tokio::test]
async fn pause_resume_run_now_and_changes_postgres() {
    pause_resume_run_now_and_changes(Backend::Postgres).await;
}

async fn a_won_slot_without_its_job_is_finished_by_the_next_tick(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let (store, engine) = engine(&db.url).await;
    let s = Scheduler::new(engine.clone(), "p");
    s.create(every15("e"), at("2026-12-06T10:00:00Z")).await.unwrap();
    // A process won 10:15 and stopped before asking the engine for the job.
    let slot = at("2026-12-06T10:15:00Z");
    assert!(store::claim_slot(&store.db(), "e", slot.timestamp_millis(), "dead", 0).await.unwrap());
    assert!(!store::claim_slot(&store.db(), "e", slot.timestamp_millis(), "late", 0).await.unwrap());
    assert!(jobs_of(&store, "EXAMPLE_COUNT").await.is_empty());
    let fired = s.tick(at("2026-12-06T10:16:00Z")).await.unwrap();
    assert_eq!(fired.iter().map(|f| f.at).collect::<Vec<_>>(), vec![slot]);
    assert_eq!(jobs_of(&store, "EXAMPLE_COUNT").await.len(), 1);
    assert!(store::open_firings(&store.db()).await.unwrap().is_empty());
    assert!(s.tick(at("2026-12-06T10:17:00Z")).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_won_slot_without_its_job_is_finished_by_the_next_tick_sqlite() {
    a_won_slot_without_its_job_is_finished_by_the_next_tick(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_won_slot_without_its_job_is_finished_by_the_next_tick_postgres() {
    a_won_slot_without_its_job_is_finished_by_the_next_tick(Backend::Postgres).await;
}

fn pipeline_input(fail: bool) -> Value {
    let second = if fail { json!({"items": 5, "failAt": 0}) } else { json!({"items": 5, "batch": 2}) };
    json!({
        "recheckSecs": 1,
        "stages": [
            {"name": "pull", "jobs": [
                {"type": "EXAMPLE_COUNT", "input": {"items": 4, "batch": 1, "exclusive": "a"}},
                {"type": "EXAMPLE_COUNT", "input": {"items": 3, "batch": 1, "exclusive": "b"}}
            ]},
            {"name": "sync", "jobs": [{"type": "EXAMPLE_COUNT", "input": second}]}
        ]
    })
}

async fn a_pipeline_runs_its_children_stage_by_stage_on_one_worker(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let (store, engine) = engine(&db.url).await;
    let s = Scheduler::new(engine.clone(), "p");
    let new = NewSchedule {
        id: "pipe".into(),
        cron: "0 2 * * *".into(),
        time_zone: None,
        job_type: "PIPELINE".into(),
        input: pipeline_input(false),
        paused: false,
    };
    let row = s.create(new, at("2026-12-06T00:00:00Z")).await.unwrap();
    assert_eq!(row.time_zone, "Asia/Ho_Chi_Minh");
    // 02:00 in Ho Chi Minh City is 19:00 UTC.
    let fired = s.tick(at("2026-12-06T19:00:01Z")).await.unwrap();
    assert_eq!(fired.len(), 1);
    let parent = run_until_finished(&engine, fired[0].job_id).await;
    assert_eq!(parent.status, JobStatus::Completed, "{:?}", parent.error);
    assert_eq!((parent.total, parent.processed), (Some(3), 3));
    let links = children_of(&store.db(), &parent.id.to_string()).await.unwrap();
    assert_eq!(links.iter().map(|l| l.stage.as_str()).collect::<Vec<_>>(), vec!["pull", "pull", "sync"]);
    let mut finished = Vec::new();
    for l in &links {
        let child = store.job(l.child_job_id.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(child.status, JobStatus::Completed);
        assert_eq!(child.priority, Priority::Scheduled, "children run at their parent's priority");
        let back = parent_of(&store.db(), &l.child_job_id).await.unwrap().unwrap();
        assert_eq!(back.parent_job_id, parent.id.to_string());
        let first = store.events(child.id, 0, 1).await.unwrap();
        assert_eq!(first[0].payload["requestedBy"], json!(format!("pipeline:{}", parent.id)));
        finished.push((l.stage.clone(), child.created_at, child.completed_at.unwrap()));
    }
    // The sync stage was requested only after both pulls had completed.
    assert!(finished[2].1 >= finished[0].2 && finished[2].1 >= finished[1].2, "{finished:?}");
    // Its metadata shows the children, each with its status.
    let shown = parent.metadata["summary"]["children"].as_array().unwrap();
    assert_eq!(shown.len(), 3);
    assert!(shown.iter().all(|c| c["status"] == json!("COMPLETED")), "{shown:?}");
    // The parent waited for its children with the engine's wait, which is neither a failure nor
    // an attempt: no step failed, and the one claim that started it is its only attempt.
    let events = store.events(parent.id, 0, 10_000).await.unwrap();
    let failed: Vec<_> = events.iter().filter(|e| e.event_type == "StepFailed").collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(events.iter().any(|e| e.payload["waitUntil"].is_string()), "the parent never waited");
    assert_eq!(parent.attempts, 1);

    // A child that fails fails the parent, naming it; the next stage is not requested.
    let (id, _) = s.run_now("pipe", "api", at("2026-12-06T20:00:00Z")).await.unwrap();
    let patch = SchedulePatch { input: Some(pipeline_input(true)), ..SchedulePatch::default() };
    s.change("pipe", patch, at("2026-12-06T20:00:00Z")).await.unwrap();
    let done = run_until_finished(&engine, id.job_id).await;
    assert_eq!(done.status, JobStatus::Completed, "the first run-now had the good input");
    let (bad, _) = s.run_now("pipe", "api", at("2026-12-06T20:01:00Z")).await.unwrap();
    let failed = run_until_finished(&engine, bad.job_id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("stage sync") && error.contains("EXAMPLE_COUNT"), "{error}");
}

#[tokio::test]
async fn a_pipeline_runs_its_children_stage_by_stage_on_one_worker_sqlite() {
    a_pipeline_runs_its_children_stage_by_stage_on_one_worker(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_pipeline_runs_its_children_stage_by_stage_on_one_worker_postgres() {
    a_pipeline_runs_its_children_stage_by_stage_on_one_worker(Backend::Postgres).await;
}
