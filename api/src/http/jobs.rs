//! Job views: the list, one job, its audit trail; cancelling, resuming and rerunning.

use std::str::FromStr;

use axum::extract::State;
use dongbo_engine::{JobFilter, JobId, JobStatus};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::extract::{parse_job_id, ApiQuery, JobIdPath, JsonBody};
use super::views::{EventPage, EventView, JobPage, JobView, TriggerReply};
use super::AppState;

/// The largest page of jobs.
pub const MAX_JOB_PAGE: u32 = 200;
/// The default page of jobs.
const DEFAULT_JOB_PAGE: u32 = 50;
/// The largest page of events.
pub const MAX_EVENT_PAGE: u32 = 1000;
/// The default page of events.
const DEFAULT_EVENT_PAGE: u32 = 100;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(job_events))
        .routes(routes!(cancel_job))
        .routes(routes!(resume_job))
        .routes(routes!(rerun_job))
}

/// Checks a page size against its bounds.
pub(super) fn page_size(limit: Option<u32>, default: u32, max: u32) -> Result<i64, ApiError> {
    match limit.unwrap_or(default) {
        n @ 1.. if n <= max => Ok(i64::from(n)),
        n => Err(ApiError::BadRequest(format!("limit must be between 1 and {max}, not {n}"))),
    }
}

/// Reads a status filter.
pub(super) fn parse_status(s: &str) -> Result<JobStatus, ApiError> {
    JobStatus::from_str(s).map_err(ApiError::BadRequest)
}

/// Loads a job or answers 404.
pub(super) async fn load_job(state: &AppState, id: JobId) -> Result<dongbo_engine::BackgroundJob, ApiError> {
    state.engine.store().job(id).await?.ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))
}

/// The filters of `GET /api/jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs of this type, e.g. `PRODUCT_SYNC`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    /// Only jobs in this status: PENDING, RUNNING, COMPLETED, FAILED or CANCELLED.
    pub status: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Jobs, newest first, filtered by type and status, a page at a time.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = Envelope<JobPage>),
        (status = 400, description = "Invalid filter", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn list_jobs(State(state): State<AppState>, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<JobPage> {
    let limit = page_size(q.limit, DEFAULT_JOB_PAGE, MAX_JOB_PAGE)?;
    let filter = JobFilter {
        job_type: q.job_type.filter(|t| !t.is_empty()),
        status: q.status.as_deref().filter(|s| !s.is_empty()).map(parse_status).transpose()?,
        before: q.cursor.as_deref().filter(|c| !c.is_empty()).map(parse_job_id).transpose()?,
        limit,
    };
    let jobs = state.engine.store().list_jobs(&filter).await?;
    let next_cursor = (jobs.len() as i64 == limit).then(|| jobs.last().map(|j| j.id.as_uuid())).flatten();
    Ok(Reply::ok(JobPage { items: jobs.into_iter().map(JobView::from).collect(), next_cursor }))
}

/// One job: the old tool's BackgroundJob.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, description = "The job", body = Envelope<JobView>),
        (status = 400, description = "Malformed id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such job", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn get_job(State(state): State<AppState>, JobIdPath(id): JobIdPath) -> ApiResult<JobView> {
    Ok(Reply::ok(load_job(&state, id).await?.into()))
}

/// The paging of `GET /api/jobs/{id}/events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events after this sequence number (the `nextAfter` of the previous page; default 0).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A job's audit trail: its events in order, a page at a time.
#[utoipa::path(get, path = "/api/jobs/{id}/events", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id (UUID)"), EventsQuery),
    responses(
        (status = 200, description = "A page of events", body = Envelope<EventPage>),
        (status = 400, description = "Malformed id or paging", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such job", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn job_events(
    State(state): State<AppState>,
    JobIdPath(id): JobIdPath,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<EventPage> {
    let limit = page_size(q.limit, DEFAULT_EVENT_PAGE, MAX_EVENT_PAGE)?;
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::BadRequest(format!("after must be 0 or more, not {after}")));
    }
    load_job(&state, id).await?;
    let events = state.engine.store().events(id, after, limit).await?;
    let next_after = (events.len() as i64 == limit).then(|| events.last().map(|e| e.seq)).flatten();
    Ok(Reply::ok(EventPage { items: events.into_iter().map(EventView::from).collect(), next_after }))
}

/// Asks a job to stop. A job no worker holds is cancelled at once; a running one is flagged
/// (`metadata.cancelRequested`) and stops at its next step boundary. A finished job answers 409.
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, description = "The job as it stands after the request", body = Envelope<JobView>),
        (status = 400, description = "Malformed id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such job", body = ErrorEnvelope),
        (status = 409, description = "The job has already finished", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn cancel_job(State(state): State<AppState>, JobIdPath(id): JobIdPath) -> ApiResult<JobView> {
    let job = load_job(&state, id).await?;
    if job.status.is_finished() {
        return Err(ApiError::Conflict(format!("job {id} has already finished ({})", job.status)));
    }
    let job = state.engine.cancel(id, "api").await?;
    tracing::info!(job = %id, status = %job.status, "cancel requested");
    Ok(Reply::ok(job.into()))
}

/// The optional body of `POST /api/jobs/{id}/resume`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResumeBody {
    /// Why the job is resumed (kept in its `JobResumed` event).
    pub reason: Option<String>,
}

/// The longest resume reason kept.
const MAX_REASON_CHARS: usize = 500;

/// Continues a FAILED or CANCELLED job from its last checkpoint under the same id: its
/// `JobResumed` event says who resumed it, why, and how it had stopped; it is claimable at once.
/// Any other status answers 409.
#[utoipa::path(post, path = "/api/jobs/{id}/resume", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")),
    request_body(content = Option<ResumeBody>, description = "Optional: why", content_type = "application/json"),
    responses(
        (status = 200, description = "The job, waiting to be claimed again", body = Envelope<JobView>),
        (status = 400, description = "Malformed id or body", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such job", body = ErrorEnvelope),
        (status = 422, description = "A body field of the wrong type", body = ErrorEnvelope),
        (status = 409, description = "The job is not FAILED or CANCELLED, its events were pruned, or another \
                                     job holds its concurrency key", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn resume_job(
    State(state): State<AppState>,
    JobIdPath(id): JobIdPath,
    JsonBody(body): JsonBody<ResumeBody>,
) -> ApiResult<JobView> {
    let reason =
        body.reason.map(|r| r.trim().chars().take(MAX_REASON_CHARS).collect::<String>()).filter(|r| !r.is_empty());
    let job = state.engine.resume(id, "api", reason.as_deref()).await?;
    tracing::info!(job = %id, "job resumed");
    Ok(Reply::ok(job.into()))
}

/// Starts a new job with the type and input of this one, whatever its status; the new job's
/// metadata names the original (`rerunOf`). Like a trigger, it answers `202` with the new job, or
/// the unfinished job that holds the same concurrency key (`existing: alreadyRunning`).
#[utoipa::path(post, path = "/api/jobs/{id}/rerun", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")),
    responses(
        (status = 202, description = "The new job (or the running one of its kind)", body = Envelope<TriggerReply>),
        (status = 400, description = "Malformed id, or the stored input no longer validates", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such job", body = ErrorEnvelope),
        (status = 409, description = "The job's events (and so its input) were pruned", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn rerun_job(State(state): State<AppState>, JobIdPath(id): JobIdPath) -> ApiResult<TriggerReply> {
    let reply = TriggerReply::from(state.engine.rerun(id, "api").await?);
    tracing::info!(job = %reply.job_id, original = %id, "job rerun");
    Ok(Reply::accepted(reply))
}
