//! PIPELINE: a parent job that runs stages of durable child jobs, one stage after another (the
//! jobs of a stage run side by side), e.g. pull → match → sync. It fails, naming the child, when
//! a child of a stage does not complete; later stages then do not run.
//!
//! Its metadata shows the current stage and every child with its status and progress; the
//! links are filed in `job_children`, so the API can list a parent's children and a child's
//! parent.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use dongbo_engine::{Progress, Step, StepContext, StepError, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::children::{children_view, failures, unfinished, ChildJobs, ChildRef};
use crate::catalog::store::schedules::LinkChildren;

/// The job type.
pub const PIPELINE: &str = "PIPELINE";

/// How often a parent looks at its children when the input does not say.
const DEFAULT_RECHECK_SECS: u64 = 5;

/// A pipeline's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineInput {
    /// The stages, in order.
    pub stages: Vec<StageSpec>,
    /// Seconds between two looks at unfinished children (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_secs: Option<u64>,
}

/// One stage: jobs that run side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageSpec {
    /// Its name (`pull`, `match`, `sync`…), unique in the pipeline.
    pub name: String,
    /// Its jobs.
    pub jobs: Vec<ChildSpec>,
}

/// A child job to request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildSpec {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Its input (default `{}`).
    #[serde(default = "empty_object")]
    pub input: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// The checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineState {
    /// The stage running (== the number of stages once all are done).
    pub stage: usize,
    /// Every child requested so far, stage by stage.
    pub children: Vec<ChildRef>,
    /// Whether the current stage's children were requested.
    pub requested: bool,
}

/// The PIPELINE workflow.
pub struct Pipeline {
    children: ChildJobs,
}

impl Pipeline {
    /// A pipeline whose children are requested through `children`.
    pub fn new(children: ChildJobs) -> Self {
        Pipeline { children }
    }
}

fn recheck(input: &PipelineInput) -> Duration {
    Duration::from_secs(input.recheck_secs.unwrap_or(DEFAULT_RECHECK_SECS))
}

#[async_trait]
impl Workflow for Pipeline {
    type Input = PipelineInput;
    type State = PipelineState;

    fn job_type(&self) -> &'static str {
        PIPELINE
    }

    fn validate(&self, input: &PipelineInput) -> Result<(), String> {
        if input.stages.is_empty() {
            return Err("a pipeline needs at least one stage".into());
        }
        if input.recheck_secs == Some(0) || input.recheck_secs.is_some_and(|s| s > 3600) {
            return Err("recheckSecs must be between 1 and 3600".into());
        }
        let mut names = HashSet::new();
        for stage in &input.stages {
            let name = stage.name.trim();
            if name.is_empty()
                || name.len() > 64
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!("stage name `{}` must be 1–64 letters, digits, `-` or `_`", stage.name));
            }
            if !names.insert(name) {
                return Err(format!("stage `{name}` appears twice"));
            }
            if stage.jobs.is_empty() {
                return Err(format!("stage `{name}` has no jobs"));
            }
            for job in &stage.jobs {
                self.children.check(&job.job_type, &job.input).map_err(|e| format!("stage `{name}`: {e}"))?;
            }
        }
        Ok(())
    }

    /// One pipeline per set of stages at a time: a slot that comes while the same pipeline still
    /// runs gets the running one back instead of doubling every child.
    fn concurrency_key(&self, input: &PipelineInput) -> Option<String> {
        let stages = serde_json::to_vec(&input.stages).unwrap_or_default();
        let digest = Sha256::digest(&stages);
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Some(format!("{PIPELINE}:{hex}"))
    }

    fn initial_state(&self, _input: &PipelineInput) -> PipelineState {
        PipelineState::default()
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &PipelineInput,
        mut state: PipelineState,
    ) -> Result<Step<PipelineState>, StepError> {
        let total_jobs: usize = input.stages.iter().map(|s| s.jobs.len()).sum();
        let Some(stage) = input.stages.get(state.stage) else {
            let rows = self.children.rows(&state.children).await?;
            let summary = json!({ "stages": input.stages.len(), "children": children_view(&state.children, &rows) });
            return Ok(Step::complete("done", summary));
        };
        if !state.requested {
            let mut links = Vec::new();
            for job in &stage.jobs {
                let n = state.children.len();
                let (child, link) =
                    self.children.request(ctx, &stage.name, n, &job.job_type, job.input.clone()).await?;
                state.children.push(child);
                links.push(link);
            }
            state.requested = true;
            let rows = self.children.rows(&state.children).await?;
            let progress = Progress {
                total: Some(total_jobs as i64),
                metadata: Some(json!({ "stage": stage.name, "children": children_view(&state.children, &rows) })),
                ..Progress::default()
            };
            let note = format!("stage {}: requested {}", stage.name, stage.jobs.len());
            return Ok(Step::next(format!("request {}", stage.name), state)
                .with_progress(progress)
                .with_effects(LinkChildren(links))
                .with_note(note));
        }
        let current: Vec<ChildRef> = state.children.iter().filter(|c| c.stage == stage.name).cloned().collect();
        let rows = self.children.rows(&state.children).await?;
        let current_rows = self.children.rows(&current).await?;
        let view = children_view(&state.children, &rows);
        if let Some(waiting) = unfinished(&current, &current_rows, recheck(input)) {
            let progress =
                Progress { metadata: Some(json!({ "stage": stage.name, "children": view })), ..Progress::default() };
            return Ok(waiting.into_step(state, progress));
        }
        if let Some(reason) = failures(&current, &current_rows) {
            return Err(StepError::permanent(format!("stage {}: {reason}", stage.name)));
        }
        let done = current.len() as i64;
        let note = format!("stage {} completed", stage.name);
        let name = format!("stage {}", stage.name);
        state.stage += 1;
        state.requested = false;
        let progress = Progress {
            processed: done,
            successful: done,
            metadata: Some(json!({ "stage": stage.name, "children": view })),
            ..Progress::default()
        };
        Ok(Step::next(name, state).with_progress(progress).with_note(note))
    }
}
