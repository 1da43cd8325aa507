//! A step's local writes run inside the transaction that appends its `StepCompleted`: the effect
//! sees its own event (and its audit-index entries) through the transaction it was handed, while
//! another connection sees neither until the commit.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dongbo_engine::{
    Db, EffectError, EntityRef, JobId, JobRequest, JobStatus, Progress, Step, StepContext, StepEffects, StepError,
    StoreTx, Workflow,
};
use serde_json::json;

use crate::harness::{worker_config, Harness};

const SEES_OWN_STEP: &str = "GUARD_SEES_OWN_STEP";

/// What one effect saw: its `StepCompleted` rows and audit entries, inside and outside.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    seq: i64,
    touched: i64,
    own_step: i64,
    own_touches: i64,
    other_step: i64,
    other_touches: i64,
}

const STEP_ROWS_SQLITE: &str =
    "SELECT COUNT(*) FROM events WHERE job_id = ? AND seq = ? AND event_type = 'StepCompleted'";
const TOUCH_ROWS_SQLITE: &str = "SELECT COUNT(*) FROM event_entities ee JOIN events e ON e.position = ee.position
     WHERE e.job_id = ? AND e.seq = ? AND ee.job_id = e.job_id";
const STEP_ROWS_PG: &str =
    "SELECT COUNT(*) FROM events WHERE job_id = $1 AND seq = $2 AND event_type = 'StepCompleted'";
const TOUCH_ROWS_PG: &str = "SELECT COUNT(*) FROM event_entities ee JOIN events e ON e.position = ee.position
     WHERE e.job_id = $1 AND e.seq = $2 AND ee.job_id = e.job_id";

/// Counts (step rows, audit rows) for `(job, seq)` on a pool.
async fn counts_on(db: &Db, job: JobId, seq: i64) -> Result<(i64, i64), sqlx::Error> {
    Ok(match db {
        Db::Sqlite(p) => (
            sqlx::query_scalar(STEP_ROWS_SQLITE).bind(job.to_string()).bind(seq).fetch_one(p).await?,
            sqlx::query_scalar(TOUCH_ROWS_SQLITE).bind(job.to_string()).bind(seq).fetch_one(p).await?,
        ),
        Db::Postgres(p) => (
            sqlx::query_scalar(STEP_ROWS_PG).bind(job.as_uuid()).bind(seq).fetch_one(p).await?,
            sqlx::query_scalar(TOUCH_ROWS_PG).bind(job.as_uuid()).bind(seq).fetch_one(p).await?,
        ),
    })
}

struct Observe {
    job: JobId,
    seq: i64,
    touched: i64,
    other: Db,
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[async_trait]
impl StepEffects for Observe {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        let (own_step, own_touches): (i64, i64) = match tx {
            StoreTx::Sqlite(c) => (
                sqlx::query_scalar(STEP_ROWS_SQLITE)
                    .bind(self.job.to_string())
                    .bind(self.seq)
                    .fetch_one(&mut *c)
                    .await?,
                sqlx::query_scalar(TOUCH_ROWS_SQLITE)
                    .bind(self.job.to_string())
                    .bind(self.seq)
                    .fetch_one(&mut *c)
                    .await?,
            ),
            StoreTx::Postgres(c) => (
                sqlx::query_scalar(STEP_ROWS_PG).bind(self.job.as_uuid()).bind(self.seq).fetch_one(&mut *c).await?,
                sqlx::query_scalar(TOUCH_ROWS_PG).bind(self.job.as_uuid()).bind(self.seq).fetch_one(&mut *c).await?,
            ),
        };
        let (other_step, other_touches) = counts_on(&self.other, self.job, self.seq).await?;
        self.seen.lock().unwrap().push(Seen {
            seq: self.seq,
            touched: self.touched,
            own_step,
            own_touches,
            other_step,
            other_touches,
        });
        Ok(())
    }
}

/// Three steps with effects: the first and the last touch two records each, the middle one none.
#[derive(Clone)]
struct SeesOwnStep {
    other: Db,
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[async_trait]
impl Workflow for SeesOwnStep {
    type Input = serde_json::Value;
    type State = u32;

    fn job_type(&self) -> &'static str {
        SEES_OWN_STEP
    }

    fn initial_state(&self, _input: &serde_json::Value) -> u32 {
        0
    }

    async fn step(&self, ctx: &StepContext, _input: &serde_json::Value, done: u32) -> Result<Step<u32>, StepError> {
        let touched: Vec<EntityRef> = if done == 1 {
            Vec::new()
        } else {
            (0..2)
                .map(|i| EntityRef { kind: "guard_item".into(), id: format!("{done}-{i}"), action: "seen".into() })
                .collect()
        };
        let observe = Observe {
            job: ctx.job_id,
            seq: ctx.step_seq,
            touched: touched.len() as i64,
            other: self.other.clone(),
            seen: self.seen.clone(),
        };
        let progress = Progress { total: Some(3), processed: 1, successful: 1, ..Progress::default() };
        let step =
            if done == 2 { Step::complete("observe", json!({"steps": 3})) } else { Step::next("observe", done + 1) };
        Ok(step.with_progress(progress).with_effects(observe).with_touched(touched))
    }
}

pub async fn an_effect_sees_its_own_step_through_its_transaction_and_not_through_another_connection(h: Harness) {
    let other = h.second_store().await.db();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut registry = h.registry();
    registry.register(SeesOwnStep { other: other.clone(), seen: seen.clone() });
    let engine = h.engine_with(registry);
    let job = engine.request(JobRequest::new(SEES_OWN_STEP, json!({}))).await.unwrap().job.id;
    let worker = engine.worker(worker_config("w"));
    while worker.run_once().await.unwrap().is_some() {}
    let row = h.job(job).await;
    assert_eq!((row.status, row.processed), (JobStatus::Completed, 3), "{:?}", row.error);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "one effect per step: {seen:?}");
    assert!(seen.iter().any(|s| s.touched == 0) && seen.iter().any(|s| s.touched > 0));
    for s in &seen {
        assert_eq!(
            (s.own_step, s.own_touches),
            (1, s.touched),
            "the effect must see its own StepCompleted and audit entries through its transaction: {s:?}"
        );
        assert_eq!(
            (s.other_step, s.other_touches),
            (0, 0),
            "another connection must not see the step before it commits: {s:?}"
        );
        // Committed now: everyone sees it.
        assert_eq!(counts_on(&other, job, s.seq).await.unwrap(), (1, s.touched), "{s:?}");
    }
}
