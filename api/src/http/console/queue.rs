//! The queue in view (`GET /api/queue`): what waits, behind what, at which priority, and what
//! runs; and the bulk resume of failed jobs (`POST /api/jobs/resume-failed`). A waiting job is
//! cancelled with `POST /api/jobs/{id}/cancel` (at once: no worker holds it).

use axum::extract::State;
use dongbo_engine::{BackgroundJob, EventPayload, JobFilter, JobId, JobStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::http::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use crate::http::extract::JsonBody;
use crate::http::views::JobView;
use crate::http::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(queue)).routes(routes!(resume_failed))
}

/// The most jobs of a status the queue view and the bulk resume read.
const MAX_JOBS: i64 = 200;

/// A job's priority, as the engine stores it for claiming order: `WEBHOOK` before `MANUAL`
/// before `SCHEDULED`.
fn priority(job: &BackgroundJob) -> String {
    job.priority.as_str().to_owned()
}

/// A waiting job.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingView {
    /// 1 = claimed next (by effective priority, then age).
    pub position: usize,
    /// Its priority's level plus one per aging period waited: what claiming orders by.
    pub effective_level: i64,
    /// `WEBHOOK`, `MANUAL` or `SCHEDULED`.
    pub priority: String,
    /// What it holds: at most one job per key runs at a time.
    pub concurrency_key: Option<String>,
    /// The unfinished job holding its concurrency key, which it waits behind (empty: it waits
    /// for a free worker only).
    pub behind: Vec<Uuid>,
    /// The job.
    pub job: JobView,
}

/// A running job.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunningView {
    /// `WEBHOOK`, `MANUAL` or `SCHEDULED`.
    pub priority: String,
    /// What it holds.
    pub concurrency_key: Option<String>,
    /// The job.
    pub job: JobView,
}

/// The queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    /// Waiting jobs (pending, resumed, or waiting for a retry), in claiming order.
    pub waiting: Vec<WaitingView>,
    /// Running jobs, oldest first.
    pub running: Vec<RunningView>,
}

/// The concurrency key a job was requested with (from its `JobRequested` event).
async fn concurrency_key(state: &AppState, id: JobId) -> Result<Option<String>, ApiError> {
    let first = state.engine.store().events(id, 0, 1).await?;
    Ok(first.first().and_then(|e| match e.decode() {
        Ok(EventPayload::JobRequested(r)) => r.concurrency_key,
        _ => None,
    }))
}

async fn jobs(state: &AppState, status: JobStatus) -> Result<Vec<BackgroundJob>, ApiError> {
    let filter = JobFilter { job_type: None, status: Some(status), before: None, limit: MAX_JOBS };
    let mut jobs = state.engine.store().list_jobs(&filter).await?;
    jobs.reverse(); // oldest first
    Ok(jobs)
}

/// What waits, behind what, at which priority, and what runs (at most 200 of each).
#[utoipa::path(get, path = "/api/queue", tag = "jobs",
    responses(
        (status = 200, description = "The queue", body = Envelope<QueueView>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn queue(State(state): State<AppState>) -> ApiResult<QueueView> {
    let mut running = Vec::new();
    for job in jobs(&state, JobStatus::Running).await? {
        let key = concurrency_key(&state, job.id).await?;
        running.push(RunningView { priority: priority(&job), concurrency_key: key, job: job.into() });
    }
    let mut waiting = Vec::new();
    // The engine's queue, in claiming order; a RUNNING job waiting for its retry is in it too.
    for (i, q) in state.engine.queue().await?.into_iter().take(MAX_JOBS as usize).enumerate() {
        let key = concurrency_key(&state, q.job.id).await?;
        waiting.push(WaitingView {
            position: i + 1,
            priority: priority(&q.job),
            effective_level: q.effective_level,
            concurrency_key: key,
            behind: q.waiting_behind.map(|id| id.as_uuid()).into_iter().collect(),
            job: q.job.into(),
        });
    }
    Ok(Reply::ok(QueueView { waiting, running }))
}

/// The optional body of `POST /api/jobs/resume-failed`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResumeFailedBody {
    /// Only FAILED jobs of this type.
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    /// Why (kept in each job's `JobResumed` event).
    pub reason: Option<String>,
}

/// A job the bulk resume left alone.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedView {
    /// The job.
    pub id: Uuid,
    /// Why (e.g. another job holds its concurrency key, or its events were pruned).
    pub error: String,
}

/// What the bulk resume did.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResumeFailedView {
    /// The jobs resumed, waiting to be claimed.
    pub resumed: Vec<JobView>,
    /// The jobs that could not be resumed, and why.
    pub skipped: Vec<SkippedView>,
}

/// Resumes every FAILED job (at most 200, oldest first; optionally of one type) from its last
/// checkpoint, as `POST /api/jobs/{id}/resume` does one. A job that cannot be resumed (another
/// job holds its concurrency key, its events were pruned) is listed with the reason.
#[utoipa::path(post, path = "/api/jobs/resume-failed", tag = "jobs",
    request_body(content = Option<ResumeFailedBody>, description = "Optional: type and reason", content_type = "application/json"),
    responses(
        (status = 200, description = "What was resumed and what was not", body = Envelope<ResumeFailedView>),
        (status = 400, description = "Malformed body", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 422, description = "A body field of the wrong type", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn resume_failed(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ResumeFailedBody>,
) -> ApiResult<ResumeFailedView> {
    let reason = body.reason.map(|r| r.trim().chars().take(500).collect::<String>()).filter(|r| !r.is_empty());
    let filter = JobFilter {
        job_type: body.job_type.filter(|t| !t.trim().is_empty()),
        status: Some(JobStatus::Failed),
        before: None,
        limit: MAX_JOBS,
    };
    let mut failed = state.engine.store().list_jobs(&filter).await?;
    failed.reverse();
    let mut resumed = Vec::new();
    let mut skipped = Vec::new();
    for job in failed {
        match state.engine.resume(job.id, "api", reason.as_deref()).await {
            Ok(job) => resumed.push(job.into()),
            Err(dongbo_engine::StoreError::Conflict(why)) => {
                skipped.push(SkippedView { id: job.id.as_uuid(), error: why })
            }
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(resumed = resumed.len(), skipped = skipped.len(), "failed jobs resumed in bulk");
    Ok(Reply::ok(ResumeFailedView { resumed, skipped }))
}
