//! A job run by a real `dongbo worker` process killed with SIGKILL mid-run resumes in a second
//! process from its last checkpoint: exact final counts, contiguous sequence numbers, a
//! `JobClaimed` with attempt 2, and at most one step redone — on SQLite and on PostgreSQL.

use std::time::Duration;

use dongbo_engine::event::EventPayload;
use dongbo_engine::example::{example_stats, ExampleCount, EXAMPLE_COUNT};
use dongbo_engine::{Engine, JobRequest, JobStatus, Registry};
use dongbo_tests::{fresh_db, spawn_worker, wait_for, Backend};
use serde_json::json;

async fn a_killed_worker_process_resumes_in_another_with_one_step_redone_at_most(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let mut registry = Registry::new();
    registry.register(ExampleCount);
    let engine = Engine::new(store.clone(), registry);
    let input = json!({ "items": 400, "batch": 10, "stepMillis": 25 });
    let job = engine.request(JobRequest::new(EXAMPLE_COUNT, input)).await.unwrap().job.id;

    let mut first = spawn_worker(&db.url, &[]);
    wait_for("the first worker to commit some steps", Duration::from_secs(60), || async {
        let row = store.job(job).await.unwrap().unwrap();
        (row.processed >= 100).then_some(())
    })
    .await;
    first.kill().expect("SIGKILL the first worker");
    first.wait().unwrap();
    let at_kill = store.job(job).await.unwrap().unwrap();
    assert!(at_kill.processed < 400, "killed too late to test a resume");

    let mut second = spawn_worker(&db.url, &[]);
    let row = wait_for("the second worker to finish the job", Duration::from_secs(120), || async {
        let row = store.job(job).await.unwrap().unwrap();
        row.status.is_finished().then_some(row)
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();

    assert_eq!(row.status, JobStatus::Completed);
    assert_eq!((row.total, row.processed, row.successful, row.failed), (Some(400), 400, 400, 0));
    assert_eq!(row.attempts, 2);

    let events = store.events(job, 0, 100_000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "sequence numbers must be contiguous");
    let claims: Vec<_> = events
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            EventPayload::JobClaimed(c) => Some((e.seq, c)),
            _ => None,
        })
        .collect();
    assert_eq!(claims.len(), 2);
    let (resume_seq, resume) = &claims[1];
    assert_eq!(resume.attempt, 2);
    assert!(resume.after_lost_lease);
    let last_checkpoint_before =
        events.iter().filter(|e| e.seq < *resume_seq && e.event_type == "StepCompleted").map(|e| e.seq).max();
    assert_eq!(resume.resumed_from, last_checkpoint_before, "the resume continues from the last checkpoint");

    let steps = events.iter().filter(|e| e.event_type == "StepCompleted").count() as i64;
    let stats = example_stats(&store.db(), job).await.unwrap();
    assert_eq!((stats.ledger_rows, stats.distinct_items), (400, 400), "every item exactly once");
    assert!(stats.executions - steps <= 1, "{} steps executed for {steps} committed", stats.executions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_process_resumes_on_sqlite() {
    a_killed_worker_process_resumes_in_another_with_one_step_redone_at_most(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_process_resumes_on_postgres() {
    a_killed_worker_process_resumes_in_another_with_one_step_redone_at_most(Backend::Postgres).await;
}
