//! The store interface: the only door to the database.
//!
//! One implementation, [`core::Core`], holds the orchestration (what a request, a claim, an
//! append, a cancel and a resume do) over a [`driver::Driver`], a thin executor of named SQL
//! primitives; each backend is a driver with its own SQL
//! ([`sqlite::SqliteDriver`], [`postgres::PgDriver`]) and migrations ([`migrations`]), and both pass the same conformance suite
//! (`engine/tests/conformance`). No other module of the engine writes SQL.

mod checkpointer;
pub mod core;
pub mod driver;
pub mod migrations;
mod notify_gate;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::event::{
    CancelRequested, EntityRef, Event, EventPayload, JobCancelled, JobClaimed, JobRequested, JobResumed, NewEvent,
    StepCompleted, PAYLOAD_VERSION,
};
use crate::ids::{JobId, WorkerId};
use crate::job::{BackgroundJob, FoldError, JobStatus};
use crate::queue::{ClaimRank, Priority, QueuePolicy};
use crate::workflow::{EffectError, StepEffects};

pub use crate::db::{Db, StoreTx};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The caller's lease was taken over (or the expected sequence number was taken): nothing of
    /// the attempted write was kept.
    #[error("lease on job {0} lost: another worker holds it")]
    Fenced(JobId),
    /// No such job.
    #[error("job {0} not found")]
    NotFound(JobId),
    /// A step's own writes failed; the step was rolled back.
    #[error("step writes failed: {0}")]
    Effects(#[from] EffectError),
    /// The log holds something this binary cannot read.
    #[error("{0}")]
    Fold(#[from] FoldError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The job is not in a state that allows what was asked (e.g. resuming a running job).
    #[error("{0}")]
    Conflict(String),
    /// A URL the store cannot open.
    #[error("unsupported database URL `{0}` (expected sqlite://… or postgres://…)")]
    BadUrl(String),
}

/// Store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Its id.
    pub id: JobId,
    /// Its type.
    pub job_type: String,
    /// Its validated input.
    pub input: Value,
    /// The caller's idempotency key.
    pub idempotency_key: Option<String>,
    /// The workflow's concurrency key.
    pub concurrency_key: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// For a rerun: the job whose input this one repeats.
    pub rerun_of: Option<JobId>,
    /// How urgent it is.
    pub priority: Priority,
    /// When.
    pub at: DateTime<Utc>,
}

/// Why a request returned a job that already existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// The idempotency key was used before.
    SameIdempotencyKey,
    /// An unfinished job with the same concurrency key has the same input.
    AlreadyRunning,
}

/// What a request did.
#[derive(Debug, Clone)]
pub struct Requested {
    /// The job (new or existing).
    pub job: BackgroundJob,
    /// `None` when the job was created by this request.
    pub existing: Option<Existing>,
    /// For a new job: the unfinished job that holds its concurrency key (it has been claimed
    /// and has not finished), which this one waits behind.
    pub waiting_behind: Option<JobId>,
}

/// A job that waits to be claimed, as the queue view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedJob {
    /// The job's row.
    pub job: BackgroundJob,
    /// Its effective level now: its priority's level plus one per aging period waited.
    pub effective_level: i64,
    /// When it is (or was) due: its request, its resume, or its next retry.
    pub due_at: DateTime<Utc>,
    /// The unfinished job holding its concurrency key, which it waits behind.
    pub waiting_behind: Option<JobId>,
}

/// What a worker asks for when it looks for work.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// The worker.
    pub worker: &'a WorkerId,
    /// The job types it runs.
    pub job_types: &'a [&'a str],
    /// Now.
    pub now: DateTime<Utc>,
    /// The lease's expiry if it claims something.
    pub lease_until: DateTime<Utc>,
    /// How the queue orders waiting work.
    pub policy: QueuePolicy,
}

/// A worker's hold on a job: fenced by the claim number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// The holder.
    pub worker: WorkerId,
    /// The claim number (the `attempt` of its `JobClaimed`).
    pub attempt: u32,
}

/// A job a worker just claimed, with what it needs to resume.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The lease.
    pub lease: Lease,
    /// Its type.
    pub job_type: String,
    /// Its input, from `JobRequested`.
    pub input: Value,
    /// The last checkpoint and its sequence number, if any step completed.
    pub checkpoint: Option<(i64, StepCompleted)>,
    /// Consecutive failures of the step after the checkpoint.
    pub step_failures: u32,
    /// The sequence number the next event must get.
    pub next_seq: i64,
    /// A pending cancel request (who asked).
    pub cancel_requested: Option<String>,
    /// The job's projection row after the claim.
    pub row: BackgroundJob,
}

/// What happens to the job's queue entry when an append commits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueChange {
    /// Keep the lease; the step failure counter resets. The lease runs at least until the middle
    /// of the first event's time and `lease_until`: PostgreSQL extends it to `lease_until` on
    /// every step, SQLite only when less than half of it is left, so that most steps do not
    /// write the queue row (migration 0024); the heartbeat renews it in between.
    Continue {
        /// New lease expiry.
        lease_until: DateTime<Utc>,
    },
    /// Give the lease up and make the job claimable again at `run_at` (a retry).
    RetryAt {
        /// When.
        run_at: DateTime<Utc>,
    },
    /// Give the lease up after a step that waits (`Step::wait`): the job is claimable again at
    /// `run_at`, its step failure counter reset (the step committed) and its key kept.
    WaitUntil {
        /// When.
        run_at: DateTime<Utc>,
    },
    /// The job is over.
    Finish,
}

/// One atomic append by a lease holder.
pub struct Append<'a> {
    /// Events with their expected sequence numbers, contiguous after the last one.
    pub events: Vec<NewEvent>,
    /// The step's local writes.
    pub effects: Option<&'a dyn StepEffects>,
    /// Every record the step touched, filed in the audit index under the append's
    /// `StepCompleted` event (whose payload lists at most [`crate::event::TOUCHED_IN_PAYLOAD`]).
    pub touched: Vec<EntityRef>,
    /// The queue change.
    pub queue: QueueChange,
    /// The projection row before these events, when the caller holds it (a lease holder does:
    /// nobody else changes a leased job's row); `None` reads it.
    pub row: Option<BackgroundJob>,
}

/// What a committed append learned.
#[derive(Debug, Clone)]
pub struct Committed {
    /// A cancel request that is waiting for the holder (who asked).
    pub cancel_requested: Option<String>,
    /// The projection row after the append.
    pub row: BackgroundJob,
}

/// A filter over jobs, newest first, with keyset pagination.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this type.
    pub job_type: Option<String>,
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only jobs older than this one (cursor = the last id of the previous page).
    pub before: Option<JobId>,
    /// Page size.
    pub limit: i64,
}

/// A live notice that a job's stream grew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The job.
    pub job_id: JobId,
    /// The newest sequence number.
    pub seq: i64,
}

/// An event found through the audit index, with what it did to the entity.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityTouch {
    /// The event.
    pub event: Event,
    /// The action recorded for the entity.
    pub action: String,
}

/// The operations the engine needs from a database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Read access for workflows.
    fn db(&self) -> Db;

    /// Creates or upgrades the engine's tables (its [`migrations`]).
    async fn migrate(&self) -> Result<()>;

    /// Creates a job (appending `JobRequested`), or returns the existing one for the same
    /// idempotency key or an unfinished one with the same concurrency key and the same input.
    /// A new job whose concurrency key another unfinished job holds waits behind it.
    async fn request(&self, job: NewJob) -> Result<Requested>;

    /// Claims the job of the given types a free worker should run next: due (or its lease
    /// expired), its concurrency key not held by another job, the highest effective priority
    /// and then the longest waiting (see [`crate::queue`]). Appends `JobClaimed` (a resume names
    /// the checkpoint it continues from). No two jobs of one concurrency key are ever claimed
    /// at once, however many workers race.
    async fn claim_next(&self, request: ClaimRequest<'_>) -> Result<Option<ClaimedJob>>;

    /// [`Store::claim_next`] under the default queue policy.
    async fn claim(
        &self,
        worker: &WorkerId,
        job_types: &[&str],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedJob>> {
        self.claim_next(ClaimRequest { worker, job_types, now, lease_until, policy: QueuePolicy::default() }).await
    }

    /// The jobs waiting to be claimed (pending, resumed or waiting for a retry), in the order
    /// workers would claim them at `now`, each with what it waits behind.
    async fn queue(&self, now: DateTime<Utc>, policy: QueuePolicy) -> Result<Vec<QueuedJob>>;

    /// Extends a lease; `false` if it was lost.
    async fn heartbeat(&self, lease: &Lease, lease_until: DateTime<Utc>) -> Result<bool>;

    /// Appends events with the step's writes and the projection update in one transaction.
    /// Fails with [`StoreError::Fenced`] (and keeps nothing) if the lease was lost.
    async fn append(&self, lease: &Lease, append: Append<'_>) -> Result<Committed>;

    /// Gives a lease up so another worker can take the job at once (graceful shutdown).
    async fn release(&self, lease: &Lease) -> Result<()>;

    /// Ends a wait early: a job that gave itself up with [`crate::Step::wait`] until a later time
    /// is due at `now`. `false` when the job is not waiting: running, finished, not yet claimed
    /// or backing off after a failed step (a retry's backoff is never shortened).
    async fn wake(&self, id: JobId, now: DateTime<Utc>) -> Result<bool>;

    /// Asks for a job to stop. An unleased job is cancelled at once; a running one is flagged
    /// and its worker stops at the next step boundary. Returns the job as it stands.
    async fn cancel(&self, id: JobId, requested_by: &str, now: DateTime<Utc>) -> Result<BackgroundJob>;

    /// Resumes a FAILED or CANCELLED job from its last checkpoint under the same id: appends
    /// `JobResumed` and makes its queue entry claimable at once, its failure count and cancel
    /// request cleared. Any other status, a pruned log, or an unfinished job holding the same
    /// concurrency key is a [`StoreError::Conflict`].
    async fn resume(&self, id: JobId, by: &str, reason: Option<&str>, now: DateTime<Utc>) -> Result<BackgroundJob>;

    /// One job.
    async fn job(&self, id: JobId) -> Result<Option<BackgroundJob>>;

    /// Jobs, newest first.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<BackgroundJob>>;

    /// A job's events after `after_seq`, in order.
    async fn events(&self, id: JobId, after_seq: i64, limit: i64) -> Result<Vec<Event>>;

    /// Events of a type (or any) recorded in `[from, to)`, after a global position, in order.
    async fn events_by_type(
        &self,
        event_type: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<Event>>;

    /// Events that touched an entity (`kind:id`), oldest first.
    async fn entity_events(&self, entity_key: &str, limit: i64) -> Result<Vec<EntityTouch>>;

    /// Deletes the events of up to `batch` jobs that finished before `cutoff`; their projection
    /// rows stay. Returns how many events went.
    async fn prune_batch(&self, cutoff: DateTime<Utc>, batch: i64) -> Result<u64>;

    /// Drops every projection row that has events and rebuilds it by replaying the log.
    async fn rebuild_projection(&self) -> Result<u64>;

    /// Counts of jobs by (type, status), for metrics.
    async fn job_counts(&self) -> Result<Vec<(String, JobStatus, i64)>>;

    /// A live feed of appended events.
    fn subscribe(&self) -> broadcast::Receiver<Notice>;
}

/// A shared store.
pub type SharedStore = Arc<dyn Store>;

/// Opens the store a URL names (`sqlite://path`, `sqlite::memory:`, `postgres://…`), its
/// engine tables migrated. A binary whose workflows have tables of their own opens it through
/// them (`dongbo_workflows::open`), which applies their migrations after the engine's.
pub async fn open(url: &str) -> Result<SharedStore> {
    let store = connect(url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Connects to the store a URL names, without migrating anything.
pub async fn connect(url: &str) -> Result<SharedStore> {
    let store: SharedStore = if url.starts_with("sqlite:") {
        Arc::new(sqlite::SqliteStore::connect(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(postgres::PgStore::connect(url).await?)
    } else {
        return Err(StoreError::BadUrl(url.to_owned()));
    };
    Ok(store)
}

impl QueueChange {
    /// The mode and time the queue update statements take.
    pub(crate) fn mode(&self) -> (&'static str, Option<DateTime<Utc>>) {
        match *self {
            QueueChange::Continue { lease_until } => ("continue", Some(lease_until)),
            QueueChange::RetryAt { run_at } => ("retry", Some(run_at)),
            QueueChange::WaitUntil { run_at } => ("wait", Some(run_at)),
            QueueChange::Finish => ("finish", None),
        }
    }
}

/// Queue states as stored.
pub(crate) mod queue_state {
    pub const READY: &str = "ready";
    pub const LEASED: &str = "leased";
    pub const DONE: &str = "done";
}

/// Why a job of `status` cannot be resumed, if it cannot.
pub(crate) fn refuse_resume(id: JobId, status: JobStatus) -> Result<()> {
    match status {
        JobStatus::Failed | JobStatus::Cancelled => Ok(()),
        other => {
            Err(StoreError::Conflict(format!("job {id} is {other}: only a FAILED or CANCELLED job can be resumed")))
        }
    }
}

/// The `JobResumed` event that resumes a job.
pub(crate) fn resumed_event(
    seq: i64,
    by: &str,
    reason: Option<&str>,
    previous_status: JobStatus,
    from_checkpoint: Option<i64>,
    now: DateTime<Utc>,
) -> NewEvent {
    NewEvent {
        seq,
        payload: EventPayload::JobResumed(JobResumed {
            v: PAYLOAD_VERSION,
            by: by.to_owned(),
            reason: reason.map(str::to_owned),
            previous_status,
            from_checkpoint,
        }),
        recorded_at: now,
        actor: by.to_owned(),
    }
}

/// The two events that cancel a job from sequence `seq`: the request (by `requested_by`) and the
/// cancellation (by `cancelled_by`: the requester for an unleased job, else the lease holder).
pub(crate) fn cancel_events(seq: i64, requested_by: &str, cancelled_by: &str, now: DateTime<Utc>) -> Vec<NewEvent> {
    vec![
        NewEvent {
            seq,
            payload: EventPayload::CancelRequested(CancelRequested {
                v: PAYLOAD_VERSION,
                requested_by: requested_by.to_owned(),
            }),
            recorded_at: now,
            actor: requested_by.to_owned(),
        },
        NewEvent {
            seq: seq + 1,
            payload: EventPayload::JobCancelled(JobCancelled {
                v: PAYLOAD_VERSION,
                requested_by: requested_by.to_owned(),
            }),
            recorded_at: now,
            actor: cancelled_by.to_owned(),
        },
    ]
}

/// The `JobRequested` event that opens a new job's stream.
pub(crate) fn requested_event(job: &NewJob) -> NewEvent {
    NewEvent {
        seq: 1,
        payload: EventPayload::JobRequested(JobRequested {
            v: PAYLOAD_VERSION,
            job_type: job.job_type.clone(),
            input: job.input.clone(),
            idempotency_key: job.idempotency_key.clone(),
            concurrency_key: job.concurrency_key.clone(),
            requested_by: job.requested_by.clone(),
            rerun_of: job.rerun_of,
            priority: job.priority,
        }),
        recorded_at: job.at,
        actor: job.requested_by.clone(),
    }
}

/// Among the first events of the unfinished jobs holding a concurrency key, the job asked for
/// with `input`: a request for it returns that job instead of queueing a twin.
pub(crate) fn same_input(first_events: &[Event], input: &Value) -> Option<JobId> {
    first_events.iter().find_map(|e| match e.decode() {
        Ok(EventPayload::JobRequested(r)) if &r.input == input => Some(e.job_id),
        _ => None,
    })
}

/// A job's input, from its `JobRequested` event.
pub(crate) fn input_of(first: &Event) -> Value {
    match first.decode() {
        Ok(EventPayload::JobRequested(r)) => r.input,
        _ => Value::Null,
    }
}

/// The checkpoint a claim resumes from: the last `StepCompleted`, decoded.
pub(crate) fn decode_checkpoint(job: JobId, last_step: Option<Event>) -> Result<Option<(i64, StepCompleted)>> {
    let Some(e) = last_step else { return Ok(None) };
    match e.decode() {
        Ok(EventPayload::StepCompleted(s)) => Ok(Some((e.seq, s))),
        Ok(_) => Ok(None),
        Err(err) => Err(FoldError::Undecodable { job, seq: e.seq, reason: err.to_string() }.into()),
    }
}

/// Whether a claim at `last_seq` ends a wait: the job's last event is its checkpoint, and that
/// checkpoint waits (nothing but a claim follows a waiting step).
pub(crate) fn ends_wait(last_seq: i64, checkpoint: Option<&(i64, StepCompleted)>, after_lost_lease: bool) -> bool {
    !after_lost_lease && checkpoint.is_some_and(|(seq, step)| *seq == last_seq && step.wait_until.is_some())
}

/// The `JobClaimed` event of a claim.
pub(crate) fn claimed_event(
    worker: &WorkerId,
    seq: i64,
    attempt: u32,
    checkpoint: Option<i64>,
    (after_lost_lease, after_wait): (bool, bool),
    now: DateTime<Utc>,
) -> NewEvent {
    NewEvent {
        seq,
        payload: EventPayload::JobClaimed(JobClaimed {
            v: PAYLOAD_VERSION,
            worker: worker.to_string(),
            attempt,
            resumed_from: checkpoint,
            after_lost_lease,
            after_wait,
        }),
        recorded_at: now,
        actor: worker.to_string(),
    }
}

/// Waiting jobs read from a store, ranked and sorted in claim order.
pub(crate) fn in_claim_order(
    waiting: Vec<(BackgroundJob, i64, DateTime<Utc>, Option<JobId>)>,
    now: DateTime<Utc>,
    policy: &QueuePolicy,
) -> Vec<QueuedJob> {
    let mut ranked: Vec<(ClaimRank, QueuedJob)> = waiting
        .into_iter()
        .map(|(job, level, due_at, waiting_behind)| {
            let rank = ClaimRank::at(job.id, level, due_at, now, policy);
            (rank, QueuedJob { job, effective_level: rank.level(), due_at, waiting_behind })
        })
        .collect();
    ranked.sort_by_key(|a| a.0);
    ranked.into_iter().map(|(_, q)| q).collect()
}
