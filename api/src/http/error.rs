//! The API's errors and the envelope every answer travels in.
//!
//! Success is `{"success": true, "data": …}`; failure is `{"success": false, "error": "…"}` with
//! the status code of the [`ApiError`] variant. Unexpected failures are logged in full and
//! answered with a generic message, so no SQL, secret or stack trace reaches a client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dongbo_engine::{EngineError, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// A successful answer: `{"success": true, "data": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    /// The answer.
    pub data: T,
}

/// A failed answer: `{"success": false, "error": "…"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    /// What went wrong, for a human.
    pub error: String,
}

/// A handler's successful answer: a status code and the data to wrap in the envelope.
#[derive(Debug)]
pub struct Reply<T> {
    status: StatusCode,
    data: T,
}

impl<T> Reply<T> {
    /// `200 OK`.
    pub fn ok(data: T) -> Self {
        Reply { status: StatusCode::OK, data }
    }

    /// `202 Accepted`.
    pub fn accepted(data: T) -> Self {
        Reply { status: StatusCode::ACCEPTED, data }
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let body = Envelope { success: true, data: self.data };
        (self.status, Json(body)).into_response()
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or its values are out of range (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid bearer token (401).
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The request is refused whoever sends it, e.g. from a foreign `Origin` (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The body exceeds the limit (413).
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The request target exceeds the limit (414).
    #[error("the request target (path and query) is longer than the limit of {0} bytes")]
    UriTooLong(usize),
    /// The body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request is addressed to a host this server does not answer for (421).
    #[error("{0}")]
    Misdirected(String),
    /// Well-formed JSON of the wrong shape (422).
    #[error("{0}")]
    Unprocessable(String),
    /// This build cannot do it (503), e.g. the job type is not registered.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed (500); the detail is logged, never sent.
    #[error("internal error")]
    Store(#[source] StoreError),
    /// Something else failed unexpectedly (500); the detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

/// The most characters of a client's input an error message quotes.
pub const ECHO_LIMIT: usize = 200;

/// The most characters of an error message sent to a client.
pub const MESSAGE_LIMIT: usize = 400;

/// `value` as an error message may quote it: at most [`ECHO_LIMIT`] characters, with `…` when
/// cut.
pub fn truncated(value: &str) -> String {
    cut(value, ECHO_LIMIT)
}

/// The first `limit` characters of `value`, with `…` when cut.
fn cut(value: &str, limit: usize) -> String {
    match value.char_indices().nth(limit) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

/// Handler result.
pub type ApiResult<T> = Result<Reply<T>, ApiError>;

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Misdirected(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a client sees. Messages that quote the client's input (a serde error, a bad
    /// query value) are cut at [`MESSAGE_LIMIT`] characters, so a huge input is not echoed back.
    fn public_message(&self) -> String {
        match self {
            ApiError::Store(_) | ApiError::Internal(_) => {
                "internal server error (details are in the server log)".to_owned()
            }
            other => cut(&other.to_string(), MESSAGE_LIMIT),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Store(e) => tracing::error!(error = %e, "store failure while serving a request"),
            ApiError::Internal(detail) => tracing::error!(%detail, "internal failure while serving a request"),
            _ => {}
        }
        let status = self.status();
        let body = ErrorEnvelope { success: false, error: self.public_message() };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => ApiError::NotFound(format!("job {id} not found")),
            StoreError::Fenced(id) => ApiError::Conflict(format!("job {id} changed concurrently; try again")),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            other => ApiError::Store(other),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownJobType(t) => ApiError::Unavailable(format!(
                "job type {t} is not available in this build (no workflow is registered for it)"
            )),
            EngineError::InvalidInput(msg) => ApiError::BadRequest(msg),
            EngineError::Store(e) => e.into(),
        }
    }
}
