//! The Nhanh.vn v3 client: `POST {base}/v3.0/{resource}/{action}?appId=…&businessId=…` with the
//! raw token in `Authorization`, paced per URL by a [`NhanhPacing`] (in this process, or shared by
//! every process on one PostgreSQL database), retrying transient failures and lock-outs a bounded
//! number of times.

pub mod app;
pub mod reply;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tracing::Instrument;

use super::error::{ConnectorError, Result};
use super::limiter::pacing::{NhanhPacing, PacingScope};
use super::limiter::window::WindowConfig;
use super::retry::RetryPolicy;
use super::secret::Secret;
use super::stats::{ConnectorStats, Counters};
use super::transport::{http_client, send, upstream_span};
pub use app::{get_access_token, AccessTokenInfo, GrantedToken, NhanhDepot, NhanhDepotLocation};
use reply::{read_reply, Outcome};
pub use types::*;

/// Where and as whom to call Nhanh.
#[derive(Debug, Clone)]
pub struct NhanhConfig {
    /// E.g. `https://pos.open.nhanh.vn` (no trailing path).
    pub base_url: String,
    /// The app id (not secret; sent in the query string).
    pub app_id: String,
    /// The business id (not secret; sent in the query string).
    pub business_id: String,
    /// The access token.
    pub access_token: Secret,
    /// The app's secret key, which `app/checkaccesstoken` needs in its body; `None` when not
    /// configured (then [`NhanhClient::check_access_token`] fails with a reason naming it).
    pub secret_key: Option<Secret>,
    /// Rows per page, 1 to 100.
    pub page_size: u32,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl NhanhConfig {
    /// A config with 100 rows per page and a 30 s timeout.
    pub fn new(
        base_url: impl Into<String>,
        app_id: impl Into<String>,
        business_id: impl Into<String>,
        access_token: Secret,
    ) -> Self {
        NhanhConfig {
            base_url: base_url.into(),
            app_id: app_id.into(),
            business_id: business_id.into(),
            access_token,
            secret_key: None,
            page_size: 100,
            timeout: Duration::from_secs(30),
        }
    }

    /// This config with the app's secret key (for `app/checkaccesstoken`).
    pub fn with_secret_key(mut self, secret_key: Secret) -> Self {
        self.secret_key = Some(secret_key);
        self
    }

    /// A config from `NHANH_BASE_URL`, `NHANH_APP_ID`, `NHANH_BUSINESS_ID` and
    /// `NHANH_ACCESS_TOKEN` as looked up by `var` (the process environment, or a simulator's
    /// `env()`), plus `NHANH_SECRET_KEY` when set; the error names the first one missing.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> std::result::Result<Self, &'static str> {
        let get = |k: &'static str| var(k).filter(|v| !v.is_empty()).ok_or(k);
        let cfg = NhanhConfig::new(
            get("NHANH_BASE_URL")?,
            get("NHANH_APP_ID")?,
            get("NHANH_BUSINESS_ID")?,
            Secret::new(get("NHANH_ACCESS_TOKEN")?),
        );
        Ok(match get("NHANH_SECRET_KEY") {
            Ok(key) => cfg.with_secret_key(Secret::new(key)),
            Err(_) => cfg,
        })
    }
}

struct Inner {
    cfg: NhanhConfig,
    http: reqwest::Client,
    limiter: NhanhPacing,
    limits: WindowConfig,
    retry: RetryPolicy,
    counters: Counters,
}

/// A Nhanh v3 client. Cheap to clone; clones share the limiter, so one client (and its clones)
/// per appId + businessId keeps the whole process under the limit — and, with
/// [`PacingScope::Cluster`], every process on the same PostgreSQL database.
#[derive(Clone)]
pub struct NhanhClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NhanhClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhanhClient").field("cfg", &self.inner.cfg).finish_non_exhaustive()
    }
}

impl NhanhClient {
    /// A client with Nhanh's published limit (150 requests / 30 s per URL) and the default
    /// retry policy.
    pub fn new(cfg: NhanhConfig) -> Result<Self> {
        Self::with_policy(cfg, WindowConfig::default(), RetryPolicy::default())
    }

    /// A client with explicit pacing and retry settings, paced in this process (tests shorten
    /// the window).
    pub fn with_policy(cfg: NhanhConfig, limits: WindowConfig, retry: RetryPolicy) -> Result<Self> {
        Self::with_pacing(cfg, limits, retry, PacingScope::Process)
    }

    /// A client whose slots live in `scope`: [`PacingScope::Cluster`] when several processes
    /// call the same app.
    pub fn with_pacing(cfg: NhanhConfig, limits: WindowConfig, retry: RetryPolicy, scope: PacingScope) -> Result<Self> {
        if !(1..=100).contains(&cfg.page_size) {
            return Err(ConnectorError::permanent(format!("Nhanh page size must be 1 to 100, not {}", cfg.page_size)));
        }
        let mut token = HeaderValue::from_str(cfg.access_token.expose())
            .map_err(|_| ConnectorError::permanent("the Nhanh access token is not a valid header value"))?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, token);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = http_client(headers, cfg.timeout)?;
        let limiter = NhanhPacing::new(scope, limits, &cfg.app_id, &cfg.business_id, cfg.timeout);
        let inner = Inner { cfg, http, limiter, limits, retry, counters: Counters::default() };
        Ok(NhanhClient { inner: Arc::new(inner) })
    }

    /// The same client (configuration, limits, retries) paced with slots in `scope`; its
    /// counters start from zero.
    pub fn rescoped(&self, scope: PacingScope) -> Result<Self> {
        let inner = &*self.inner;
        Self::with_pacing(inner.cfg.clone(), inner.limits, inner.retry, scope)
    }

    /// Whether this client shares its slots with other processes.
    pub fn shares_pacing(&self) -> bool {
        self.inner.limiter.is_shared()
    }

    /// Counters since the client was made.
    pub fn stats(&self) -> ConnectorStats {
        self.inner.counters.snapshot()
    }

    /// One page of `product/list`, newest id first. Pass `next` back exactly as received.
    pub async fn list_products(
        &self,
        filters: &ProductFilters,
        next: Option<Value>,
    ) -> Result<NhanhPage<NhanhProduct>> {
        self.list("product/list", json!(filters), next).await
    }

    /// One page of `product/inventory` for these filters (at most 100 ids).
    pub async fn product_inventory(
        &self,
        filters: &InventoryFilters,
        next: Option<Value>,
    ) -> Result<NhanhPage<NhanhProductInventory>> {
        if filters.ids.len() > 100 {
            return Err(ConnectorError::permanent(format!(
                "product/inventory takes at most 100 ids, got {}",
                filters.ids.len()
            )));
        }
        self.list("product/inventory", json!(filters), next).await
    }

    /// One page of `product/inventory` whose rows are decoded one by one: a bad row comes back
    /// as [`Parsed::Unreadable`] instead of failing the page.
    pub async fn product_inventory_rows(
        &self,
        filters: &InventoryFilters,
        next: Option<Value>,
    ) -> Result<NhanhPage<Parsed<NhanhProductInventory>>> {
        if filters.ids.len() > 100 {
            return Err(ConnectorError::permanent(format!(
                "product/inventory takes at most 100 ids, got {}",
                filters.ids.len()
            )));
        }
        self.list("product/inventory", json!(filters), next).await
    }

    /// One page of `product/list` whose rows are decoded one by one (see
    /// [`NhanhClient::product_inventory_rows`]).
    pub async fn list_product_rows(
        &self,
        filters: &ProductFilters,
        next: Option<Value>,
    ) -> Result<NhanhPage<Parsed<NhanhProduct>>> {
        self.list("product/list", json!(filters), next).await
    }

    /// Whether a secret key is configured, so [`NhanhClient::check_access_token`] can run.
    pub fn can_check_access_token(&self) -> bool {
        self.inner.cfg.secret_key.is_some()
    }

    /// One page of `customer/list`, newest id first.
    pub async fn list_customers(
        &self,
        filters: &CustomerFilters,
        next: Option<Value>,
    ) -> Result<NhanhPage<NhanhCustomer>> {
        self.list("customer/list", json!(filters), next).await
    }

    /// Sends one listing call, pacing, retrying and redacting.
    async fn list<T: DeserializeOwned>(
        &self,
        call: &'static str,
        filters: Value,
        next: Option<Value>,
    ) -> Result<NhanhPage<T>> {
        let inner = &*self.inner;
        let mut paginator = json!({"size": inner.cfg.page_size});
        // Each page documents its own sort key: `product/inventory` sorts by `productId`, and
        // `customer/list` documents none, so none is sent.
        match call {
            "product/inventory" => paginator["sort"] = json!({"productId": "desc"}),
            "customer/list" => {}
            _ => paginator["sort"] = json!({"id": "desc"}),
        }
        if let Some(next) = next {
            paginator["next"] = next;
        }
        let body = json!({"filters": filters, "paginator": paginator});
        self.post(call, &body, read_reply::<T>).await
    }

    /// Sends `body` to `call`, pacing, retrying transient failures and lock-outs a bounded number
    /// of times, and reading the reply with `read`.
    async fn post<P>(
        &self,
        call: &'static str,
        body: &Value,
        read: fn(&str, u16, &[u8], i64) -> Outcome<P>,
    ) -> Result<P> {
        let inner = &*self.inner;
        let path = format!("/v3.0/{call}");
        let url = format!("{}{path}", inner.cfg.base_url.trim_end_matches('/'));
        let query = [("appId", inner.cfg.app_id.as_str()), ("businessId", inner.cfg.business_id.as_str())];
        let mut failures = 0u32;
        loop {
            // One span per attempt, under whatever span is current (the job's step, when a worker
            // runs it): the URL, the slot it took (shared pacing), the wait, the status.
            let span = upstream_span("nhanh", call, failures + 1);
            let (permit, waited) =
                inner.limiter.acquire(&path).instrument(span.clone()).await.map_err(|e| self.redact(e))?;
            span.record("waited_ms", waited.as_millis() as u64);
            if let Some(slot) = permit.slot() {
                span.record("slot", slot);
            }
            inner.counters.waited(waited);
            inner.counters.request();
            let started = tokio::time::Instant::now();
            let sent = send(inner.http.post(&url).query(&query).json(body), call).instrument(span.clone()).await;
            permit.complete().instrument(span.clone()).await;
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            let outcome = match sent {
                Ok(reply) => {
                    span.record("status", reply.status);
                    let now_unix = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64);
                    match read(call, reply.status, &reply.body, now_unix) {
                        Outcome::Failed(ConnectorError::Transient { reason, retry_after: None }) => {
                            Outcome::Failed(ConnectorError::Transient { reason, retry_after: reply.retry_after })
                        }
                        other => other,
                    }
                }
                Err(e) => Outcome::Failed(e),
            };
            span.record("result", outcome.label());
            span.in_scope(|| tracing::info!("nhanh call"));
            let (error, wait) = match outcome {
                Outcome::Page(page) => return Ok(page),
                Outcome::Locked { locked_for, reason } => {
                    inner.counters.locked_out();
                    // A lock-out longer than the cap is refused with a reason and held at the cap.
                    let e = inner.retry.bounded(ConnectorError::Transient { reason, retry_after: Some(locked_for) });
                    let locked_for = e.retry_after().unwrap_or(locked_for);
                    inner.limiter.lock(&path, locked_for).instrument(span.clone()).await;
                    span.in_scope(|| {
                        tracing::warn!(call, locked_s = locked_for.as_secs(), "nhanh locked the app out of this URL")
                    });
                    // The limiter itself holds the next attempt until the lock has passed.
                    (e, None)
                }
                Outcome::Failed(e) if e.is_transient() => {
                    let wait = e.retry_after();
                    (e, Some(wait))
                }
                Outcome::Failed(e) => return Err(self.redact(e)),
            };
            failures += 1;
            let too_long = error.retry_after().is_some_and(|w| w > inner.retry.max_upstream_wait);
            if !inner.retry.may_retry(failures) || too_long {
                let error = inner.retry.bounded(self.redact(error));
                span.in_scope(|| tracing::warn!(call, failures, "nhanh call gave up: {error}"));
                return Err(error);
            }
            if let Some(upstream) = wait {
                let delay = inner.retry.delay(failures, rand::thread_rng().gen(), upstream);
                span.in_scope(|| tracing::debug!(call, failures, delay_ms = delay.as_millis() as u64, "nhanh retry"));
                tokio::time::sleep(delay).await;
            }
            inner.counters.retry();
        }
    }

    fn redact(&self, e: ConnectorError) -> ConnectorError {
        let token = &self.inner.cfg.access_token;
        e.map_reason(|r| token.redact(&r))
    }
}
