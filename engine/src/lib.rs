//! dongbo-engine: a durable, event-sourced workflow runtime on SQLite and PostgreSQL.
//!
//! Every long operation is a job: a stream of events in one append-only log. A workflow type is
//! a state machine over a serialisable checkpoint; a worker runs one step at a time and commits
//! each step's checkpoint, its local writes and the `background_jobs` projection in one
//! transaction, fenced by the lease it holds. A job interrupted by a crash resumes from its last
//! checkpoint on whichever worker claims it next, redoing at most one step.
//!
//! The engine knows nothing of Nhanh, Shopify or HTTP.
//!
//! # Layout
//!
//! - [`event`]: event payloads (versioned) and the stored event.
//! - [`job`]: the `background_jobs` projection and [`job::apply`], the fold that builds it.
//! - [`queue`]: priorities, aging, and the order a free worker claims waiting jobs in.
//! - [`workflow`]: the [`Workflow`] trait, steps, step effects and the registry.
//! - [`store`]: the [`Store`] interface, its orchestration written once ([`store::core`]) over a
//!   driver per backend ([`store::driver`], [`store::sqlite`], [`store::postgres`]): the only
//!   code with SQL. [`db`]: the pool and transaction handles workflows read and write through.
//! - [`worker`]: claiming, leases and heartbeats, retries, cancellation, graceful shutdown; a
//!   panicking step is a failed step.
//! - [`supervisor`]: worker loops restarted when they die, and their live count for health.
//! - [`engine`]: the facade that requests, cancels and prunes.
//! - [`retry`], [`clock`], [`ids`]: backoff arithmetic, injected time, newtype ids.
//! - [`example`]: the built-in `EXAMPLE_COUNT` workflow used by the demo and the tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod db;
pub mod engine;
pub mod event;
pub mod example;
pub mod ids;
pub mod job;
pub mod queue;
pub mod retry;
mod status;
pub mod store;
pub mod supervisor;
pub mod worker;
pub mod workflow;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use engine::{Engine, EngineError, JobRequest};
pub use event::{EntityRef, Event, EventPayload, Progress};
pub use ids::{JobId, WorkerId};
pub use job::{BackgroundJob, JobStatus};
pub use queue::{Priority, QueuePolicy};
pub use retry::RetryPolicy;
pub use store::{
    connect, open, Db, Existing, JobFilter, QueuedJob, Requested, SharedStore, Store, StoreError, StoreTx,
};
pub use supervisor::{WorkerHealth, WorkerPool};
pub use worker::{FinishHook, RunOutcome, ShutdownHandle, Worker, WorkerConfig};
pub use workflow::{EffectError, Next, Registry, Step, StepContext, StepEffects, StepError, Workflow};
