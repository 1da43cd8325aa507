//! `GATED`: a test workflow whose steps wait for the test to open a gate, so a test can act
//! while a step is in flight (cancel it, take its lease, shut its worker down) without timing.

use std::sync::Arc;

use async_trait::async_trait;
use dongbo_engine::{EffectError, Progress, Step, StepContext, StepEffects, StepError, StoreTx, Workflow};
use serde_json::json;
use tokio::sync::{mpsc, Mutex, Semaphore};

pub const GATED: &str = "GATED";

#[derive(Clone)]
pub struct Gated {
    pub gate: Arc<Semaphore>,
    entered: mpsc::UnboundedSender<i64>,
    pub steps: u32,
    pub fail_effects: bool,
}

pub struct Entered(Mutex<mpsc::UnboundedReceiver<i64>>);

impl Entered {
    /// Waits until a step has started and returns its sequence number.
    pub async fn next(&self) -> i64 {
        self.0.lock().await.recv().await.expect("a step entered")
    }
}

impl Gated {
    pub fn new(steps: u32) -> (Gated, Entered) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Gated { gate: Arc::new(Semaphore::new(0)), entered: tx, steps, fail_effects: false }, Entered(Mutex::new(rx)))
    }

    pub fn open_once(&self) {
        self.gate.add_permits(1);
    }
}

/// Writes a ledger row, then optionally fails: the row must vanish with the step.
pub struct Mark {
    pub job: dongbo_engine::JobId,
    pub item: i64,
    pub fail: bool,
}

#[async_trait]
impl StepEffects for Mark {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        match tx {
            StoreTx::Sqlite(c) => {
                sqlx::query("INSERT INTO example_ledger (job_id, item) VALUES (?, ?)")
                    .bind(self.job.to_string())
                    .bind(self.item)
                    .execute(c)
                    .await?;
            }
            StoreTx::Postgres(c) => {
                sqlx::query("INSERT INTO example_ledger (job_id, item) VALUES ($1, $2)")
                    .bind(self.job.as_uuid())
                    .bind(self.item)
                    .execute(c)
                    .await?;
            }
        }
        if self.fail {
            return Err(EffectError("simulated failure after the first write".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Workflow for Gated {
    type Input = serde_json::Value;
    type State = u32;

    fn job_type(&self) -> &'static str {
        GATED
    }

    fn initial_state(&self, _input: &serde_json::Value) -> u32 {
        0
    }

    async fn step(&self, ctx: &StepContext, _input: &serde_json::Value, done: u32) -> Result<Step<u32>, StepError> {
        let _ = self.entered.send(ctx.step_seq);
        self.gate.acquire().await.expect("gate open").forget();
        let progress =
            Progress { total: Some(i64::from(self.steps)), processed: 1, successful: 1, ..Progress::default() };
        let mark = Mark { job: ctx.job_id, item: i64::from(done), fail: self.fail_effects };
        let step = if done + 1 >= self.steps {
            Step::complete("gated", json!({ "steps": done + 1 }))
        } else {
            Step::next("gated", done + 1)
        };
        Ok(step.with_progress(progress).with_effects(mark))
    }
}

/// Ledger rows of a job, on either backend.
pub async fn ledger_rows(db: &dongbo_engine::Db, job: dongbo_engine::JobId) -> i64 {
    dongbo_engine::example::example_stats(db, job).await.expect("stats").ledger_rows
}
