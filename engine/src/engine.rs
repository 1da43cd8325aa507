//! The engine facade: request, cancel and inspect jobs; build workers; prune the log.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::clock::{SharedClock, SystemClock};
use crate::event::{Event, EventPayload};
use crate::ids::JobId;
use crate::job::{BackgroundJob, JobStatus};
use crate::queue::{Priority, QueuePolicy};
use crate::store::{NewJob, QueuedJob, Requested, SharedStore, StoreError};
use crate::worker::{FinishHook, FinishHooks, RunOutcome, Worker, WorkerConfig};
use crate::workflow::Registry;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No workflow of that type is registered.
    #[error("unknown job type `{0}`")]
    UnknownJobType(String),
    /// The input does not fit the workflow.
    #[error("{0}")]
    InvalidInput(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request for a job.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The workflow type.
    pub job_type: String,
    /// Its input.
    pub input: Value,
    /// The caller's idempotency key.
    pub idempotency_key: Option<String>,
    /// Who asks (for the audit trail).
    pub requested_by: String,
    /// How urgent it is (default `Manual`).
    pub priority: Priority,
}

impl JobRequest {
    /// A manual request with no idempotency key, by `api`.
    pub fn new(job_type: impl Into<String>, input: Value) -> Self {
        JobRequest {
            job_type: job_type.into(),
            input,
            idempotency_key: None,
            requested_by: "api".into(),
            priority: Priority::Manual,
        }
    }
}

/// The engine: a store, the workflows it runs, a clock, and how its queue orders waiting work.
#[derive(Clone)]
pub struct Engine {
    store: SharedStore,
    registry: Arc<Registry>,
    clock: SharedClock,
    queue: QueuePolicy,
    finish_hooks: FinishHooks,
}

impl Engine {
    /// An engine on the wall clock.
    pub fn new(store: SharedStore, registry: Registry) -> Self {
        Self::with_clock(store, registry, Arc::new(SystemClock))
    }

    /// An engine on a given clock.
    pub fn with_clock(store: SharedStore, registry: Registry, clock: SharedClock) -> Self {
        Engine {
            store,
            registry: Arc::new(registry),
            clock,
            queue: QueuePolicy::default(),
            finish_hooks: FinishHooks::default(),
        }
    }

    /// The same engine with another queue policy (its workers claim by it, [`Engine::queue`]
    /// lists by it).
    pub fn with_queue_policy(mut self, policy: QueuePolicy) -> Self {
        self.queue = policy;
        self
    }

    /// The queue policy.
    pub fn queue_policy(&self) -> QueuePolicy {
        self.queue
    }

    /// The jobs waiting to be claimed, in the order workers would claim them now, each with the
    /// job it waits behind.
    pub async fn queue(&self) -> Result<Vec<QueuedJob>, StoreError> {
        self.store.queue(self.clock.now(), self.queue).await
    }

    /// Adds `hook`, which this engine's workers (and its clones') call after each job they run
    /// ends — completed, failed or cancelled at a step boundary — before claiming the next, and
    /// [`Engine::cancel`] after it cancels a job nobody was running; a parent waiting for its
    /// children uses it to be woken ([`Engine::wake`]).
    pub fn on_finish(&self, hook: FinishHook) {
        self.finish_hooks.add(hook);
    }

    /// Ends job `id`'s wait ([`crate::Step::wait`]) now; whether it was waiting (see
    /// [`crate::store::Store::wake`]).
    pub async fn wake(&self, id: JobId) -> Result<bool, StoreError> {
        self.store.wake(id, self.clock.now()).await
    }

    /// The store.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Validates the input and creates the job (or returns the existing one for the same
    /// idempotency key, or the unfinished one with the same concurrency key and input). A job
    /// whose concurrency key is held by an unfinished job with another input waits behind it.
    pub async fn request(&self, req: JobRequest) -> Result<Requested, EngineError> {
        let workflow =
            self.registry.get(&req.job_type).ok_or_else(|| EngineError::UnknownJobType(req.job_type.clone()))?;
        let (input, concurrency_key) = workflow.prepare(req.input).map_err(EngineError::InvalidInput)?;
        let job = NewJob {
            id: JobId::new(),
            job_type: workflow.job_type().to_owned(),
            input,
            idempotency_key: req.idempotency_key,
            concurrency_key,
            requested_by: req.requested_by,
            rerun_of: None,
            priority: req.priority,
            at: self.clock.now(),
        };
        Ok(self.store.request(job).await?)
    }

    /// Resumes a FAILED or CANCELLED job from its last checkpoint under the same id; see
    /// [`crate::store::Store::resume`].
    pub async fn resume(&self, id: JobId, by: &str, reason: Option<&str>) -> Result<BackgroundJob, StoreError> {
        self.store.resume(id, by, reason, self.clock.now()).await
    }

    /// Starts a new job with the type and input of job `id` (which stays as it is), linked to it
    /// by `rerunOf` in its `JobRequested` event and its metadata, at manual priority. Like any
    /// request, it answers the unfinished job with the same concurrency key and input instead,
    /// if there is one.
    pub async fn rerun(&self, id: JobId, requested_by: &str) -> Result<Requested, EngineError> {
        let first = self.store.events(id, 0, 1).await?;
        let original = match first.first().map(Event::decode) {
            Some(Ok(EventPayload::JobRequested(r))) => r,
            Some(_) => {
                return Err(EngineError::Store(StoreError::Conflict(format!(
                    "job {id}'s first event is not its request: it cannot be rerun"
                ))))
            }
            None if self.store.job(id).await?.is_some() => {
                return Err(EngineError::Store(StoreError::Conflict(format!(
                    "job {id}'s events were pruned: its input is gone, it cannot be rerun"
                ))))
            }
            None => return Err(EngineError::Store(StoreError::NotFound(id))),
        };
        let workflow = self
            .registry
            .get(&original.job_type)
            .ok_or_else(|| EngineError::UnknownJobType(original.job_type.clone()))?;
        let (input, concurrency_key) = workflow.prepare(original.input).map_err(EngineError::InvalidInput)?;
        let job = NewJob {
            id: JobId::new(),
            job_type: workflow.job_type().to_owned(),
            input,
            idempotency_key: None,
            concurrency_key,
            requested_by: requested_by.to_owned(),
            rerun_of: Some(id),
            priority: Priority::Manual,
            at: self.clock.now(),
        };
        Ok(self.store.request(job).await?)
    }

    /// Asks a job to stop; see [`crate::store::Store::cancel`]. A job nobody was running ends
    /// here, and this engine's finish hooks ([`Engine::on_finish`]) see it end, as a worker's
    /// would have; a running job ends at its worker's next step boundary, which calls them then.
    pub async fn cancel(&self, id: JobId, requested_by: &str) -> Result<BackgroundJob, StoreError> {
        let before = self.store.job(id).await?.map(|j| j.status);
        let job = self.store.cancel(id, requested_by, self.clock.now()).await?;
        if job.status == JobStatus::Cancelled && before.is_some_and(|s| !s.is_finished()) {
            self.finish_hooks.job_ended(id, RunOutcome::Cancelled).await;
        }
        Ok(job)
    }

    /// A worker for all registered types.
    pub fn worker(&self, config: WorkerConfig) -> Worker {
        Worker::new(self.store.clone(), self.registry.clone(), self.clock.clone(), self.queue, config)
            .with_finish_hooks(self.finish_hooks.clone())
    }

    /// Deletes, batch by batch, the events of jobs that finished more than `older_than` ago. An
    /// age that reaches before the earliest time a timestamp can hold is refused as invalid. On
    /// SQLite the job holding the newest event keeps its events until another job's follow (a
    /// position is never handed out twice).
    pub async fn prune(&self, older_than: Duration, batch: i64) -> Result<u64, EngineError> {
        let cutoff = chrono::Duration::from_std(older_than)
            .ok()
            .and_then(|age| self.clock.now().checked_sub_signed(age))
            .ok_or_else(|| {
                EngineError::InvalidInput(format!(
                    "an age of {} seconds reaches before the earliest time a timestamp can hold",
                    older_than.as_secs()
                ))
            })?;
        let mut total = 0;
        loop {
            let n = self.store.prune_batch(cutoff, batch).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }
}
