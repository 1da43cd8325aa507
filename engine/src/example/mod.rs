//! The built-in example workflow, `EXAMPLE_COUNT`: counts items in batches, writing each batch to
//! a ledger table in the step's transaction. It exercises every engine feature (checkpoints,
//! atomic step writes, transient and permanent failures, the audit index) without any upstream,
//! and is what the engine's tests and the crash-and-resume part of the demo run.

mod store;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::event::{EntityRef, Progress};
use crate::workflow::{Step, StepContext, StepError, Workflow};

pub use store::{example_stats, ExampleStats};

/// The job type name.
pub const EXAMPLE_COUNT: &str = "EXAMPLE_COUNT";

/// The longest simulated work of one step, in milliseconds.
pub const MAX_STEP_MILLIS: u64 = 10_000;
/// The longest simulated work of a whole job (all its steps), in milliseconds: ten minutes.
pub const MAX_WORK_MILLIS: u64 = 600_000;

/// The example's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExampleInput {
    /// How many items to count.
    pub items: u32,
    /// Items per step.
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// Simulated work per step, in milliseconds.
    #[serde(default)]
    pub step_millis: u64,
    /// The job's first this-many step executions fail transiently.
    #[serde(default)]
    pub transient_failures: u32,
    /// The step starting at this item fails permanently.
    #[serde(default)]
    pub fail_at: Option<u32>,
    /// A concurrency key: at most one unfinished example job per key.
    #[serde(default)]
    pub exclusive: Option<String>,
}

fn default_batch() -> u32 {
    10
}

/// The example's checkpoint: the next item to count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExampleState {
    /// The next item.
    pub next: u32,
}

/// The example workflow.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExampleCount;

#[async_trait]
impl Workflow for ExampleCount {
    type Input = ExampleInput;
    type State = ExampleState;

    fn job_type(&self) -> &'static str {
        EXAMPLE_COUNT
    }

    fn validate(&self, input: &ExampleInput) -> Result<(), String> {
        if input.batch == 0 {
            return Err("batch must be at least 1".into());
        }
        if input.items > 10_000_000 {
            return Err("items must be at most 10,000,000".into());
        }
        if input.step_millis > MAX_STEP_MILLIS {
            return Err(format!("stepMillis must be at most {MAX_STEP_MILLIS}, not {}", input.step_millis));
        }
        // The simulated work of every step together: an example must not tie a worker up for
        // days (100,000 steps of 10 s would hold one for eleven).
        let steps = u64::from(input.items.div_ceil(input.batch));
        let work = steps.saturating_mul(input.step_millis);
        if work > MAX_WORK_MILLIS {
            return Err(format!(
                "the example's simulated work (steps × stepMillis = {steps} × {}) must be at most {} s, not {} s",
                input.step_millis,
                MAX_WORK_MILLIS / 1000,
                work / 1000
            ));
        }
        Ok(())
    }

    fn concurrency_key(&self, input: &ExampleInput) -> Option<String> {
        input.exclusive.as_ref().map(|k| format!("{EXAMPLE_COUNT}:{k}"))
    }

    fn initial_state(&self, _input: &ExampleInput) -> ExampleState {
        ExampleState { next: 0 }
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &ExampleInput,
        state: ExampleState,
    ) -> Result<Step<ExampleState>, StepError> {
        // Recorded outside the step's transaction, like a call to an upstream: it survives a
        // crash, so tests can count how many steps were executed and not committed.
        let executions = store::record_execution(&ctx.db, ctx.job_id, ctx.checkpoint_seq, ctx.attempt)
            .await
            .map_err(|e| StepError::transient(e.to_string()))?;
        if executions <= u64::from(input.transient_failures) {
            return Err(StepError::Transient {
                message: format!("simulated transient failure {executions} of {}", input.transient_failures),
                retry_after: None,
            });
        }
        if input.step_millis > 0 {
            tokio::time::sleep(Duration::from_millis(input.step_millis)).await;
        }
        if state.next >= input.items {
            return Ok(Step::complete("finish", json!({ "counted": input.items })));
        }
        let from = state.next;
        let to = (from + input.batch).min(input.items);
        if input.fail_at.is_some_and(|at| (from..to).contains(&at)) {
            return Err(StepError::permanent(format!("item {} cannot be counted", input.fail_at.unwrap_or(from))));
        }
        let n = i64::from(to - from);
        let progress = Progress {
            total: (from == 0).then_some(i64::from(input.items)),
            processed: n,
            successful: n,
            failed: 0,
            metadata: Some(json!({ "lastItem": to - 1 })),
        };
        let touched = vec![EntityRef { kind: "example_item".into(), id: from.to_string(), action: "counted".into() }];
        let step = Step::next("count", ExampleState { next: to })
            .with_progress(progress)
            .with_effects(store::LedgerWrite { job_id: ctx.job_id, from, to })
            .with_touched(touched)
            .with_note(format!("items {from}..{to}"));
        if to >= input.items {
            // The last batch completes the job in the same commit.
            return Ok(Step { next: crate::workflow::Next::Complete(json!({ "counted": input.items })), ..step });
        }
        Ok(step)
    }
}
