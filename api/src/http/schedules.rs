//! Durable schedules (`/api/schedules`): list, create, change, delete, pause, resume and "run
//! now"; and a pipeline parent's children (`/api/jobs/{id}/children`). Validation and storage
//! live in the workflows' scheduler; no SQL here.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use chrono::{DateTime, TimeZone, Utc};
use dongbo_workflows::catalog::store::schedules::{children_of, parent_of, FiringRow, ScheduleRow};
use dongbo_workflows::schedules::scheduler::{next_firing, NewSchedule, SchedulePatch};
use dongbo_workflows::schedules::{ScheduleError, ScheduleId, Scheduler};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::extract::{JobIdPath, JsonBody};
use super::views::{JobView, TriggerReply};
use super::AppState;

/// How many firings a schedule's page shows.
const FIRINGS_SHOWN: i64 = 20;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules, create_schedule))
        .routes(routes!(get_schedule, change_schedule, delete_schedule))
        .routes(routes!(pause_schedule))
        .routes(routes!(resume_schedule))
        .routes(routes!(run_schedule))
        .routes(routes!(job_children))
}

/// A schedule as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    /// Its name.
    pub id: String,
    /// The cron expression (5 fields, or 6 with seconds first).
    pub cron: String,
    /// The IANA zone it is read in.
    pub time_zone: String,
    /// The job type each firing requests.
    pub job_type: String,
    /// That job's input.
    #[schema(value_type = Object)]
    pub input: Value,
    /// Whether it is paused.
    pub paused: bool,
    /// When it fires next (absent while paused).
    pub next_run_at: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// Its latest firing.
    pub last_firing: Option<FiringView>,
}

/// One firing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FiringView {
    /// `slot` (a cron slot) or `manual` (run now).
    pub kind: String,
    /// The slot, or when "run now" was asked.
    pub at: DateTime<Utc>,
    /// When it fired.
    pub fired_at: DateTime<Utc>,
    /// The process (or `api`) that fired it.
    pub fired_by: String,
    /// The job it requested.
    pub job_id: Option<String>,
}

/// A schedule with its recent firings.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDetail {
    /// The schedule.
    pub schedule: ScheduleView,
    /// Its latest firings, newest first.
    pub firings: Vec<FiringView>,
}

/// A schedule to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewScheduleBody {
    /// Its name: 1–64 ASCII letters, digits, `-` or `_`.
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub id: String,
    /// The cron expression, e.g. `*/15 * * * *`.
    pub cron: String,
    /// The IANA zone (default `Asia/Ho_Chi_Minh`).
    pub time_zone: Option<String>,
    /// The job type each firing requests, e.g. `PIPELINE`.
    pub job_type: String,
    /// That job's input (default `{}`): a JSON object, as every job's input is.
    #[schema(value_type = Option<Object>)]
    pub input: Option<serde_json::Map<String, Value>>,
    /// Start paused (default false).
    #[serde(default)]
    pub paused: bool,
}

/// Changes to a schedule; absent fields stay as they are.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulePatchBody {
    /// A new cron expression.
    pub cron: Option<String>,
    /// A new zone.
    pub time_zone: Option<String>,
    /// A new job type.
    pub job_type: Option<String>,
    /// A new input (a JSON object).
    #[schema(value_type = Option<Object>)]
    pub input: Option<serde_json::Map<String, Value>>,
}

/// A parent job's children, and its own parent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobFamily {
    /// The job.
    pub job_id: String,
    /// The pipeline that requested it, if one did.
    pub parent_job_id: Option<String>,
    /// The jobs it requested, in order.
    pub children: Vec<ChildView>,
}

/// A child job.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildView {
    /// The parent's stage that requested it.
    pub stage: String,
    /// The child.
    pub job: JobView,
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn firing_view(f: FiringRow) -> FiringView {
    FiringView { kind: f.kind, at: at(f.at_ms), fired_at: at(f.fired_at_ms), fired_by: f.fired_by, job_id: f.job_id }
}

async fn view(scheduler: &Scheduler, row: ScheduleRow, now: DateTime<Utc>) -> Result<ScheduleView, ApiError> {
    let last = scheduler.firings(&row.id, 1).await.map_err(api_error)?.into_iter().next().map(firing_view);
    Ok(ScheduleView {
        next_run_at: next_firing(&row, now),
        id: row.id,
        cron: row.cron,
        time_zone: row.time_zone,
        job_type: row.job_type,
        input: row.input,
        paused: row.paused,
        created_at: at(row.created_at),
        updated_at: at(row.updated_at),
        last_firing: last,
    })
}

fn api_error(e: ScheduleError) -> ApiError {
    match e {
        ScheduleError::Invalid(m) => ApiError::BadRequest(m),
        ScheduleError::NotFound(_) => ApiError::NotFound(e.to_string()),
        ScheduleError::Exists(_) => ApiError::Conflict(e.to_string()),
        ScheduleError::Store(e) => ApiError::Internal(format!("schedules store: {e}")),
        ScheduleError::Engine(e) => e.into(),
    }
}

fn scheduler(state: &AppState) -> Scheduler {
    Scheduler::new(state.engine.clone(), "api")
}

fn now(state: &AppState) -> DateTime<Utc> {
    state.engine.clock().now()
}

/// Reads the `{id}` of a schedule route.
fn schedule_id(raw: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(raw) = raw.map_err(|r| ApiError::BadRequest(format!("invalid path: {}", r.body_text())))?;
    ScheduleId::parse(&raw).map(|id| id.as_str().to_owned()).map_err(ApiError::BadRequest)
}

/// Every schedule with its next firing.
#[utoipa::path(get, path = "/api/schedules", tag = "schedules",
    responses(
        (status = 200, description = "The schedules", body = Envelope<Vec<ScheduleView>>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn list_schedules(State(state): State<AppState>) -> ApiResult<Vec<ScheduleView>> {
    let s = scheduler(&state);
    let now = now(&state);
    let mut out = Vec::new();
    for row in s.list().await.map_err(api_error)? {
        out.push(view(&s, row, now).await?);
    }
    Ok(Reply::ok(out))
}

/// Creates a schedule; its first slot is the first after now.
#[utoipa::path(post, path = "/api/schedules", tag = "schedules", request_body = NewScheduleBody,
    responses(
        (status = 200, description = "The schedule as stored", body = Envelope<ScheduleView>),
        (status = 400, description = "Bad name, cron expression, zone, job type or input", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 409, description = "A schedule of that name exists", body = ErrorEnvelope),
        (status = 422, description = "Wrong fields or types", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn create_schedule(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewScheduleBody>,
) -> ApiResult<ScheduleView> {
    let s = scheduler(&state);
    let now = now(&state);
    let new = NewSchedule {
        id: body.id,
        cron: body.cron,
        time_zone: body.time_zone,
        job_type: body.job_type,
        input: Value::Object(body.input.unwrap_or_default()),
        paused: body.paused,
    };
    let row = s.create(new, now).await.map_err(api_error)?;
    tracing::info!(schedule = %row.id, cron = %row.cron, zone = %row.time_zone, "schedule created");
    Ok(Reply::ok(view(&s, row, now).await?))
}

/// One schedule with its latest firings.
#[utoipa::path(get, path = "/api/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's name", pattern = r"^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The schedule", body = Envelope<ScheduleDetail>),
        (status = 400, description = "Not a schedule name", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such schedule", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn get_schedule(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult<ScheduleDetail> {
    let id = schedule_id(raw)?;
    let s = scheduler(&state);
    let row = s.get(&id).await.map_err(api_error)?;
    let firings = s.firings(&id, FIRINGS_SHOWN).await.map_err(api_error)?;
    Ok(Reply::ok(ScheduleDetail {
        schedule: view(&s, row, now(&state)).await?,
        firings: firings.into_iter().map(firing_view).collect(),
    }))
}

/// Changes a schedule's timing or job; slots already past do not fire for the new timing.
#[utoipa::path(patch, path = "/api/schedules/{id}", tag = "schedules", request_body = SchedulePatchBody,
    params(("id" = String, Path, description = "The schedule's name", pattern = r"^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The schedule as stored", body = Envelope<ScheduleView>),
        (status = 400, description = "Bad cron expression, zone, job type or input", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such schedule", body = ErrorEnvelope),
        (status = 422, description = "Wrong fields or types", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn change_schedule(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<SchedulePatchBody>,
) -> ApiResult<ScheduleView> {
    let id = schedule_id(raw)?;
    let s = scheduler(&state);
    let now = now(&state);
    let patch = SchedulePatch {
        cron: body.cron,
        time_zone: body.time_zone,
        job_type: body.job_type,
        input: body.input.map(Value::Object),
    };
    let row = s.change(&id, patch, now).await.map_err(api_error)?;
    Ok(Reply::ok(view(&s, row, now).await?))
}

/// Deletes a schedule and its firing records (the jobs it requested stay).
#[utoipa::path(delete, path = "/api/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's name", pattern = r"^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The schedule that was deleted", body = Envelope<ScheduleView>),
        (status = 400, description = "Not a schedule name", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such schedule", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn delete_schedule(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult<ScheduleView> {
    let id = schedule_id(raw)?;
    let s = scheduler(&state);
    let now = now(&state);
    let mut row = s.delete(&id).await.map_err(api_error)?;
    row.paused = true;
    Ok(Reply::ok(ScheduleView {
        next_run_at: None,
        id: row.id,
        cron: row.cron,
        time_zone: row.time_zone,
        job_type: row.job_type,
        input: row.input,
        paused: row.paused,
        created_at: at(row.created_at),
        updated_at: now,
        last_firing: None,
    }))
}

async fn set_paused(
    state: &AppState,
    raw: Result<Path<String>, PathRejection>,
    paused: bool,
) -> ApiResult<ScheduleView> {
    let id = schedule_id(raw)?;
    let s = scheduler(state);
    let now = now(state);
    let row = s.set_paused(&id, paused, now).await.map_err(api_error)?;
    tracing::info!(schedule = %row.id, paused, "schedule paused or resumed");
    Ok(Reply::ok(view(&s, row, now).await?))
}

/// Pauses a schedule: no slot fires until it is resumed.
#[utoipa::path(post, path = "/api/schedules/{id}/pause", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's name", pattern = r"^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The schedule", body = Envelope<ScheduleView>),
        (status = 400, description = "Not a schedule name", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such schedule", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn pause_schedule(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult<ScheduleView> {
    set_paused(&state, raw, true).await
}

/// Resumes a schedule from its next slot (the slots that passed while paused do not fire).
#[utoipa::path(post, path = "/api/schedules/{id}/resume", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's name", pattern = r"^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The schedule", body = Envelope<ScheduleView>),
        (status = 400, description = "Not a schedule name", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such schedule", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn resume_schedule(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult<ScheduleView> {
    set_paused(&state, raw, false).await
}

/// Fires a schedule now, paused or not; its slots are unaffected.
#[utoipa::path(post, path = "/api/schedules/{id}/run", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's name", pattern = r"^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 202, description = "The job requested (or the same pipeline still running)", body = Envelope<TriggerReply>),
        (status = 400, description = "Not a schedule name, or its job no longer accepts its input", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such schedule", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn run_schedule(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult<TriggerReply> {
    let id = schedule_id(raw)?;
    let s = scheduler(&state);
    let (_, requested) = s.run_now(&id, "api", now(&state)).await.map_err(api_error)?;
    let reply = TriggerReply::from(requested);
    tracing::info!(schedule = %id, job = %reply.job_id, "schedule run now");
    Ok(Reply::accepted(reply))
}

/// A job's children (the jobs a PIPELINE or RECONCILE requested), and the parent that
/// requested it, if any.
#[utoipa::path(get, path = "/api/jobs/{id}/children", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, description = "The job's parent and children", body = Envelope<JobFamily>),
        (status = 400, description = "Malformed job id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such job", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn job_children(State(state): State<AppState>, JobIdPath(id): JobIdPath) -> ApiResult<JobFamily> {
    let store = state.engine.store();
    store.job(id).await?.ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))?;
    let db = store.db();
    fn failed(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(format!("job children: {e}"))
    }
    let parent = parent_of(&db, &id.to_string()).await.map_err(failed)?;
    let mut children = Vec::new();
    for link in children_of(&db, &id.to_string()).await.map_err(failed)? {
        let Ok(child) = link.child_job_id.parse() else { continue };
        if let Some(job) = store.job(child).await? {
            children.push(ChildView { stage: link.stage, job: job.into() });
        }
    }
    Ok(Reply::ok(JobFamily { job_id: id.to_string(), parent_job_id: parent.map(|p| p.parent_job_id), children }))
}
