//! Child jobs requested from a step, and waiting for them.
//!
//! A parent requests each child with the idempotency key `pipeline:<parent>:<stage>:<n>`, so a
//! step re-run after a crash gets the same children back, and files the links
//! (`catalog::store::schedules::LinkChildren`) in the step that checkpoints their ids.
//!
//! Waiting must not hold a worker: with one worker, a parent that held it would keep its own
//! children from running. A parent that finds its children unfinished therefore ends its step
//! with the engine's wait ([`Waiting::into_step`], i.e. `Step::wait`): the step checkpoints the
//! children's view, the worker gives the parent up, and any worker claims it again after the
//! re-check period. The wait is neither a failure nor an attempt: no error is shown, no retry is
//! counted, and the parent's row says until when it waits (`metadata.waitingUntil`).

use std::sync::Weak;
use std::time::Duration;

use dongbo_engine::{
    BackgroundJob, Engine, EngineError, JobId, JobRequest, JobStatus, Progress, Registry, Step, StepContext, StepError,
    Store,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::catalog::store::schedules::ChildLink;

/// Requests child jobs on a store, of the types registered before the parent.
#[derive(Clone)]
pub struct ChildJobs {
    store: Weak<dyn Store>,
    types: Registry,
}

/// A child a parent requested, as its checkpoint keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildRef {
    /// The parent's stage that requested it.
    pub stage: String,
    /// Its type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Its id.
    pub job_id: JobId,
}

/// Children that have not all finished.
#[derive(Debug)]
pub struct Waiting {
    /// The unfinished ones: `(type, id, status)`.
    pub unfinished: Vec<(String, JobId, JobStatus)>,
    /// When to look again.
    pub recheck: Duration,
}

impl Waiting {
    /// What the wait says in the audit trail: which children are unfinished.
    pub fn note(&self) -> String {
        let list: Vec<String> = self.unfinished.iter().map(|(t, id, s)| format!("{t} {id} {s}")).collect();
        format!(
            "waiting for {} child job(s) ({}); checking again in {} s",
            list.len(),
            list.join(", "),
            self.recheck.as_secs()
        )
    }

    /// The step that checkpoints `state` (with `progress`) and waits until the re-check.
    pub fn into_step<S>(self, state: S, progress: Progress) -> Step<S> {
        let note = self.note();
        Step::wait("waiting", state, self.recheck).with_progress(progress).with_note(note)
    }
}

impl ChildJobs {
    /// Children on `store` of the types in `types`.
    pub fn new(store: Weak<dyn Store>, types: Registry) -> Self {
        ChildJobs { store, types }
    }

    /// Whether `job_type` can be a child, and whether `input` fits it (the message says why not).
    pub fn check(&self, job_type: &str, input: &Value) -> Result<(), String> {
        let workflow = self.types.get(job_type).ok_or_else(|| {
            format!("unknown child job type `{job_type}` (known: {})", self.types.job_types().join(", "))
        })?;
        workflow.prepare(input.clone()).map(|_| ())
    }

    fn store(&self) -> Result<std::sync::Arc<dyn Store>, StepError> {
        self.store.upgrade().ok_or_else(|| StepError::transient("the store is closing"))
    }

    /// Requests child `n` of `stage` (or gets it back, on a re-run), and its link to file.
    pub async fn request(
        &self,
        ctx: &StepContext,
        stage: &str,
        n: usize,
        job_type: &str,
        input: Value,
    ) -> Result<(ChildRef, ChildLink), StepError> {
        let store = self.store()?;
        let parent = ctx.job_id;
        // Children run at their parent's priority (a scheduled pipeline's children are scheduled
        // work; a pipeline an operator ran is manual).
        let priority = store
            .job(parent)
            .await
            .map_err(|e| StepError::transient(format!("reading the parent job: {e}")))?
            .map(|row| row.priority)
            .unwrap_or_default();
        let engine = Engine::with_clock(store, self.types.clone(), ctx.clock.clone());
        let mut req = JobRequest::new(job_type, input);
        req.idempotency_key = Some(format!("pipeline:{parent}:{stage}:{n}"));
        req.requested_by = format!("pipeline:{parent}");
        req.priority = priority;
        let requested = engine.request(req).await.map_err(|e| match e {
            EngineError::UnknownJobType(_) | EngineError::InvalidInput(_) => {
                StepError::permanent(format!("stage {stage}: child {job_type}: {e}"))
            }
            EngineError::Store(e) => StepError::transient(format!("stage {stage}: requesting {job_type}: {e}")),
        })?;
        let id = requested.job.id;
        let link = ChildLink {
            parent_job_id: parent.to_string(),
            child_job_id: id.to_string(),
            stage: stage.to_owned(),
            position: i64::try_from(n).unwrap_or(i64::MAX),
        };
        Ok((ChildRef { stage: stage.to_owned(), job_type: job_type.to_owned(), job_id: id }, link))
    }

    /// The children's rows, in order (a child whose row is gone is a permanent error).
    pub async fn rows(&self, children: &[ChildRef]) -> Result<Vec<BackgroundJob>, StepError> {
        let store = self.store()?;
        let mut out = Vec::with_capacity(children.len());
        for c in children {
            let row = store
                .job(c.job_id)
                .await
                .map_err(|e| StepError::transient(format!("reading child {}: {e}", c.job_id)))?
                .ok_or_else(|| StepError::permanent(format!("child job {} is gone", c.job_id)))?;
            out.push(row);
        }
        Ok(out)
    }
}

/// What the parent shows of its children in its metadata.
pub fn children_view(children: &[ChildRef], rows: &[BackgroundJob]) -> Value {
    let list: Vec<Value> = children
        .iter()
        .zip(rows)
        .map(|(c, r)| {
            json!({
                "stage": c.stage, "type": c.job_type, "jobId": c.job_id, "status": r.status,
                "processed": r.processed, "total": r.total, "successful": r.successful, "failed": r.failed,
            })
        })
        .collect();
    Value::Array(list)
}

/// Whether every child finished; the unfinished ones otherwise.
pub fn unfinished(children: &[ChildRef], rows: &[BackgroundJob], recheck: Duration) -> Option<Waiting> {
    let unfinished: Vec<(String, JobId, JobStatus)> = children
        .iter()
        .zip(rows)
        .filter(|(_, r)| !r.status.is_finished())
        .map(|(c, r)| (c.job_type.clone(), c.job_id, r.status))
        .collect();
    (!unfinished.is_empty()).then_some(Waiting { unfinished, recheck })
}

/// The children that did not complete, as one reason.
pub fn failures(children: &[ChildRef], rows: &[BackgroundJob]) -> Option<String> {
    let bad: Vec<String> = children
        .iter()
        .zip(rows)
        .filter(|(_, r)| r.status != JobStatus::Completed)
        .map(|(c, r)| match &r.error {
            Some(e) => format!("{} {} {}: {e}", c.job_type, c.job_id, r.status),
            None => format!("{} {} {}", c.job_type, c.job_id, r.status),
        })
        .collect();
    (!bad.is_empty()).then(|| bad.join("; "))
}
