//! The HTTP API: the old tool's trigger routes, job views, live progress, the audit trail,
//! health, metrics and the OpenAPI document, over axum.
//!
//! Handlers only read the store and ask the engine for jobs; no work runs inside a request.
//! Every `/api` answer is in the old tool's envelope (`{"success": true, "data": …}` or
//! `{"success": false, "error": "…"}`), including rejections of malformed requests, unknown
//! routes and wrong methods.
//!
//! # Layout
//!
//! - [`error`]: [`ApiError`], the envelope, and the status code of each failure.
//! - [`extract`]: body, query and path extractors that reject into the envelope.
//! - [`auth`]: the bearer token on `/api` and [`check_bind`].
//! - [`guard`]: refuses cross-site (CSRF) and DNS-rebound requests.
//! - [`triggers`]: the thirteen trigger routes (body → job type and input).
//! - [`jobs`], [`progress`], [`audit`]: job views, the old progress query, the audit trail.
//! - [`catalog`]: the conflicts, mappings and failed items listings.
//! - [`console`]: the operator's console: hand-made mappings, records, CSV exports, the queue.
//! - [`locations`]: which Nhanh depots feed which Shopify location.
//! - [`nhanh_auth`]: authorising at Nhanh (OAuth) and where the Nhanh access token stands.
//! - [`schedules`]: durable schedules (CRUD, pause, resume, run now) and a job's children.
//! - [`stream`]: server-sent progress events from the store's live feed.
//! - [`metrics`]: Prometheus text, the step hook for workers, the request counter.
//! - [`service`]: `/healthz`, `/openapi.json`, `/`.
//! - [`server`]: the accept loop, with a header-read timeout and connection limits.
//! - [`views`]: the wire forms of jobs and events.
//! - [`webhooks`]: the vendors' webhooks (verified, recorded, answered) and their deliveries.
//!
//! # Authentication
//!
//! When [`AppState::api_token`] is set, every `/api` route needs `Authorization: Bearer <token>`
//! (401 otherwise). `/healthz`, `/metrics`, `/openapi.json` and `/` are open: they show no data.
//! `/nhanh/oauth/return/{state}` is open too: Nhanh sends the browser there, and the one-time
//! state dongbo issued guards it. So are the webhook receivers (`/api/webhooks/nhanh`,
//! `/api/webhooks/shopify`): the vendors cannot send the token, and prove themselves by the
//! verify token and the HMAC instead.
//!
//! Every state-changing request must be sent as `Content-Type: application/json` (415
//! otherwise), and without a token only loopback `Host` and `Origin` values are served (421 and
//! 403 otherwise); see [`guard`].

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod console;
pub mod error;
pub mod extract;
pub mod guard;
pub mod jobs;
pub mod locations;
pub mod metrics;
pub mod nhanh_auth;
pub mod progress;
pub mod schedules;
pub mod server;
pub mod service;
pub mod stream;
pub mod triggers;
pub mod views;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use dongbo_engine::Engine;
use dongbo_workflows::notices::Notices;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use auth::check_bind;
pub use error::{ApiError, ApiResult};
pub use metrics::{Metrics, UpstreamCounters};
pub use server::ConnectionLimits;

/// The largest request body accepted (1 MiB); larger ones get 413.
pub const BODY_LIMIT: usize = 1 << 20;

/// The longest request target (path and query) accepted (8 KiB); longer ones get 414.
pub const URI_LIMIT: usize = 8 << 10;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The engine: the store and the registered job types.
    pub engine: Engine,
    /// The bearer token `/api` requires; `None` leaves it open (loopback only, see
    /// [`check_bind`]).
    pub api_token: Option<String>,
    /// The process's metrics.
    pub metrics: Metrics,
    /// Conditions an operator must see (shown by `/healthz`, `/metrics` and the dashboard).
    pub notices: Notices,
    /// What the Nhanh token routes need beyond the store.
    pub nhanh_auth: Arc<nhanh_auth::NhanhAuth>,
    /// The secrets the webhook receivers check.
    pub webhooks: Arc<webhooks::WebhookSecrets>,
    /// Records the deliveries the receivers accept (started on first use).
    recorder: Arc<std::sync::OnceLock<dongbo_workflows::webhooks::recorder::Recorder>>,
    /// Set when the server shuts down, so event streams end and connections can close.
    closing: Arc<watch::Sender<bool>>,
    /// The worker loops this process runs (none for an API-only server), for `/healthz`.
    pub workers: dongbo_engine::WorkerHealth,
    /// Bounds on connections and event streams.
    limits: ConnectionLimits,
    /// One permit per event stream that may be open.
    streams: Arc<Semaphore>,
}

impl AppState {
    /// State over `engine`, guarded by `api_token` (surrounding whitespace, such as a newline
    /// from a secrets file, is dropped; a blank token counts as none), with fresh metrics.
    pub fn new(engine: Engine, api_token: Option<String>) -> Self {
        let (closing, _) = watch::channel(false);
        AppState {
            engine,
            api_token: api_token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
            metrics: Metrics::new(),
            notices: Notices::new(),
            nhanh_auth: Arc::new(nhanh_auth::NhanhAuth::default()),
            webhooks: Arc::new(webhooks::WebhookSecrets::default()),
            recorder: Default::default(),
            closing: Arc::new(closing),
            workers: dongbo_engine::WorkerHealth::new(0),
            limits: ConnectionLimits::default(),
            streams: Arc::new(Semaphore::new(ConnectionLimits::default().max_streams)),
        }
    }

    /// Reports `workers` (a [`dongbo_engine::WorkerPool`]'s health) on `/healthz`.
    pub fn with_workers(mut self, workers: dongbo_engine::WorkerHealth) -> Self {
        self.workers = workers;
        self
    }

    /// Uses `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self.streams = Arc::new(Semaphore::new(limits.max_streams));
        self
    }

    /// This process's recorder of webhook deliveries.
    pub fn recorder(&self) -> &dongbo_workflows::webhooks::recorder::Recorder {
        self.recorder.get_or_init(|| dongbo_workflows::webhooks::recorder::Recorder::start(self.engine.store().db()))
    }

    /// The limits on connections and event streams.
    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Uses `metrics` (e.g. the ones whose [`Metrics::step_hook`] the workers report to).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Shows `notices` (e.g. the ones the upstream clients and checks of this process raise).
    pub fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = notices;
        self
    }

    /// Uses `auth` for the Nhanh token routes.
    pub fn with_nhanh_auth(mut self, auth: nhanh_auth::NhanhAuth) -> Self {
        self.nhanh_auth = Arc::new(auth);
        self
    }

    /// Checks webhook deliveries against `secrets`.
    pub fn with_webhook_secrets(mut self, secrets: webhooks::WebhookSecrets) -> Self {
        self.webhooks = Arc::new(secrets);
        self
    }

    /// Ends every open event stream (and refuses to follow new ones) so a graceful shutdown
    /// is not held up by them. [`serve`] calls it when its shutdown signal fires.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }
}

/// The OpenAPI description of every route of [`router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dongbo",
        description = "Nhanh.vn ⇄ Shopify synchronisation as durable jobs. Every /api answer is in the \
                       envelope {\"success\": true, \"data\": …} or {\"success\": false, \"error\": \"…\"}."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "triggers", description = "Start a job; answers at once with its id."),
        (name = "jobs", description = "Jobs, their audit trail and live progress."),
        (name = "audit", description = "What touched a record."),
        (name = "catalog", description = "Conflicts, mappings and failed items of the local catalog."),
        (name = "service", description = "Health, metrics, this document."),
        (name = "nhanh", description = "The Nhanh access token: authorising at Nhanh, and where it stands."),
        (name = "schedules", description = "Durable cron schedules: what fires when, pause, resume, run now."),
        (name = "webhooks", description = "Nhanh and Shopify webhooks, and the deliveries recorded."),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn documented_routes(with_home: bool) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(triggers::routes())
        .merge(jobs::routes())
        .merge(stream::routes())
        .merge(progress::routes())
        .merge(audit::routes())
        .merge(catalog::routes())
        .merge(console::routes())
        .merge(locations::routes())
        .merge(nhanh_auth::routes())
        .merge(schedules::routes())
        .merge(webhooks::routes())
        .merge(metrics::routes())
        .merge(service::routes(with_home))
}

/// The OpenAPI document of [`router`]'s routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = documented_routes(true).into_openapi();
    guard::document(&mut doc);
    doc
}

/// Every route, with a minimal home page at `/`.
pub fn router(state: AppState) -> Router {
    build(state, None)
}

/// Every route, with `dashboard` merged in instead of the minimal home page. The dashboard sits
/// behind the same logging, metrics and error envelope; it must not set its own fallback.
pub fn router_with_dashboard(state: AppState, dashboard: Router<AppState>) -> Router {
    build(state, Some(dashboard))
}

fn build(state: AppState, dashboard: Option<Router<AppState>>) -> Router {
    let (routes, mut doc) = documented_routes(dashboard.is_none()).split_for_parts();
    guard::document(&mut doc);
    let doc = doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "serialising the OpenAPI document failed");
        "{}".to_owned()
    });
    let routes = match dashboard {
        Some(d) => routes.merge(d),
        None => routes,
    };
    // Layers run outside in: the last added sees the request first.
    routes
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token))
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn(limit_uri))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal("a handler panicked".into()).into_response()))
        .layer(middleware::from_fn(ensure_envelope))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::count_requests))
        .layer(Extension(service::OpenApiText(Arc::new(doc))))
        // Request logs name the method, URI, status and latency; never the headers (tokens).
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO).include_headers(false))
                .on_response(DefaultOnResponse::new().level(Level::INFO).include_headers(false)),
        )
        .with_state(state)
}

/// Serves [`router`] on `listener` under the state's [`ConnectionLimits`] until `shutdown`
/// resolves, then closes event streams and waits for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, router(state.clone()), state, shutdown).await
}

/// Like [`serve`], with a dashboard (see [`router_with_dashboard`]).
pub async fn serve_with_dashboard(
    listener: TcpListener,
    state: AppState,
    dashboard: Router<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, router_with_dashboard(state.clone(), dashboard), state, shutdown).await
}

async fn serve_app(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, guarded = state.api_token.is_some(), "HTTP API listening");
    }
    server::run(listener, app, state, shutdown).await
}

/// Middleware: a request target longer than [`URI_LIMIT`] is a 414 in the envelope. (One past
/// hyper's own parser limit, 64 KiB, never reaches the router: hyper answers it with a bare 414.)
async fn limit_uri(request: Request, next: Next) -> Response {
    let len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if len > URI_LIMIT {
        return ApiError::UriTooLong(URI_LIMIT).into_response();
    }
    next.run(request).await
}

/// Unknown routes: 404 in the envelope.
async fn not_found(request: Request) -> ApiError {
    let path: String = request.uri().path().chars().take(128).collect();
    ApiError::NotFound(format!("no route for {} {path}", request.method()))
}

/// Middleware: an error answer that is not already JSON (axum's 405, a panic, a layer's
/// rejection) is replaced by the error envelope with the same status and headers.
async fn ensure_envelope(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed for this route".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => format!("request body is larger than the limit of {BODY_LIMIT} bytes"),
        s if s.is_server_error() => "internal server error (details are in the server log)".to_owned(),
        s => s.canonical_reason().unwrap_or("request failed").to_lowercase(),
    };
    let body = serde_json::json!({ "success": false, "error": message }).to_string();
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
