//! PostgreSQL only: a lease holder commits its steps on a connection it keeps from one step to
//! the next, and must survive that connection dying between steps (a server restart, a network
//! cut, an administrator ending sessions) without giving its lease up.

use async_trait::async_trait;
use dongbo_engine::{
    Db, Engine, JobRequest, JobStatus, Registry, RunOutcome, Step, StepContext, StepError, WorkerConfig, WorkerId,
    Workflow,
};
use dongbo_tests::Backend;
use serde_json::{json, Value};

/// Three steps; the second ends every other session on the database first, the connection the
/// worker committed the first step on among them.
struct EndsSessions;

#[async_trait]
impl Workflow for EndsSessions {
    type Input = Value;
    type State = u32;

    fn job_type(&self) -> &'static str {
        "ENDS_SESSIONS"
    }

    fn initial_state(&self, _input: &Value) -> u32 {
        0
    }

    async fn step(&self, ctx: &StepContext, _input: &Value, done: u32) -> Result<Step<u32>, StepError> {
        if done == 1 {
            let Db::Postgres(pool) = &ctx.db else { return Err(StepError::permanent("PostgreSQL only")) };
            let ended: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
            )
            .fetch_one(pool)
            .await
            .map_err(|e| StepError::permanent(e.to_string()))?;
            assert!(ended > 0, "no other session to end");
        }
        Ok(if done == 2 { Step::complete("s", json!({})) } else { Step::next("s", done + 1) })
    }
}

#[tokio::test]
async fn a_step_commits_on_a_fresh_connection_when_the_held_one_died_between_steps() {
    let Some(db) = dongbo_tests::fresh_db(Backend::Postgres).await else { return };
    let store = dongbo_engine::open(&db.url).await.unwrap();
    let mut registry = Registry::new();
    registry.register(EndsSessions);
    let engine = Engine::new(store.clone(), registry);
    let job = engine.request(JobRequest::new("ENDS_SESSIONS", json!({}))).await.unwrap().job.id;
    let worker = engine.worker(WorkerConfig::new(WorkerId::new("w")));

    let ran = worker.run_once().await.expect("the worker's commits survive the ended sessions");

    assert!(matches!(ran, Some((id, RunOutcome::Completed)) if id == job), "{ran:?}");
    let row = store.job(job).await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Completed);
    let claims = store.events(job, 0, 100).await.unwrap().iter().filter(|e| e.event_type == "JobClaimed").count();
    assert_eq!(claims, 1, "the lease was kept: no second claim");
}
