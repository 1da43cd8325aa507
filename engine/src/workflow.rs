//! The workflow model: a workflow type is a state machine over a serialisable checkpoint.
//!
//! Given the last checkpoint, [`Workflow::step`] does one bounded piece of work (fetch a page,
//! match a batch, push a batch) and returns the next state, the progress it made and the local
//! writes to commit with it ([`StepEffects`]), or completion. The engine persists each step as one
//! `StepCompleted` event in the same transaction as those writes.
//!
//! A step may also ask to *wait* ([`Step::wait`]): its checkpoint commits like any step's, then
//! the worker gives the job up until the wait is over (a parent waiting for its child jobs, say).
//! Waiting is not failing: no error, no retry counted, and the job's `attempts` stay as they are.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::db::{Db, StoreTx};
use crate::event::{EntityRef, Progress};
use crate::ids::JobId;

/// Why a step did not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// Worth trying again later (timeouts, 5xx, throttling); `retry_after` is the upstream's wait.
    #[error("{message}")]
    Transient {
        /// What went wrong.
        message: String,
        /// The wait the upstream asked for.
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help (bad credentials, invalid input): the job fails with this reason.
    #[error("{message}")]
    Permanent {
        /// What went wrong.
        message: String,
    },
}

impl StepError {
    /// A transient error without an upstream wait.
    pub fn transient(message: impl Into<String>) -> Self {
        StepError::Transient { message: message.into(), retry_after: None }
    }

    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        StepError::Permanent { message: message.into() }
    }
}

/// What the step asks the engine to do next.
#[derive(Debug)]
pub enum Next<S> {
    /// Checkpoint this state and run another step.
    Continue(S),
    /// Checkpoint this state, give the worker up, and run the next step from it once `after` has
    /// passed (see [`Step::wait`]).
    Wait {
        /// The checkpoint.
        state: S,
        /// How long to wait before the next step.
        after: Duration,
    },
    /// The job is done; this is its summary.
    Complete(Value),
}

/// Local writes a step commits atomically with its `StepCompleted` event.
///
/// Implementations live beside their SQL (in a store module of the crate that owns the tables);
/// the engine only hands them the open transaction.
#[async_trait]
pub trait StepEffects: Send + Sync {
    /// Applies the writes inside the step's transaction. An error rolls the whole step back.
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError>;
}

/// A step's local writes failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EffectError(pub String);

impl From<sqlx::Error> for EffectError {
    fn from(e: sqlx::Error) -> Self {
        EffectError(format!("database: {e}"))
    }
}

/// The outcome of one step.
pub struct Step<S> {
    /// The step's name, for the audit trail (e.g. `page`, `batch`).
    pub name: String,
    /// What comes next.
    pub next: Next<S>,
    /// Counters to add to the job.
    pub progress: Progress,
    /// Local writes to commit with the checkpoint.
    pub effects: Option<Box<dyn StepEffects>>,
    /// A human note for the audit trail.
    pub note: Option<String>,
    /// Records this step touched, for the audit index.
    pub touched: Vec<EntityRef>,
}

impl<S> Step<S> {
    /// A step that continues with `state`.
    pub fn next(name: impl Into<String>, state: S) -> Self {
        Step {
            name: name.into(),
            next: Next::Continue(state),
            progress: Progress::default(),
            effects: None,
            note: None,
            touched: Vec::new(),
        }
    }

    /// A step that checkpoints `state` and then waits: the worker releases the job (which stays
    /// `RUNNING`, its projection showing `metadata.waitingUntil`), and any worker claims it again
    /// once `recheck_after` has passed and runs the next step from `state`. No error is recorded
    /// and neither the job's attempts nor its step failures count the wait; a crash during the
    /// wait loses nothing, since the checkpoint is already committed.
    pub fn wait(name: impl Into<String>, state: S, recheck_after: Duration) -> Self {
        Step {
            name: name.into(),
            next: Next::Wait { state, after: recheck_after },
            progress: Progress::default(),
            effects: None,
            note: None,
            touched: Vec::new(),
        }
    }

    /// A step that completes the job.
    pub fn complete(name: impl Into<String>, summary: Value) -> Self {
        Step {
            name: name.into(),
            next: Next::Complete(summary),
            progress: Progress::default(),
            effects: None,
            note: None,
            touched: Vec::new(),
        }
    }

    /// Sets the progress.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Sets the local writes.
    pub fn with_effects(mut self, effects: impl StepEffects + 'static) -> Self {
        self.effects = Some(Box::new(effects));
        self
    }

    /// Sets the note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Sets the touched records.
    pub fn with_touched(mut self, touched: Vec<EntityRef>) -> Self {
        self.touched = touched;
        self
    }

    fn map_state<T>(self, f: impl FnOnce(S) -> T) -> Step<T> {
        Step {
            name: self.name,
            next: match self.next {
                Next::Continue(s) => Next::Continue(f(s)),
                Next::Wait { state, after } => Next::Wait { state: f(state), after },
                Next::Complete(v) => Next::Complete(v),
            },
            progress: self.progress,
            effects: self.effects,
            note: self.note,
            touched: self.touched,
        }
    }
}

/// What a step can see of its job and the world.
#[derive(Clone)]
pub struct StepContext {
    /// The job.
    pub job_id: JobId,
    /// The claim number of the current lease (1 for the first run, 2 after a resume…).
    pub attempt: u32,
    /// The sequence number this step's `StepCompleted` will get if it commits now. A re-run after
    /// a crash gets a later one (the new claim takes a number), so it is not an identity.
    pub step_seq: i64,
    /// The sequence number of the checkpoint this step starts from (0 before the first step):
    /// the same on every re-run of the same step, so external writes derive their idempotency
    /// keys from `(job_id, checkpoint_seq, item)`.
    pub checkpoint_seq: i64,
    /// The clock.
    pub clock: SharedClock,
    /// Read access to the database (writes go through [`StepEffects`]).
    pub db: Db,
    /// Becomes true when the worker loses its lease; long steps should stop early.
    pub lease_lost: watch::Receiver<bool>,
}

impl StepContext {
    /// Whether the lease has been lost (the step's result will be refused anyway).
    pub fn lease_lost(&self) -> bool {
        *self.lease_lost.borrow()
    }

    /// An idempotency key for an external write of this step, stable across re-runs:
    /// `dongbo:{job}:{checkpoint_seq}:{item}`.
    pub fn idempotency_key(&self, item: &str) -> String {
        format!("dongbo:{}:{}:{}", self.job_id, self.checkpoint_seq, item)
    }
}

/// A job type.
#[async_trait]
pub trait Workflow: Send + Sync + 'static {
    /// The job's input, validated when the job is requested.
    type Input: Serialize + DeserializeOwned + Send + Sync;
    /// The checkpoint.
    type State: Serialize + DeserializeOwned + Send + Sync;

    /// The job type name, e.g. `PULL_NHANH_CUSTOMERS`.
    fn job_type(&self) -> &'static str;

    /// The version of [`Self::State`]'s stored form. Bump it when the shape changes, and teach
    /// [`Workflow::upgrade_state`] to read the old one (or let the job fail with a clear reason).
    fn state_version(&self) -> u32 {
        1
    }

    /// Checks an input beyond its type; the message is shown to the caller.
    fn validate(&self, _input: &Self::Input) -> Result<(), String> {
        Ok(())
    }

    /// At most one unfinished job per concurrency key runs; `None` = no limit.
    fn concurrency_key(&self, _input: &Self::Input) -> Option<String> {
        None
    }

    /// The state before the first step.
    fn initial_state(&self, input: &Self::Input) -> Self::State;

    /// Runs one step from `state`.
    async fn step(
        &self,
        ctx: &StepContext,
        input: &Self::Input,
        state: Self::State,
    ) -> Result<Step<Self::State>, StepError>;

    /// Converts a checkpoint written under an older state version; the default refuses.
    fn upgrade_state(&self, from_version: u32, _state: Value) -> Result<Value, String> {
        Err(format!(
            "checkpoint written with state version {from_version}, this binary reads version {} and cannot convert it",
            self.state_version()
        ))
    }
}

/// A type-erased workflow over JSON, as the worker drives it.
#[async_trait]
pub trait ErasedWorkflow: Send + Sync {
    /// See [`Workflow::job_type`].
    fn job_type(&self) -> &'static str;
    /// See [`Workflow::state_version`].
    fn state_version(&self) -> u32;
    /// Parses and validates an input; returns it normalised plus its concurrency key.
    fn prepare(&self, input: Value) -> Result<(Value, Option<String>), String>;
    /// The initial state as JSON.
    fn initial_state(&self, input: &Value) -> Result<Value, String>;
    /// Reads a checkpoint of `version`, upgrading it if needed.
    fn read_state(&self, version: u32, state: Value) -> Result<Value, String>;
    /// Runs one step over JSON.
    async fn step(&self, ctx: &StepContext, input: &Value, state: Value) -> Result<Step<Value>, StepError>;
}

#[async_trait]
impl<W: Workflow> ErasedWorkflow for W {
    fn job_type(&self) -> &'static str {
        Workflow::job_type(self)
    }

    fn state_version(&self) -> u32 {
        Workflow::state_version(self)
    }

    fn prepare(&self, input: Value) -> Result<(Value, Option<String>), String> {
        let typed: W::Input = serde_json::from_value(input)
            .map_err(|e| format!("invalid input for {}: {e}", Workflow::job_type(self)))?;
        self.validate(&typed)?;
        let key = self.concurrency_key(&typed);
        let normalised = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
        Ok((normalised, key))
    }

    fn initial_state(&self, input: &Value) -> Result<Value, String> {
        let typed: W::Input =
            serde_json::from_value(input.clone()).map_err(|e| format!("stored input unreadable: {e}"))?;
        serde_json::to_value(Workflow::initial_state(self, &typed)).map_err(|e| e.to_string())
    }

    fn read_state(&self, version: u32, state: Value) -> Result<Value, String> {
        let current = Workflow::state_version(self);
        let state = match version.cmp(&current) {
            std::cmp::Ordering::Equal => state,
            std::cmp::Ordering::Less => self.upgrade_state(version, state)?,
            std::cmp::Ordering::Greater => {
                return Err(format!(
                    "checkpoint written with state version {version}, newer than this binary's {current}"
                ))
            }
        };
        serde_json::from_value::<W::State>(state.clone())
            .map_err(|e| format!("checkpoint unreadable as state version {current}: {e}"))?;
        Ok(state)
    }

    async fn step(&self, ctx: &StepContext, input: &Value, state: Value) -> Result<Step<Value>, StepError> {
        let input: W::Input = serde_json::from_value(input.clone())
            .map_err(|e| StepError::permanent(format!("stored input unreadable: {e}")))?;
        let state: W::State =
            serde_json::from_value(state).map_err(|e| StepError::permanent(format!("checkpoint unreadable: {e}")))?;
        let step = Workflow::step(self, ctx, &input, state).await?;
        let mut bad = None;
        let step = step.map_state(|s| match serde_json::to_value(s) {
            Ok(v) => v,
            Err(e) => {
                bad = Some(e.to_string());
                Value::Null
            }
        });
        match bad {
            Some(e) => Err(StepError::permanent(format!("state not serialisable: {e}"))),
            None => Ok(step),
        }
    }
}

/// The job types a worker can run, by name.
#[derive(Clone, Default)]
pub struct Registry {
    by_type: BTreeMap<&'static str, Arc<dyn ErasedWorkflow>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a workflow; a second one of the same type replaces the first.
    pub fn register(&mut self, workflow: impl Workflow) -> &mut Self {
        let w: Arc<dyn ErasedWorkflow> = Arc::new(workflow);
        self.by_type.insert(w.job_type(), w);
        self
    }

    /// The workflow for a type.
    pub fn get(&self, job_type: &str) -> Option<&Arc<dyn ErasedWorkflow>> {
        self.by_type.get(job_type)
    }

    /// The registered types.
    pub fn job_types(&self) -> Vec<&'static str> {
        self.by_type.keys().copied().collect()
    }
}
