//! The wire forms of the engine's things: what the API sends, in the old tool's camelCase shape.
//!
//! These mirror the engine's types field for field rather than reusing their serde forms, so the
//! HTTP contract is written down here (and in the OpenAPI document derived from it) and a change
//! inside the engine cannot silently change what clients receive.

use chrono::{DateTime, Utc};
use dongbo_engine::{BackgroundJob, Event, Existing, JobStatus, Requested};
use dongbo_workflows::notices::Notice;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusView {
    /// Requested, not yet claimed by a worker.
    Pending,
    /// Claimed at least once and not finished (including while waiting for a retry).
    Running,
    /// Finished.
    Completed,
    /// Failed for good.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl From<JobStatus> for StatusView {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Pending => StatusView::Pending,
            JobStatus::Running => StatusView::Running,
            JobStatus::Completed => StatusView::Completed,
            JobStatus::Failed => StatusView::Failed,
            JobStatus::Cancelled => StatusView::Cancelled,
        }
    }
}

/// The old tool's BackgroundJob row, plus `attempts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// Job id (a UUID).
    pub id: Uuid,
    /// Job type, e.g. `PULL_NHANH_CUSTOMERS`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Status.
    pub status: StatusView,
    /// Items to handle, when known.
    pub total: Option<i64>,
    /// Items handled.
    pub processed: i64,
    /// Items that succeeded.
    pub successful: i64,
    /// Items that failed.
    pub failed: i64,
    /// Workflow metadata (an object).
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// The last error.
    pub error: Option<String>,
    /// When requested.
    pub created_at: DateTime<Utc>,
    /// When first claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// How many times a worker has claimed it.
    pub attempts: i64,
}

impl From<BackgroundJob> for JobView {
    fn from(j: BackgroundJob) -> Self {
        JobView {
            id: j.id.as_uuid(),
            job_type: j.job_type,
            status: j.status.into(),
            total: j.total,
            processed: j.processed,
            successful: j.successful,
            failed: j.failed,
            metadata: j.metadata,
            error: j.error,
            created_at: j.created_at,
            started_at: j.started_at,
            updated_at: j.updated_at,
            completed_at: j.completed_at,
            attempts: j.attempts,
        }
    }
}

/// One event of a job's audit trail.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// Global position in the log.
    pub position: i64,
    /// The job.
    pub job_id: Uuid,
    /// Sequence number within the job, from 1.
    pub seq: i64,
    /// The event type, e.g. `StepCompleted`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The stored payload (versioned by its `v`).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who wrote it (a worker, a user, the API).
    pub actor: String,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            position: e.position,
            job_id: e.job_id.as_uuid(),
            seq: e.seq,
            event_type: e.event_type,
            payload: e.payload,
            recorded_at: e.recorded_at,
            actor: e.actor,
        }
    }
}

/// Why a trigger answered with a job that already existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ExistingView {
    /// The `Idempotency-Key` was used before: this is the job it created.
    IdempotencyKey,
    /// A job of this kind is already unfinished: this is that job, nothing new was started.
    AlreadyRunning,
}

/// What a trigger answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerReply {
    /// The job's id.
    pub job_id: Uuid,
    /// Its status as it stands.
    pub status: StatusView,
    /// Its type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Present only when no new job was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingView>,
}

impl From<Existing> for ExistingView {
    fn from(e: Existing) -> Self {
        match e {
            Existing::SameIdempotencyKey => ExistingView::IdempotencyKey,
            Existing::AlreadyRunning => ExistingView::AlreadyRunning,
        }
    }
}

/// A request's answer: the job it created, or the one it found (`existing` says why).
impl From<Requested> for TriggerReply {
    fn from(r: Requested) -> Self {
        TriggerReply {
            job_id: r.job.id.as_uuid(),
            status: r.job.status.into(),
            job_type: r.job.job_type,
            existing: r.existing.map(ExistingView::from),
        }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobPage {
    /// The jobs.
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

/// A page of a job's events, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    /// The events.
    pub items: Vec<EventView>,
    /// Pass as `after` for the next page; `null` when this page was not full.
    pub next_after: Option<i64>,
}

/// The old tool's page of jobs (`GET /api/sync/job-progress?all=true`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LegacyJobPage {
    /// The jobs, newest first.
    pub jobs: Vec<JobView>,
    /// The page number, from 1.
    pub page: u32,
    /// Jobs per page.
    pub limit: u32,
    /// Jobs in total.
    pub total: i64,
    /// Pages in total.
    pub total_pages: i64,
}

/// What `GET /api/sync/job-progress` answers, depending on the query form.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LegacyProgress {
    /// `?jobId=` (the job) or `?type=` (the latest job of that type, `null` if none).
    Job(Option<JobView>),
    /// `?all=true&page=N&limit=M`.
    Page(LegacyJobPage),
}

/// An event that touched an entity, with what it did to it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The job.
    pub job_id: Uuid,
    /// The job's type, when its row still exists.
    pub job_type: Option<String>,
    /// The event's sequence number within the job.
    pub seq: i64,
    /// The event's global position.
    pub position: i64,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// What the event did to the entity, e.g. `matched`.
    pub action: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
    /// Who wrote the event.
    pub actor: String,
}

/// The answer of `GET /healthz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when fewer worker loops run than were configured or a notice is
    /// raised (a server whose database does not answer gets 503 in the error envelope instead).
    pub status: HealthStatus,
    /// The worker loops of this process.
    pub workers: WorkersView,
    /// What an operator must see, errors first (empty when all is well).
    pub notices: Vec<NoticeView>,
}

/// The overall state `/healthz` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything configured is running and nothing needs an operator.
    Ok,
    /// The database answers but some worker loops are down (they are being restarted), or a
    /// notice is raised.
    Degraded,
}

/// Configured and running worker loops.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkersView {
    /// The loops the process was started with (`--workers`).
    pub configured: usize,
    /// The loops running now.
    pub live: usize,
}

impl Health {
    /// The health of a process whose database answered, given its workers and notices.
    pub fn of(workers: &dongbo_engine::WorkerHealth, notices: &[Notice]) -> Self {
        let notices: Vec<NoticeView> = notices.iter().map(NoticeView::from).collect();
        let status = if workers.degraded() || !notices.is_empty() { HealthStatus::Degraded } else { HealthStatus::Ok };
        Health { status, workers: WorkersView { configured: workers.configured(), live: workers.live() }, notices }
    }
}

/// A condition an operator must see: an upstream version leaving support, a token expiring.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoticeView {
    /// Which condition, e.g. `shopify_api_version` (fixed names).
    pub key: String,
    /// `warning` or `error`.
    pub level: String,
    /// What is wrong and what to do.
    pub message: String,
    /// When it was first raised.
    pub since: DateTime<Utc>,
}

impl From<&Notice> for NoticeView {
    fn from(n: &Notice) -> Self {
        NoticeView {
            key: n.key.as_str().to_owned(),
            level: n.level.as_str().to_owned(),
            message: n.message.clone(),
            since: n.since,
        }
    }
}

/// An id a body may carry as a positive integer or as its decimal text (the old front end sends
/// ids back as the strings it was given), as the OpenAPI document states it. The stated text is
/// plain decimal, up to 18 digits: a subset of what the handlers read, so what the document
/// admits is never refused.
pub(crate) fn positive_id_schema(description: &str) -> utoipa::openapi::schema::OneOf {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1)),
        )
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[1-9][0-9]{0,17}$")))
        .description(Some(description))
        .build()
}
