//! The Nhanh access token seen from the API: `GET /api/nhanh/token` says where the token in use
//! stands — its source, business, expiry, covered depots and any warning — and never the token.

use std::sync::Arc;

use axum::extract::State;
use dongbo_engine::{SharedClock, SystemClock};
use dongbo_workflows::catalog::store::credentials::{last_check, load_token};
use dongbo_workflows::nhanh_token::assess;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token_status))
}

/// What the token routes need to know beyond the store: whether `NHANH_ACCESS_TOKEN` overrides a
/// stored token, and the time.
pub struct NhanhAuth {
    env_token: bool,
    clock: SharedClock,
}

impl Default for NhanhAuth {
    fn default() -> Self {
        NhanhAuth { env_token: false, clock: Arc::new(SystemClock) }
    }
}

impl NhanhAuth {
    /// Settings as looked up by `var` (`NHANH_ACCESS_TOKEN`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> NhanhAuth {
        NhanhAuth { env_token: var("NHANH_ACCESS_TOKEN").is_some_and(|v| !v.is_empty()), ..NhanhAuth::default() }
    }

    /// The same settings reading the time from `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> NhanhAuth {
        self.clock = clock;
        self
    }
}

/// Where the Nhanh token in use stands. Never the token itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NhanhTokenView {
    /// `environment` (NHANH_ACCESS_TOKEN, which wins), `stored`, or absent when there is none.
    pub source: Option<String>,
    /// The business of the stored token.
    pub business_id: Option<String>,
    /// When the stored token was granted (unix seconds).
    pub granted_at: Option<i64>,
    /// When the token in use expires (unix seconds), by the last check, else by the grant.
    pub expires_at: Option<i64>,
    /// When Nhanh was last asked (unix seconds).
    pub checked_at: Option<i64>,
    /// The depots the token covers, by the last check.
    pub covered_depots: Option<Vec<u64>>,
    /// What the operator should know: expiry within 30 days, or expired.
    pub warning: Option<String>,
}

fn store_failure(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("nhanh token: {e}"))
}

/// Where the Nhanh token in use stands: its source, business, expiry, covered depots and any
/// warning.
#[utoipa::path(get, path = "/api/nhanh/token", tag = "nhanh",
    responses(
        (status = 200, description = "The token's standing", body = Envelope<NhanhTokenView>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn token_status(State(state): State<AppState>) -> ApiResult<NhanhTokenView> {
    let auth = &state.nhanh_auth;
    let db = state.engine.store().db();
    let stored = load_token(&db).await.map_err(store_failure)?;
    let check = last_check(&db).await.map_err(store_failure)?;
    let source = if auth.env_token { Some("environment") } else { stored.as_ref().map(|_| "stored") };
    let expires_at = check.as_ref().map(|c| c.expires_at).or(stored.as_ref().and_then(|s| s.expires_at));
    let now = auth.clock.now().timestamp();
    Ok(Reply::ok(NhanhTokenView {
        source: source.map(str::to_owned),
        business_id: stored.as_ref().map(|s| s.business_id.clone()),
        granted_at: stored.as_ref().map(|s| s.granted_at),
        expires_at,
        checked_at: check.as_ref().map(|c| c.checked_at),
        covered_depots: check.map(|c| c.depot_ids),
        warning: expires_at.and_then(|at| assess(at, now).warning()),
    }))
}
