//! Extractors whose rejections answer in the envelope.
//!
//! axum's own `Json`, `Query` and `Path` reject with plain-text bodies; these wrap them (or do the
//! work themselves) so a malformed request always gets `{"success": false, "error": "…"}` with a
//! 4xx status, never a 5xx and never a bare body.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use dongbo_engine::JobId;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// An optional JSON body: an empty body (or `null`) reads as `{}`. A non-empty body must be sent as
/// `application/json`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = json_content_type(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else if is_json {
            &bytes
        } else {
            return Err(ApiError::UnsupportedMediaType(
                "a request body must be JSON sent with `Content-Type: application/json`".into(),
            ));
        };
        let mut value: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))?;
        if value.is_null() {
            // An explicit `null` means "no options", like an empty body.
            value = serde_json::Value::Object(serde_json::Map::new());
        }
        if !value.is_object() {
            return Err(ApiError::Unprocessable("the request body must be a JSON object".into()));
        }
        T::deserialize(value).map(JsonBody).map_err(|e| ApiError::Unprocessable(format!("invalid request body: {e}")))
    }
}

/// Whether the request's `Content-Type` is JSON (`application/json` or `application/*+json`).
pub(super) fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn body_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(super::BODY_LIMIT)
    } else {
        ApiError::BadRequest(format!("could not read the request body: {}", r.body_text()))
    }
}

/// A query string, rejected into the envelope.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|r| ApiError::BadRequest(format!("invalid query string: {}", r.body_text())))
    }
}

/// The `{id}` of a job route, parsed.
#[derive(Debug, Clone, Copy)]
pub struct JobIdPath(pub JobId);

impl<S: Send + Sync> FromRequestParts<S> for JobIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::BadRequest(format!("invalid path: {}", r.body_text())))?;
        parse_job_id(&raw).map(JobIdPath)
    }
}

/// Parses a job id given by a client; the message quotes (a bounded prefix of) what was given.
pub fn parse_job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse::<JobId>().map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        ApiError::BadRequest(format!("malformed job id `{shown}`: expected a UUID"))
    })
}
