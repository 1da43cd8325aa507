//! On SQLite a step without local writes commits in one statement, which also returns the job's
//! pending cancel request. A commit that fails at the statement's end — here a deferred foreign
//! key, checked only when the statement commits — must come back as the store error it is: not be
//! taken for a commit because the statement's row arrived first. The job then holds exactly the
//! steps that committed, and the next claim resumes after them.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use dongbo_engine::{
    Engine, JobRequest, Progress, Registry, RunOutcome, Step, StepContext, StepError, WorkerConfig, WorkerId, Workflow,
};
use serde_json::{json, Value};
use sqlx::{Connection, SqliteConnection};

/// Counts down without writing anything of its own: each step commits in the one statement.
struct Countdown;

#[async_trait]
impl Workflow for Countdown {
    type Input = u32;
    type State = u32;

    fn job_type(&self) -> &'static str {
        "COUNTDOWN"
    }

    fn initial_state(&self, steps: &u32) -> u32 {
        *steps
    }

    async fn step(&self, _ctx: &StepContext, _input: &u32, left: u32) -> Result<Step<u32>, StepError> {
        let step = if left <= 1 { Step::complete("counted", Value::Null) } else { Step::next("counted", left - 1) };
        Ok(step.with_progress(Progress { processed: 1, successful: 1, ..Progress::default() }))
    }
}

async fn run(url: &str, statements: &[&str]) {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    for s in statements {
        sqlx::query(s).execute(&mut conn).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_commit_refused_at_its_end_is_a_store_error_and_nothing_of_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("dongbo.db").display());
    let store = dongbo_engine::open(&url).await.unwrap();
    // The third step's commit is refused when it ends: its event inserts a row whose deferred
    // foreign key has no parent.
    run(
        &url,
        &[
            "CREATE TABLE refused_parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE refused_child (parent INTEGER REFERENCES refused_parent (id) DEFERRABLE INITIALLY DEFERRED)",
            "CREATE TRIGGER refuse_third_step AFTER INSERT ON events
             WHEN NEW.event_type = 'StepCompleted'
              AND (SELECT count(*) FROM events WHERE job_id = NEW.job_id AND event_type = 'StepCompleted') = 3
             BEGIN INSERT INTO refused_child VALUES (1); END",
        ],
    )
    .await;
    let mut registry = Registry::new();
    registry.register(Countdown);
    let engine = Engine::new(store, registry);
    let job = engine.request(JobRequest::new("COUNTDOWN", json!(5))).await.unwrap().job.id;
    let short = |id: &str| WorkerConfig { lease: Duration::from_millis(300), ..WorkerConfig::new(WorkerId::new(id)) };
    let worker = engine.worker(short("w1"));

    let outcome = worker.run_once().await;
    assert!(outcome.is_err(), "a refused step commit was taken for a commit: {outcome:?}");
    let steps = |events: &[dongbo_engine::Event]| {
        events.iter().filter(|e| e.event_type == "StepCompleted").map(|e| e.seq).collect::<Vec<_>>()
    };
    let events = engine.store().events(job, 0, 100).await.unwrap();
    let kept = steps(&events);
    assert_eq!(kept.len(), 2, "only the two committed steps are in the log: {events:?}");
    let row = engine.store().job(job).await.unwrap().unwrap();
    assert_eq!(row.processed, 2, "the projection counts the committed steps only");

    // Let commits through: once the lease runs out, the job resumes after its two steps and ends.
    run(&url, &["DROP TRIGGER refuse_third_step"]).await;
    let worker = engine.worker(short("w2"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let ended = loop {
        match worker.run_once().await.unwrap() {
            Some((_, outcome)) => break outcome,
            None if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            None => panic!("the job was never claimed again"),
        }
    };
    assert_eq!(ended, RunOutcome::Completed);
    let events = engine.store().events(job, 0, 100).await.unwrap();
    assert_eq!(steps(&events).len(), 5, "each of the five steps once: {events:?}");
    assert_eq!(engine.store().job(job).await.unwrap().unwrap().processed, 5);
}
