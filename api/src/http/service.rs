//! The service routes outside `/api`: health, the OpenAPI document and the placeholder home page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use dongbo_engine::JobFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorEnvelope};
use super::views::{Health, NoticeView};
use super::AppState;

/// The OpenAPI document, serialised once when the router is built.
#[derive(Clone)]
pub struct OpenApiText(pub Arc<String>);

pub(super) fn routes(with_home: bool) -> OpenApiRouter<AppState> {
    let r = OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(openapi_json));
    if with_home {
        r.routes(routes!(home))
    } else {
        r
    }
}

/// Liveness and readiness: answers `{"status": "ok", "workers": {"configured": N, "live": M},
/// "notices": []}` once a cheap store query succeeds (not in the envelope, as load balancers
/// expect; a failure is a 503 in the error envelope). The status is `degraded`, still with 200,
/// while fewer worker loops run than configured (the supervisor is restarting them) or a notice
/// is raised (the server works, but someone should act before jobs start failing).
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses(
        (status = 200, description = "The server and its database answer (`degraded` when worker loops are down or a notice is raised)", body = Health),
        (status = 503, description = "The database does not answer", body = ErrorEnvelope),
    ))]
pub async fn healthz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    let probe = JobFilter { limit: 1, ..JobFilter::default() };
    match state.engine.store().list_jobs(&probe).await {
        Ok(_) => Ok(axum::Json(Health::of(&state.workers, &state.notices.list()))),
        Err(e) => {
            tracing::error!(error = %e, "health check: the store does not answer");
            Err(ApiError::Unavailable("the database does not answer".into()))
        }
    }
}

/// This document: the OpenAPI 3.1 description of every route, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
pub async fn openapi_json(Extension(doc): Extension<OpenApiText>) -> Response {
    let mut response = doc.0.as_str().to_owned().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A placeholder home page listing the service's links, until the dashboard replaces it.
#[utoipa::path(get, path = "/", tag = "service",
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String)))]
pub async fn home() -> Html<&'static str> {
    Html(HOME)
}

const HOME: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dongbo</title></head>
<body>
<h1>dongbo</h1>
<p>Nhanh.vn ⇄ Shopify synchronisation, run as durable jobs.</p>
<ul>
<li><a href="/api/jobs">/api/jobs</a> — jobs, newest first (bearer token required when one is set)</li>
<li><a href="/openapi.json">/openapi.json</a> — the API description</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics</li>
<li><a href="/healthz">/healthz</a> — health</li>
</ul>
</body></html>
"#;
