//! The driver interface: each backend is a thin executor of named SQL primitives.
//!
//! The orchestration — what a request, a claim, a cancel, a resume and an append *do* — lives
//! once, in [`super::core::Core`]; a driver only runs the statements it is asked for, each
//! named for what it does (select the due job, take the lease, insert events, save the
//! projection…), in its own dialect. The conformance suite runs against every driver.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::{Append, ClaimRequest, Db, EntityTouch, JobFilter, Lease, NewJob, Notice, Result};
use crate::event::{EntityRef, Event, NewEvent};
use crate::ids::{JobId, WorkerId};
use crate::job::{BackgroundJob, JobStatus};

/// The job a claim picked, with its queue bookkeeping.
#[derive(Debug, Clone)]
pub struct DueJob {
    /// The job.
    pub job_id: JobId,
    /// Its type.
    pub job_type: String,
    /// Whether its previous holder lost the lease (rather than giving it up).
    pub lost_lease: bool,
    /// Claims so far.
    pub attempts: u32,
    /// Its last sequence number.
    pub last_seq: i64,
    /// Consecutive failures of its next step.
    pub step_failures: u32,
    /// A pending cancel request (who asked).
    pub cancel_requested: Option<String>,
}

/// A job's queue entry, read (and on PostgreSQL locked) for a cancel or a resume.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    /// `ready`, `leased` or `done`.
    pub state: String,
    /// When the current lease ends, if leased.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Its last sequence number.
    pub last_seq: i64,
    /// Its concurrency key.
    pub concurrency_key: Option<String>,
}

/// A waiting job as the queue view reads it: its row, its stored priority level, when it is
/// due, and the job holding its concurrency key.
pub type WaitingRow = (BackgroundJob, i64, DateTime<Utc>, Option<JobId>);

/// The primitives a backend provides. `Tx` is an open write transaction; dropping it without
/// [`Driver::commit`] rolls it back.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// An open write transaction.
    type Tx: Send + 'static;

    /// Read access for workflows.
    fn db(&self) -> Db;
    /// Creates or upgrades the schema.
    async fn migrate(&self) -> Result<()>;
    /// The live feed of appended events.
    fn subscribe(&self) -> broadcast::Receiver<Notice>;

    /// Opens a write transaction.
    async fn begin(&self) -> Result<Self::Tx>;
    /// Commits, announcing `job`'s growth to `seq` on the live feed when given.
    async fn commit(&self, tx: Self::Tx, announce: Option<(JobId, i64)>) -> Result<()>;
    /// Makes other requests for concurrency key `key` wait until this transaction ends.
    async fn lock_key(&self, tx: &mut Self::Tx, key: &str) -> Result<()>;

    /// The job an idempotency key created.
    async fn job_by_idempotency_key(&self, tx: &mut Self::Tx, key: &str) -> Result<Option<JobId>>;
    /// The `JobRequested` events of the unfinished jobs of concurrency key `key`, oldest first.
    async fn unfinished_requests(&self, tx: &mut Self::Tx, key: &str) -> Result<Vec<Event>>;
    /// Any unfinished job of concurrency key `key` other than `except`.
    async fn unfinished_with_key(&self, tx: &mut Self::Tx, key: &str, except: JobId) -> Result<Option<JobId>>;
    /// The job holding concurrency key `key`: claimed and not finished.
    async fn key_holder(&self, tx: &mut Self::Tx, key: &str) -> Result<Option<JobId>>;
    /// Enqueues a new job, due at its request time.
    async fn insert_queue_row(&self, tx: &mut Self::Tx, job: &NewJob) -> Result<()>;
    /// Whether any job is due for `request`, read outside a write transaction: a worker with
    /// nothing to claim then takes no write lock (on SQLite, the one writer's lock) to find out.
    async fn any_due(&self, request: &ClaimRequest<'_>) -> Result<bool>;
    /// The job a free worker should claim (and, on PostgreSQL, its row locked, skipping rows
    /// other claims hold): see [`crate::queue`].
    async fn select_due(&self, tx: &mut Self::Tx, request: &ClaimRequest<'_>) -> Result<Option<DueJob>>;
    /// Leases `job` to `worker` as claim `attempt` at sequence `seq`, taking its concurrency
    /// key. Fails with a unique violation if another job holds the key.
    async fn take_lease(
        &self,
        tx: &mut Self::Tx,
        job: JobId,
        worker: &WorkerId,
        attempt: u32,
        seq: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<()>;
    /// A job's queue entry, locked for this transaction where the backend can.
    async fn queue_entry(&self, tx: &mut Self::Tx, job: JobId) -> Result<Option<QueueEntry>>;
    /// Records a cancel request for the lease holder to act on.
    async fn flag_cancel(&self, tx: &mut Self::Tx, job: JobId, requested_by: &str) -> Result<()>;
    /// Ends an unleased job's queue entry at `last_seq`, freeing its key.
    async fn set_done(&self, tx: &mut Self::Tx, job: JobId, last_seq: i64) -> Result<()>;
    /// Makes a finished job claimable again at `run_at` (a resume): failures and cancel request
    /// cleared.
    async fn set_ready(&self, tx: &mut Self::Tx, job: JobId, run_at: DateTime<Utc>, last_seq: i64) -> Result<()>;

    /// A job's event `seq`.
    async fn event_at(&self, tx: &mut Self::Tx, job: JobId, seq: i64) -> Result<Option<Event>>;
    /// A job's last `StepCompleted`.
    async fn last_step(&self, tx: &mut Self::Tx, job: JobId) -> Result<Option<Event>>;
    /// Inserts events, failing with [`super::StoreError::Fenced`] on a taken sequence number,
    /// and files `touched` in the audit index under the `StepCompleted` among them.
    async fn insert_events(
        &self,
        tx: &mut Self::Tx,
        job: JobId,
        events: &[NewEvent],
        touched: &[EntityRef],
    ) -> Result<()>;
    /// A job's projection row, inside the transaction.
    async fn load_job(&self, tx: &mut Self::Tx, job: JobId) -> Result<Option<BackgroundJob>>;
    /// Writes a projection row (insert or replace).
    async fn save_job(&self, tx: &mut Self::Tx, row: &BackgroundJob) -> Result<()>;
    /// Deletes the projection rows that have events (before a replay).
    async fn clear_projection(&self, tx: &mut Self::Tx) -> Result<()>;
    /// Every event, by job and sequence.
    async fn all_events(&self, tx: &mut Self::Tx) -> Result<Vec<Event>>;

    /// A lease holder's commit, fenced by the lease and the sequence number before its first
    /// event: the queue change, the events, the projection row after them (`row`), the step's
    /// writes and the announcement, atomically. Returns the pending cancel request, or fails
    /// with [`super::StoreError::Fenced`] and keeps nothing.
    async fn commit_append(&self, lease: &Lease, append: &Append<'_>, row: &BackgroundJob) -> Result<Option<String>>;
    /// Extends a lease; `false` if it was lost.
    async fn heartbeat(&self, lease: &Lease, lease_until: DateTime<Utc>) -> Result<bool>;
    /// Gives a lease up (the job keeps its concurrency key).
    async fn release(&self, lease: &Lease) -> Result<()>;
    /// Makes a waiting job (ready, later, no failed step since its wait) due at `now`; whether
    /// it was waiting.
    async fn wake(&self, job: JobId, now: DateTime<Utc>) -> Result<bool>;

    /// One projection row.
    async fn read_job(&self, job: JobId) -> Result<Option<BackgroundJob>>;
    /// Projection rows, newest first.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<BackgroundJob>>;
    /// The jobs whose queue entry is `ready`.
    async fn waiting(&self) -> Result<Vec<WaitingRow>>;
    /// A job's events after `after_seq`.
    async fn events(&self, job: JobId, after_seq: i64, limit: i64) -> Result<Vec<Event>>;
    /// Events of a type (or any) in `[from, to)` after a position.
    async fn events_by_type(
        &self,
        event_type: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<Event>>;
    /// Events that touched an entity.
    async fn entity_events(&self, entity_key: &str, limit: i64) -> Result<Vec<EntityTouch>>;
    /// Deletes the events of up to `batch` jobs finished before `cutoff`.
    async fn prune_batch(&self, cutoff: DateTime<Utc>, batch: i64) -> Result<u64>;
    /// Counts of jobs by (type, status).
    async fn job_counts(&self) -> Result<Vec<(String, JobStatus, i64)>>;
}
