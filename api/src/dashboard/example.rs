//! `POST /api/example/count`: starts the engine's built-in `EXAMPLE_COUNT` job.
//!
//! The thirteen sync triggers need the upstreams (or the simulator); this one needs nothing, so
//! an operator can check from the dashboard that workers claim, step, stream and finish jobs, and
//! the dashboard's end-to-end test has a job that runs on any server. It answers like the sync
//! triggers (`202` with `{jobId, status, type}`) and sits under `/api`, behind the same token.

use axum::extract::State;
use dongbo_engine::example::{EXAMPLE_COUNT, MAX_STEP_MILLIS};
use dongbo_engine::JobRequest;
use serde::Deserialize;
use serde_json::json;

use crate::http::error::Reply;
use crate::http::extract::JsonBody;
use crate::http::views::TriggerReply;
use crate::http::{ApiError, ApiResult, AppState};

/// The route.
pub const PATH: &str = "/api/example/count";

/// The most items one example job may count from here.
const MAX_ITEMS: u32 = 100_000;
/// The concurrency key of the dashboard's example jobs: one runs at a time, and pressing the
/// button again while it runs answers the running job.
const EXCLUSIVE: &str = "dashboard";

/// What the dashboard may ask of the example: a subset of its input, bounded (here and by the
/// example's own limit on its total work) and under one concurrency key, so that the button
/// cannot be used to tie the workers up for hours.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CountOptions {
    /// Items to count (default 200).
    pub items: Option<u32>,
    /// Items per step (default 10).
    pub batch: Option<u32>,
    /// Simulated work per step in milliseconds (default 100).
    pub step_millis: Option<u64>,
}

impl CountOptions {
    /// The job input, or why the options are out of bounds.
    fn input(&self) -> Result<serde_json::Value, ApiError> {
        let items = self.items.unwrap_or(200);
        let batch = self.batch.unwrap_or(10);
        let step_millis = self.step_millis.unwrap_or(100);
        if items > MAX_ITEMS {
            return Err(ApiError::BadRequest(format!("items must be at most {MAX_ITEMS}, not {items}")));
        }
        if batch == 0 {
            return Err(ApiError::BadRequest("batch must be at least 1".into()));
        }
        if step_millis > MAX_STEP_MILLIS {
            return Err(ApiError::BadRequest(format!(
                "stepMillis must be at most {MAX_STEP_MILLIS}, not {step_millis}"
            )));
        }
        Ok(json!({ "items": items, "batch": batch, "stepMillis": step_millis, "exclusive": EXCLUSIVE }))
    }
}

/// Starts an `EXAMPLE_COUNT` job.
pub async fn count(
    State(state): State<AppState>,
    JsonBody(options): JsonBody<CountOptions>,
) -> ApiResult<TriggerReply> {
    let request = JobRequest { requested_by: "dashboard".into(), ..JobRequest::new(EXAMPLE_COUNT, options.input()?) };
    let reply = TriggerReply::from(state.engine.request(request).await?);
    tracing::info!(job = %reply.job_id, job_type = EXAMPLE_COUNT, "example job triggered");
    Ok(Reply::accepted(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(options: CountOptions, expect: Result<serde_json::Value, &str>) {
        match (options.input(), expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.to_string().contains(want), "{got} does not say {want:?}"),
            (got, want) => panic!("got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn count_options_default_to_a_short_visible_job_and_are_bounded() {
        let none = || CountOptions { items: None, batch: None, step_millis: None };
        check(none(), Ok(json!({"items": 200, "batch": 10, "stepMillis": 100, "exclusive": "dashboard"})));
        check(
            CountOptions { items: Some(50), batch: Some(5), step_millis: Some(0) },
            Ok(json!({"items": 50, "batch": 5, "stepMillis": 0, "exclusive": "dashboard"})),
        );
        check(CountOptions { items: Some(MAX_ITEMS + 1), ..none() }, Err("items must be at most"));
        check(CountOptions { batch: Some(0), ..none() }, Err("batch must be at least 1"));
        check(CountOptions { step_millis: Some(MAX_STEP_MILLIS + 1), ..none() }, Err("stepMillis must be at most"));
    }
}
