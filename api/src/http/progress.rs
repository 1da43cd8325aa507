//! `GET /api/sync/job-progress`: the old tool's progress query, in its three forms and its shapes.
//!
//! As the old route did, `all=true` wins over `jobId`, which wins over `type`:
//!
//! - `?all=true&page=N&limit=M`: `{jobs, totalCount, runningCount, currentPage, totalPages, stats}`,
//!   50 jobs a page unless `limit` says otherwise, newest first; `stats` counts the jobs of the last
//!   24 hours by type, as `[{type, _count: {id}}]` (the old tool's `groupBy` rows).
//! - `?jobId=`: the job.
//! - `?type=`: `{latestJob, hasRunningJob}` (`latestJob` is `null` when the type never ran).
//!
//! The old tool created its jobs already `RUNNING`, so its "running" meant "not finished":
//! `runningCount` and `hasRunningJob` count dongbo's `PENDING` jobs as well as its `RUNNING` ones.

use axum::extract::State;
use chrono::Duration;
use dongbo_engine::{JobFilter, JobId, JobStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::extract::{parse_job_id, ApiQuery};
use super::jobs::{load_job, page_size, MAX_JOB_PAGE};
use super::views::JobView;
use super::AppState;

/// The page size of the `all` form: the old route's default, which its Job Tracking page sends.
pub const LEGACY_PAGE_SIZE: u32 = 50;
/// How deep the `all` form may page (page × limit); deeper pages should use `/api/jobs`' cursor.
const MAX_LEGACY_DEPTH: i64 = 10_000;
/// Jobs read per store call while counting the last day's jobs.
const STATS_SCAN_PAGE: i64 = 500;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(job_progress))
}

/// The query forms.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// One job by id.
    pub job_id: Option<String>,
    /// The latest job of this type (or, with `all`, only jobs of this type).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    /// `true` for a page of every job.
    pub all: Option<String>,
    /// With `all`: the page, from 1 (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// With `all`: jobs per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The `type` form's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatestJob {
    /// The newest job of the type, `null` if it never ran.
    pub latest_job: Option<JobView>,
    /// Whether a job of the type is unfinished (`PENDING` or `RUNNING`).
    pub has_running_job: bool,
}

/// How many jobs of one type were requested in the last 24 hours (a Prisma `groupBy` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TypeCount {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The count.
    #[serde(rename = "_count")]
    pub count: IdCount,
}

/// `{id: n}`: the count, as the old tool's `_count: {id: true}` answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IdCount {
    /// Jobs counted.
    pub id: i64,
}

/// The `all` form's answer: a page of jobs, newest first, with the counts the old page shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobsPage {
    /// The jobs of this page.
    pub jobs: Vec<JobView>,
    /// Jobs in total (of the type, when `type` is given).
    pub total_count: i64,
    /// Jobs not finished (`PENDING` or `RUNNING`).
    pub running_count: i64,
    /// The page number, from 1.
    pub current_page: u32,
    /// Pages in total.
    pub total_pages: i64,
    /// Jobs requested in the last 24 hours, by type.
    pub stats: Vec<TypeCount>,
}

/// What `GET /api/sync/job-progress` answers, depending on the query form.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProgressAnswer {
    /// `?all=true`.
    Page(JobsPage),
    /// `?jobId=`.
    Job(JobView),
    /// `?type=`.
    Latest(LatestJob),
}

/// The old tool's progress query: `?all=true&page=N&limit=M` (a page of jobs with counts),
/// `?jobId=` (that job) or `?type=` (`{latestJob, hasRunningJob}`).
#[utoipa::path(get, path = "/api/sync/job-progress", tag = "jobs", params(ProgressQuery),
    responses(
        (status = 200, description = "A page of jobs, a job, or the latest job of a type", body = Envelope<ProgressAnswer>),
        (status = 400, description = "None of the forms, or invalid values", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No job with that id", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn job_progress(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ProgressQuery>,
) -> ApiResult<ProgressAnswer> {
    let all = match q.all.as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            return Err(ApiError::BadRequest(format!("all must be true or false, not `{shown}`")));
        }
    };
    let job_type = q.job_type.filter(|t| !t.trim().is_empty());
    if all {
        return page_of_jobs(&state, job_type, q.page, q.limit).await.map(|p| Reply::ok(ProgressAnswer::Page(p)));
    }
    if let Some(raw) = q.job_id.as_deref().filter(|s| !s.is_empty()) {
        let job = load_job(&state, parse_job_id(raw)?).await?;
        return Ok(Reply::ok(ProgressAnswer::Job(job.into())));
    }
    let Some(job_type) = job_type else {
        return Err(ApiError::BadRequest("give one of type, jobId or all=true".into()));
    };
    let filter = JobFilter { job_type: Some(job_type.clone()), status: None, before: None, limit: 1 };
    let latest = state.engine.store().list_jobs(&filter).await?.into_iter().next();
    let counts = Counts::read(&state, Some(&job_type)).await?;
    Ok(Reply::ok(ProgressAnswer::Latest(LatestJob {
        latest_job: latest.map(JobView::from),
        has_running_job: counts.unfinished > 0,
    })))
}

/// Jobs in total and unfinished, of one type or all.
struct Counts {
    total: i64,
    unfinished: i64,
}

impl Counts {
    async fn read(state: &AppState, job_type: Option<&str>) -> Result<Self, ApiError> {
        let mut counts = Counts { total: 0, unfinished: 0 };
        for (t, status, n) in state.engine.store().job_counts().await? {
            if job_type.is_some_and(|wanted| wanted != t) {
                continue;
            }
            counts.total += n;
            if matches!(status, JobStatus::Pending | JobStatus::Running) {
                counts.unfinished += n;
            }
        }
        Ok(counts)
    }
}

async fn page_of_jobs(
    state: &AppState,
    job_type: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
) -> Result<JobsPage, ApiError> {
    let limit = page_size(limit, LEGACY_PAGE_SIZE, MAX_JOB_PAGE)?;
    let page = page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::BadRequest("page starts at 1".into()));
    }
    let depth = i64::from(page) * limit;
    if depth > MAX_LEGACY_DEPTH {
        return Err(ApiError::BadRequest(format!(
            "page × limit may be at most {MAX_LEGACY_DEPTH}; page further with GET /api/jobs?cursor="
        )));
    }
    let counts = Counts::read(state, job_type.as_deref()).await?;
    let stats = last_day_by_type(state, job_type.as_deref()).await?;
    // The store pages by keyset; an offset page is the tail of the first `page × limit` rows.
    let filter = JobFilter { job_type, status: None, before: None, limit: depth };
    let jobs = state.engine.store().list_jobs(&filter).await?;
    let skip = usize::try_from(depth - limit).unwrap_or(usize::MAX);
    Ok(JobsPage {
        jobs: jobs.into_iter().skip(skip).map(JobView::from).collect(),
        total_count: counts.total,
        running_count: counts.unfinished,
        current_page: page,
        total_pages: (counts.total + limit - 1) / limit,
        stats,
    })
}

/// The jobs requested in the last 24 hours, counted by type (types in name order).
async fn last_day_by_type(state: &AppState, job_type: Option<&str>) -> Result<Vec<TypeCount>, ApiError> {
    let since = state.engine.clock().now() - Duration::hours(24);
    let store = state.engine.store();
    let mut counts = std::collections::BTreeMap::<String, i64>::new();
    let mut before: Option<JobId> = None;
    loop {
        let filter = JobFilter { job_type: job_type.map(str::to_owned), status: None, before, limit: STATS_SCAN_PAGE };
        let jobs = store.list_jobs(&filter).await?;
        let full_page = jobs.len() as i64 == STATS_SCAN_PAGE;
        let mut older_seen = false;
        for job in &jobs {
            if job.created_at < since {
                older_seen = true;
                continue;
            }
            *counts.entry(job.job_type.clone()).or_default() += 1;
        }
        before = jobs.last().map(|j| j.id);
        if !full_page || older_seen {
            break;
        }
    }
    Ok(counts.into_iter().map(|(job_type, id)| TypeCount { job_type, count: IdCount { id } }).collect())
}
