//! `GET /api/sync/job-progress`: the old tool's progress query, in its three forms.

use axum::extract::State;
use dongbo_engine::JobFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::extract::{parse_job_id, ApiQuery};
use super::jobs::{load_job, page_size, MAX_JOB_PAGE};
use super::views::{JobView, LegacyJobPage, LegacyProgress};
use super::AppState;

/// The default page size of the `all` form.
const DEFAULT_LEGACY_PAGE: u32 = 20;
/// How deep the `all` form may page (page × limit); deeper pages should use `/api/jobs`' cursor.
const MAX_LEGACY_DEPTH: i64 = 10_000;

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
    pub page: Option<u32>,
    /// With `all`: jobs per page, 1 to 200 (default 20).
    pub limit: Option<u32>,
}

/// The old tool's progress query: `?jobId=` (that job), `?type=` (the latest job of the type, or
/// `null` data if there is none) or `?all=true&page=N&limit=M` (a page of jobs, newest first).
#[utoipa::path(get, path = "/api/sync/job-progress", tag = "jobs", params(ProgressQuery),
    responses(
        (status = 200, description = "A job, `null`, or a page of jobs", body = Envelope<LegacyProgress>),
        (status = 400, description = "None of the forms, or invalid values", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No job with that id", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn job_progress(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ProgressQuery>,
) -> ApiResult<LegacyProgress> {
    let all = match q.all.as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            return Err(ApiError::BadRequest(format!("all must be true or false, not `{shown}`")));
        }
    };
    let job_type = q.job_type.filter(|t| !t.trim().is_empty());
    if let Some(raw) = q.job_id.as_deref().filter(|s| !s.is_empty()) {
        let job = load_job(&state, parse_job_id(raw)?).await?;
        return Ok(Reply::ok(LegacyProgress::Job(Some(job.into()))));
    }
    if all {
        return page_of_jobs(&state, job_type, q.page, q.limit).await.map(|p| Reply::ok(LegacyProgress::Page(p)));
    }
    let Some(job_type) = job_type else {
        return Err(ApiError::BadRequest("give one of jobId, type or all=true".into()));
    };
    let filter = JobFilter { job_type: Some(job_type), status: None, before: None, limit: 1 };
    let latest = state.engine.store().list_jobs(&filter).await?.into_iter().next();
    Ok(Reply::ok(LegacyProgress::Job(latest.map(JobView::from))))
}

async fn page_of_jobs(
    state: &AppState,
    job_type: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
) -> Result<LegacyJobPage, ApiError> {
    let limit = page_size(limit, DEFAULT_LEGACY_PAGE, MAX_JOB_PAGE)?;
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
    let store = state.engine.store();
    let total: i64 = store
        .job_counts()
        .await?
        .into_iter()
        .filter(|(t, _, _)| job_type.is_none() || job_type.as_deref() == Some(t.as_str()))
        .map(|(_, _, n)| n)
        .sum();
    // The store pages by keyset; an offset page is the tail of the first `page × limit` rows.
    let filter = JobFilter { job_type, status: None, before: None, limit: depth };
    let jobs = store.list_jobs(&filter).await?;
    let skip = usize::try_from(depth - limit).unwrap_or(usize::MAX);
    Ok(LegacyJobPage {
        jobs: jobs.into_iter().skip(skip).map(JobView::from).collect(),
        page,
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        total,
        total_pages: (total + limit - 1) / limit,
    })
}
