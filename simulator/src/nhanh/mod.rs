//! The Nhanh v3 server: `POST /v3.0/{resource}/{action}?appId=…&businessId=…`.
//!
//! Every reply is HTTP 200 with Nhanh's envelope (`code: 1` or `code: 0` + `errorCode`), the
//! `ERR_429` lock included (its real status is unverified); an unknown endpoint is HTTP 404.
//! Checks run in this order: rate limit (counted before auth, per appId + businessId + path),
//! `appId`, then `Authorization` (the raw token, no "Bearer"), then `businessId`.

pub(crate) mod app;
mod list;
pub(crate) mod rate_limit;
pub(crate) mod render;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::Server;
use crate::sim::Sim;
use rate_limit::Decision;

/// A Nhanh error reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NhanhError {
    #[error("ERR_INVALID_APP_ID")]
    InvalidAppId,
    #[error("ERR_INVALID_ACCESS_TOKEN")]
    InvalidAccessToken,
    #[error("ERR_INVALID_BUSINESS_ID")]
    InvalidBusinessId,
    #[error("ERR_INVALID_FORM_FIELDS")]
    InvalidFormFields(Map<String, Value>),
    #[error("ERR_INVALID_DATA")]
    InvalidData(String),
    #[error("ERR_INVALID_DEPOT_ID")]
    InvalidDepotId(String),
    #[error("ERR_429")]
    Locked { unlocked_at: i64, seconds: u64 },
    #[error("ERR_404")]
    NotFound(String),
}

impl NhanhError {
    /// `ERR_INVALID_FORM_FIELDS` with one message.
    pub(crate) fn field(name: &str, message: &str) -> NhanhError {
        let mut messages = Map::new();
        messages.insert(name.to_string(), Value::String(message.to_string()));
        NhanhError::InvalidFormFields(messages)
    }
}

impl IntoResponse for NhanhError {
    fn into_response(self) -> Response {
        let code = self.to_string();
        let (status, body) = match self {
            NhanhError::InvalidAppId => (StatusCode::OK, json!({"messages": "appId is invalid"})),
            NhanhError::InvalidAccessToken => {
                (StatusCode::OK, json!({"messages": "accessToken is invalid or expired"}))
            }
            NhanhError::InvalidBusinessId => (StatusCode::OK, json!({"messages": "businessId is invalid"})),
            NhanhError::InvalidFormFields(m) => (StatusCode::OK, json!({"messages": m})),
            NhanhError::InvalidData(m) | NhanhError::InvalidDepotId(m) => (StatusCode::OK, json!({"messages": m})),
            NhanhError::Locked { unlocked_at, seconds } => (
                StatusCode::OK,
                json!({
                    "message": "Your app exceeded the API Rate Limit",
                    "data": {"lockedSeconds": seconds, "unlockedAt": unlocked_at},
                }),
            ),
            NhanhError::NotFound(path) => (StatusCode::NOT_FOUND, json!({"messages": format!("{path} not found")})),
        };
        let mut body = body;
        if let Some(obj) = body.as_object_mut() {
            obj.insert("code".into(), json!(0));
            obj.insert("errorCode".into(), json!(code));
        }
        (status, Json(body)).into_response()
    }
}

/// The Nhanh routes (without `/_sim/` and faults, which the caller adds).
pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v3.0/{resource}/{action}", post(handle))
        .route("/oauth", get(app::oauth))
        .route("/_sim/nhanh/token", post(app::set_token))
        .with_state(sim)
}

async fn handle(
    State(sim): State<Arc<Sim>>,
    Path((resource, action)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch(&sim, &resource, &action, &params, &headers, &body) {
        Ok(value) => Json(value).into_response(),
        Err(e) => {
            if matches!(e, NhanhError::Locked { .. }) {
                sim.nhanh_stats.event("locked");
            }
            e.into_response()
        }
    }
}

fn dispatch(
    sim: &Sim,
    resource: &str,
    action: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, NhanhError> {
    let path = format!("/v3.0/{resource}/{action}");
    let app_id = params.get("appId").map(String::as_str).unwrap_or("");
    let business_id = params.get("businessId").map(String::as_str).unwrap_or("");
    if sim.faults.throttle(Server::Nhanh) {
        let key = format!("{app_id}|{business_id}|{path}");
        let now = sim.clock.now();
        let decision = sim
            .nhanh_windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .check(now, &sim.config.nhanh);
        if let Decision::Locked { until } = decision {
            let unlocked_ms = sim.clock.unix_ms_at(until);
            return Err(NhanhError::Locked {
                unlocked_at: (unlocked_ms + 999).div_euclid(1000),
                seconds: sim.config.nhanh.lock_seconds,
            });
        }
    }
    let creds = &sim.config.credentials;
    if app_id != creds.nhanh_app_id {
        return Err(NhanhError::InvalidAppId);
    }
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| NhanhError::InvalidData(format!("body is not valid JSON: {e}")))?
    };
    if !body.is_object() {
        return Err(NhanhError::InvalidData("body must be a JSON object".into()));
    }
    if path == "/v3.0/app/getaccesstoken" {
        return app::get_access_token(sim, &body);
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let covered = sim.nhanh_tokens.lock().unwrap_or_else(|e| e.into_inner()).check(token, sim.clock.unix_ms())?;
    if business_id != creds.nhanh_business_id {
        return Err(NhanhError::InvalidBusinessId);
    }
    match path.as_str() {
        "/v3.0/product/list" => list::products(sim, &body, &covered),
        "/v3.0/product/inventory" => list::inventory(sim, &body, &covered),
        "/v3.0/customer/list" => list::customers(sim, &body),
        "/v3.0/app/checkaccesstoken" => app::check_access_token(sim, token, &body),
        "/v3.0/business/depot" => app::business_depots(&body),
        _ => Err(NhanhError::NotFound(path)),
    }
}
