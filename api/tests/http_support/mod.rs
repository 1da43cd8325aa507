//! What the HTTP tests share: an app on a fresh SQLite file, stub workflows under the real
//! trigger job types, the route list of DESIGN.md, and request helpers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use dongbo_api::http::{self, AppState};
use dongbo_engine::example::ExampleCount;
use dongbo_engine::{Engine, Registry, Step, StepContext, StepError, Workflow};
use dongbo_tests::TestDb;
use serde_json::Value;
use tower::ServiceExt;

/// The trigger routes of DESIGN.md with their job types, written out here (not taken from the
/// crate) so a route the crate forgets fails the tests.
pub const TRIGGERS: &[(&str, &str)] = &[
    ("/api/nhanh/pull-products", "PULL_NHANH_PRODUCTS"),
    ("/api/shopify/pull-products-sync", "PULL_SHOPIFY_PRODUCTS"),
    ("/api/nhanh/pull-customers-all", "PULL_NHANH_CUSTOMERS"),
    ("/api/nhanh/pull-customers-incremental", "PULL_NHANH_CUSTOMERS"),
    ("/api/nhanh/pull-customers", "PULL_NHANH_CUSTOMERS"),
    ("/api/shopify/pull-customers", "PULL_SHOPIFY_CUSTOMERS"),
    ("/api/sync/auto-match-products", "AUTO_MATCH_PRODUCTS"),
    ("/api/sync/auto-match", "AUTO_MATCH_CUSTOMERS"),
    ("/api/sync/auto-match-sql", "AUTO_MATCH_CUSTOMERS"),
    ("/api/sync/auto-match-batch", "AUTO_MATCH_CUSTOMERS"),
    ("/api/sync/bulk-sync-products", "PRODUCT_SYNC"),
    ("/api/sync/bulk-sync-background", "CUSTOMER_SYNC"),
    ("/api/sync/retry-failed", "RETRY_FAILED_SYNC"),
];

/// Every other route of DESIGN.md: (method, path template). `{id}` is a job id.
pub const VIEWS: &[(&str, &str)] = &[
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{id}"),
    ("GET", "/api/jobs/{id}/events"),
    ("GET", "/api/jobs/{id}/stream"),
    ("POST", "/api/jobs/{id}/cancel"),
    ("GET", "/api/sync/job-progress"),
    ("GET", "/api/audit"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/"),
];

/// Every route of DESIGN.md: (method, path template).
pub fn design_routes() -> Vec<(&'static str, &'static str)> {
    TRIGGERS.iter().map(|(p, _)| ("POST", *p)).chain(VIEWS.iter().copied()).collect()
}

/// A stand-in for a real workflow: one step that completes. One job per type at a time (its
/// concurrency key is the type), and a `limit` over 1000 is refused, like a real validation.
pub struct Stub(pub &'static str);

#[async_trait]
impl Workflow for Stub {
    type Input = Value;
    type State = u32;

    fn job_type(&self) -> &'static str {
        self.0
    }

    fn validate(&self, input: &Value) -> Result<(), String> {
        match input.get("limit").and_then(Value::as_u64) {
            Some(l) if l > 1000 => Err(format!("limit must be at most 1000, not {l}")),
            _ => Ok(()),
        }
    }

    fn concurrency_key(&self, _input: &Value) -> Option<String> {
        Some(self.0.to_owned())
    }

    fn initial_state(&self, _input: &Value) -> u32 {
        0
    }

    async fn step(&self, _ctx: &StepContext, _input: &Value, _state: u32) -> Result<Step<u32>, StepError> {
        Ok(Step::complete("done", serde_json::json!({})))
    }
}

/// `EXAMPLE_COUNT` plus a stub under every trigger's job type.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(ExampleCount);
    for (_, job_type) in TRIGGERS {
        r.register(Stub(job_type));
    }
    r
}

/// An app on its own database.
pub struct TestApp {
    /// Keeps the database file alive.
    pub db: TestDb,
    /// The engine behind the app.
    pub engine: Engine,
    /// The state the router was built from.
    pub state: AppState,
    /// The router.
    pub router: Router,
}

/// An app with [`registry`] and `token`.
pub async fn app(token: Option<&str>) -> TestApp {
    app_with(token, registry()).await
}

/// An app with a given registry.
pub async fn app_with(token: Option<&str>, registry: Registry) -> TestApp {
    let db = dongbo_tests::sqlite_db();
    let store = dongbo_workflows::open(&db.url).await.expect("open the test database");
    let engine = Engine::new(store, registry);
    let state = AppState::new(engine.clone(), token.map(str::to_owned));
    let router = http::router(state.clone());
    TestApp { db, engine, state, router }
}

/// An answer, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
    pub json: Option<Value>,
}

impl Answer {
    /// The envelope's `data`, asserting success.
    pub fn data(&self) -> &Value {
        let json = self.json.as_ref().unwrap_or_else(|| panic!("not JSON: {self:?}"));
        assert_eq!(json["success"], Value::Bool(true), "not a success envelope: {self:?}");
        &json["data"]
    }

    /// The envelope's `error`, asserting failure with `status`.
    pub fn error(&self, status: StatusCode) -> &str {
        assert_eq!(self.status, status, "{self:?}");
        let json = self.json.as_ref().unwrap_or_else(|| panic!("not JSON: {self:?}"));
        assert_eq!(json["success"], Value::Bool(false), "not an error envelope: {self:?}");
        let error = json["error"].as_str().unwrap_or_else(|| panic!("no error message: {self:?}"));
        assert!(!error.is_empty(), "empty error message: {self:?}");
        error
    }
}

/// A request through the router (no network).
pub struct Call {
    request: axum::http::request::Builder,
    content_type: Option<String>,
    body: Body,
}

/// Starts a request. A state-changing one (not GET, HEAD, OPTIONS or TRACE) is sent as
/// `application/json` with an empty body unless told otherwise, as every client must.
pub fn call(method: &str, path: &str) -> Call {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let safe = [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(&method);
    let content_type = (!safe).then(|| "application/json".to_owned());
    Call { request: Request::builder().method(method).uri(path), content_type, body: Body::empty() }
}

impl Call {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(self, body: &Value) -> Self {
        self.raw("application/json", body.to_string().into_bytes())
    }

    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.content_type = Some(content_type.to_owned());
        self.body = Body::from(body);
        self
    }

    /// Sends no `Content-Type` header.
    pub fn without_content_type(mut self) -> Self {
        self.content_type = None;
        self
    }

    /// Sends it and reads the whole answer (not for event streams).
    pub async fn send(self, router: &Router) -> Answer {
        let response = self.send_head(router).await;
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20).await.expect("read the body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).ok();
        Answer { status, content_type, text, json }
    }

    /// Sends it and returns the response without reading the body.
    pub async fn send_head(self, router: &Router) -> axum::http::Response<Body> {
        let mut request = self.request;
        if let Some(ct) = &self.content_type {
            request = request.header("content-type", ct);
        }
        let request = request.body(self.body).expect("request");
        router.clone().oneshot(request).await.expect("the router is infallible")
    }
}

/// Triggers a route and returns the job id.
pub async fn trigger(router: &Router, path: &str, token: Option<&str>) -> String {
    let mut c = call("POST", path);
    if let Some(t) = token {
        c = c.token(t);
    }
    let a = c.send(router).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{a:?}");
    a.data()["jobId"].as_str().expect("jobId").to_owned()
}

/// A server on 127.0.0.1:0; shut it down with the sender.
pub struct Server {
    pub base: String,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn spawn_server(state: AppState) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(http::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Server { base: format!("http://{addr}"), stop, task }
}

/// Fails the test when `fut` takes longer than `secs`.
pub async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}
