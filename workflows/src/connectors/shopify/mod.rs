//! The Shopify GraphQL Admin client: `POST {shop}/admin/api/{version}/graphql.json` with
//! `X-Shopify-Access-Token`, paced by the cost bucket ([`ShopifyLimiter`]), retrying THROTTLED
//! replies and transient failures a bounded number of times.
//!
//! Reads are here; writes are in [`mutations`], bulk exports in [`bulk`], the versions
//! dongbo speaks in [`version`], and every document it can send in [`sent`].

pub mod bulk;
pub mod documents;
pub mod mutations;
pub mod readback;
pub mod reply;
pub mod sent;
pub mod subscriptions;
pub mod types;
pub mod version;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use super::error::{ConnectorError, Result};
use super::limiter::ShopifyLimiter;
use super::retry::RetryPolicy;
use super::secret::Secret;
use super::stats::{ConnectorStats, Counters};
use super::transport::{http_client, send, upstream_span};
use crate::notices::{NoticeKey, NoticeLevel, Notices};
pub use bulk::{BulkKind, BulkOperation, BulkProductLine};
use documents as doc;
pub use mutations::{
    CustomerIdentifier, CustomerSetInput, CustomerSetOutcome, InventoryQuantity, MetafieldInput, MetafieldsSetOutcome,
    SetMetafield, UserError, VariantUpdate, VariantsUpdateOutcome,
};
use reply::{decode, read_reply, Outcome};
use types::{Connection, CustomerNode, ProductNode};
pub use types::{Count, Money, ShopifyCustomer, ShopifyLocation, ShopifyPage, ShopifyProduct, ShopifyVariant};
pub use version::{ApiVersion, VersionChange, VersionError, VersionStatus};

/// Where and as whom to call Shopify.
#[derive(Debug, Clone)]
pub struct ShopifyConfig {
    /// `https://{shop}.myshopify.com` (no trailing path); plain `http://` only on loopback.
    pub shop_url: String,
    /// The Admin API access token.
    pub access_token: Secret,
    /// The Admin API version every request names.
    pub api_version: ApiVersion,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Why the Shopify configuration cannot be used; each names the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopifyConfigError {
    /// A required variable is absent or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// `SHOPIFY_API_VERSION` names a version dongbo cannot use.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// `SHOPIFY_SHOP_URL` is not an `https://` URL (or `http://` on a loopback host).
    #[error("SHOPIFY_SHOP_URL {url:?} {problem}")]
    ShopUrl {
        /// What was configured.
        url: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Checks that `url` is where an access token may be sent: `https://`, or `http://` to a
/// loopback host (the simulator, a local proxy), never plain HTTP across a network.
pub fn check_shop_url(url: &str) -> std::result::Result<(), ShopifyConfigError> {
    let refuse = |problem| Err(ShopifyConfigError::ShopUrl { url: url.to_owned(), problem });
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return refuse("is not a URL (expected https://{shop}.myshopify.com)");
    };
    let Some(host) = parsed.host_str() else {
        return refuse("has no host (expected https://{shop}.myshopify.com)");
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => refuse("uses plain http:// to a host that is not loopback: the access token would cross the network unencrypted; use https://"),
        _ => refuse("must start with https://"),
    }
}

impl ShopifyConfig {
    /// A config with the default API version and a 30 s timeout.
    pub fn new(shop_url: impl Into<String>, access_token: Secret) -> Self {
        ShopifyConfig {
            shop_url: shop_url.into(),
            access_token,
            api_version: version::DEFAULT,
            timeout: Duration::from_secs(30),
        }
    }

    /// A config from `SHOPIFY_SHOP_URL`, `SHOPIFY_ACCESS_TOKEN` and optionally
    /// `SHOPIFY_API_VERSION` as looked up by `var`, checked against today's date.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> std::result::Result<Self, ShopifyConfigError> {
        Self::from_vars_on(var, chrono::Utc::now().date_naive())
    }

    /// As [`ShopifyConfig::from_vars`], with the version checked against `today`: a version
    /// dongbo does not speak, or that Shopify no longer supports on `today`, is refused with
    /// a message naming the ones it can use.
    pub fn from_vars_on(
        var: impl Fn(&str) -> Option<String>,
        today: chrono::NaiveDate,
    ) -> std::result::Result<Self, ShopifyConfigError> {
        let get = |k: &'static str| var(k).filter(|v| !v.trim().is_empty()).ok_or(ShopifyConfigError::Missing(k));
        let shop_url = get("SHOPIFY_SHOP_URL")?;
        check_shop_url(&shop_url)?;
        let mut cfg = ShopifyConfig::new(shop_url, Secret::new(get("SHOPIFY_ACCESS_TOKEN")?));
        if let Ok(v) = get("SHOPIFY_API_VERSION") {
            cfg.api_version = version::choose(&v, today)?;
        }
        Ok(cfg)
    }
}

/// The notice raised while Shopify answers with another API version than the one asked for.
pub const VERSION_SERVED: NoticeKey = NoticeKey::new("shopify_api_version_served");

/// The notice raised from 90 days before the configured API version leaves Shopify's support.
pub const VERSION_SUPPORT: NoticeKey = NoticeKey::new("shopify_api_version_support");

/// Raises [`VERSION_SUPPORT`]: a warning while the version is still supported, an error after.
fn raise_end_of_support(notices: &Notices, end: version::EndOfSupport) {
    let level = if end.days_left > 0 { NoticeLevel::Warning } else { NoticeLevel::Error };
    notices.raise(VERSION_SUPPORT, level, end.to_string(), chrono::Utc::now());
}

/// How the client pages and retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShopifyPolicy {
    /// In-call retries of transient failures and THROTTLED replies.
    pub retry: RetryPolicy,
    /// Variants read with each product in a page; the rest via `product_variants_page`.
    pub variants_per_product: u32,
}

impl Default for ShopifyPolicy {
    fn default() -> Self {
        ShopifyPolicy { retry: RetryPolicy::default(), variants_per_product: 10 }
    }
}

struct Inner {
    cfg: ShopifyConfig,
    endpoint: String,
    http: reqwest::Client,
    /// Without the token: bulk result URLs point at storage outside the shop.
    download: reqwest::Client,
    limiter: ShopifyLimiter,
    policy: ShopifyPolicy,
    counters: Counters,
    /// The server's `requestedQueryCost` of each query shape seen so far.
    learned_costs: Mutex<HashMap<String, f64>>,
    /// The version asked for, the one Shopify answers with, and the asked one's end of support.
    version: Mutex<VersionStatus>,
    /// Where a version Shopify does not answer with, or one leaving support, is reported.
    notices: Notices,
}

/// A Shopify GraphQL Admin client. Cheap to clone; clones share the cost bucket.
#[derive(Clone)]
pub struct ShopifyClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ShopifyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyClient").field("cfg", &self.inner.cfg).finish_non_exhaustive()
    }
}

impl ShopifyClient {
    /// A client with the default policy.
    pub fn new(cfg: ShopifyConfig) -> Result<Self> {
        Self::with_policy(cfg, ShopifyPolicy::default())
    }

    /// A client with an explicit policy, reporting to a registry of its own.
    pub fn with_policy(cfg: ShopifyConfig, policy: ShopifyPolicy) -> Result<Self> {
        Self::with_notices(cfg, policy, Notices::new())
    }

    /// A client with an explicit policy that raises its notices (the API version Shopify
    /// answers with when it is not the one asked for; the asked version's end of support) in
    /// `notices`, the registry `/healthz`, `/metrics` and the dashboard read.
    pub fn with_notices(cfg: ShopifyConfig, policy: ShopifyPolicy, notices: Notices) -> Result<Self> {
        let mut token = HeaderValue::from_str(cfg.access_token.expose())
            .map_err(|_| ConnectorError::permanent("the Shopify access token is not a valid header value"))?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-shopify-access-token"), token);
        let http = http_client(headers, cfg.timeout)?;
        let download = http_client(HeaderMap::new(), cfg.timeout.max(Duration::from_secs(300)))?;
        let endpoint = format!("{}/admin/api/{}/graphql.json", cfg.shop_url.trim_end_matches('/'), cfg.api_version);
        let version = VersionStatus::new(cfg.api_version, chrono::Utc::now().date_naive());
        if let Some(end) = version.end_of_support {
            raise_end_of_support(&notices, end);
        }
        let inner = Inner {
            cfg,
            endpoint,
            http,
            download,
            limiter: ShopifyLimiter::with_max_wait(policy.retry.max_wait),
            policy,
            counters: Counters::default(),
            learned_costs: Mutex::new(HashMap::new()),
            version: Mutex::new(version),
            notices,
        };
        Ok(ShopifyClient { inner: Arc::new(inner) })
    }

    /// The version asked for, the one Shopify last answered with when it differed, and how
    /// close the asked one is to the end of its support.
    pub fn version_status(&self) -> VersionStatus {
        self.inner.version.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads a reply's `X-Shopify-API-Version` and raises or clears the notices for what
    /// changed (the registry logs each once per change, not per request).
    fn observe_version(&self, headers: &HeaderMap) {
        let answered = headers.get("x-shopify-api-version").and_then(|v| v.to_str().ok());
        let today = chrono::Utc::now().date_naive();
        let mut status = self.inner.version.lock().unwrap_or_else(|p| p.into_inner());
        for change in version::observe(&mut status, answered, today) {
            let notices = &self.inner.notices;
            match change {
                VersionChange::AnsweredOther(_) => {
                    let text = status.answered_other_text().unwrap_or_default();
                    notices.raise(VERSION_SERVED, NoticeLevel::Warning, text, chrono::Utc::now());
                }
                VersionChange::AnsweredAsAsked => {
                    notices.clear(VERSION_SERVED);
                }
                VersionChange::EndOfSupportNear(end) => raise_end_of_support(notices, end),
            }
        }
    }

    /// Counters since the client was made.
    pub fn stats(&self) -> ConnectorStats {
        self.inner.counters.snapshot()
    }

    /// The mirrored cost-bucket level, once a reply has reported it.
    pub fn bucket_level(&self) -> Option<f64> {
        self.inner.limiter.level()
    }

    /// One page of products, each with its first variants. `first` is capped so the query
    /// stays within Shopify's maximum cost; `query` is Shopify search syntax
    /// (`updated_at:>'2025-01-01T00:00:00Z'`).
    pub async fn products_page(
        &self,
        first: u32,
        after: Option<&str>,
        query: Option<&str>,
    ) -> Result<ShopifyPage<ShopifyProduct>> {
        #[derive(Deserialize)]
        struct Data {
            products: Connection<ProductNode>,
        }
        let v = self.inner.policy.variants_per_product.clamp(1, doc::MAX_FIRST);
        let node = doc::product_node_cost(v);
        let first = first.clamp(1, doc::max_first(node, 0));
        let vars = doc::products_page_variables(first, after, query, v);
        let estimate = doc::connection_cost(first, node);
        let data: Data = self.execute("products page", doc::PRODUCTS_PAGE, vars, estimate).await?;
        Ok(data.products.into_page(ShopifyProduct::from))
    }

    /// The variants of one product after `after` (for products with more than a page holds).
    pub async fn product_variants_page(
        &self,
        product_id: &str,
        first: u32,
        after: Option<&str>,
    ) -> Result<ShopifyPage<ShopifyVariant>> {
        #[derive(Deserialize)]
        struct Product {
            variants: Connection<ShopifyVariant>,
        }
        #[derive(Deserialize)]
        struct Data {
            product: Option<Product>,
        }
        let first = first.clamp(1, doc::max_first(doc::VARIANT_NODE_COST, 1));
        let vars = doc::product_variants_page_variables(product_id, first, after);
        let estimate = 1 + doc::connection_cost(first, doc::VARIANT_NODE_COST);
        let data: Data = self.execute("product variants page", doc::PRODUCT_VARIANTS_PAGE, vars, estimate).await?;
        match data.product {
            Some(p) => Ok(p.variants.into_page(|v| v)),
            None => Err(ConnectorError::permanent(format!("product variants page: no product {product_id}"))),
        }
    }

    /// One page of customers; `first` is capped so the query stays within the maximum cost.
    pub async fn customers_page(
        &self,
        first: u32,
        after: Option<&str>,
        query: Option<&str>,
    ) -> Result<ShopifyPage<ShopifyCustomer>> {
        #[derive(Deserialize)]
        struct Data {
            customers: Connection<CustomerNode>,
        }
        let first = first.clamp(1, doc::max_first(doc::CUSTOMER_NODE_COST, 0));
        let vars = doc::customers_page_variables(first, after, query);
        let estimate = doc::connection_cost(first, doc::CUSTOMER_NODE_COST);
        let data: Data = self.execute("customers page", doc::CUSTOMERS_PAGE, vars, estimate).await?;
        Ok(data.customers.into_page(ShopifyCustomer::from))
    }

    /// How many products the shop has.
    pub async fn products_count(&self) -> Result<Count> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            products_count: Count,
        }
        let data: Data = self.execute("products count", doc::PRODUCTS_COUNT, json!({}), 1).await?;
        Ok(data.products_count)
    }

    /// How many customers the shop has.
    pub async fn customers_count(&self) -> Result<Count> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            customers_count: Count,
        }
        let data: Data = self.execute("customers count", doc::CUSTOMERS_COUNT, json!({}), 1).await?;
        Ok(data.customers_count)
    }

    /// Every location of the shop.
    pub async fn locations(&self) -> Result<Vec<ShopifyLocation>> {
        #[derive(Deserialize)]
        struct Data {
            locations: Connection<ShopifyLocation>,
        }
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let vars = doc::locations_page_variables(doc::MAX_FIRST, after.as_deref());
            let estimate = doc::connection_cost(doc::MAX_FIRST, 1);
            let data: Data = self.execute("locations", doc::LOCATIONS_PAGE, vars, estimate).await?;
            let page = data.locations.into_page(|l| l);
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Sends one GraphQL operation: waits for its estimated cost, sends, settles the bucket
    /// with the reply's cost, retries THROTTLED and transient failures, decodes `data`.
    async fn execute<T: DeserializeOwned>(
        &self,
        call: &'static str,
        document: &str,
        variables: Value,
        estimate: u32,
    ) -> Result<T> {
        let inner = &*self.inner;
        let shape = format!("{call}/{}", variables.get("first").map(Value::to_string).unwrap_or_default());
        let body = json!({"query": document, "variables": variables});
        let mut failures = 0u32;
        loop {
            let estimate = self.learned_cost(&shape).unwrap_or(f64::from(estimate));
            // One span per attempt, under whatever span is current (the job's step, when a worker
            // runs it): the operation, its estimated, requested and actual cost, the bucket left.
            let span = upstream_span("shopify", call, failures + 1);
            span.record("cost_estimate", estimate);
            let (permit, waited) = inner
                .limiter
                .acquire(estimate)
                .instrument(span.clone())
                .await
                .map_err(|refusal| refusal.into_error(call, estimate))?;
            span.record("waited_ms", waited.as_millis() as u64);
            inner.counters.waited(waited);
            inner.counters.request();
            let started = tokio::time::Instant::now();
            let sent = send(inner.http.post(&inner.endpoint).json(&body), call).instrument(span.clone()).await;
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            // The error, the upstream's wait, and whether to back off before the next try
            // (not after THROTTLED: the limiter, synced with the server's bucket, holds it).
            let (error, upstream_wait, back_off) = match sent {
                Err(e) => {
                    drop(permit);
                    span.record("result", "transient failure");
                    span.in_scope(|| tracing::info!("shopify call"));
                    let wait = e.retry_after();
                    (e, wait, true)
                }
                Ok(reply) => {
                    self.observe_version(&reply.headers);
                    span.record("status", reply.status);
                    let outcome = read_reply(call, reply.status, &reply.body);
                    let cost = match &outcome {
                        Outcome::Data(_, c) | Outcome::Throttled(c) | Outcome::Failed(_, c) => *c,
                    };
                    record_cost(&span, &cost);
                    span.record("result", outcome.label());
                    span.in_scope(|| tracing::info!("shopify call"));
                    permit.settle(cost.actual, cost.status);
                    // A cost no bucket could hold is not learned (the server's number is absurd).
                    if let Some(requested) = cost.requested.filter(|c| c.is_finite() && *c >= 0.0) {
                        self.learn_cost(&shape, requested);
                    }
                    match outcome {
                        Outcome::Data(data, _) => {
                            return decode(&format!("{call} reply"), data).map_err(|e| self.redact(e))
                        }
                        Outcome::Throttled(cost) => {
                            inner.counters.throttled();
                            let wait = cost.wait_for_requested();
                            let reason = format!("{call}: THROTTLED");
                            (ConnectorError::Transient { reason, retry_after: wait }, wait, false)
                        }
                        Outcome::Failed(e, _) if e.is_transient() => {
                            let wait = e.retry_after().or(reply.retry_after);
                            (e, wait, true)
                        }
                        Outcome::Failed(e, _) => return Err(self.redact(e)),
                    }
                }
            };
            if !error.is_transient() {
                return Err(self.redact(error));
            }
            failures += 1;
            let too_long = upstream_wait.is_some_and(|w| w > inner.policy.retry.max_upstream_wait);
            if !inner.policy.retry.may_retry(failures) || too_long {
                let error = match self.redact(error) {
                    ConnectorError::Transient { reason, .. } => {
                        inner.policy.retry.bounded(ConnectorError::Transient { reason, retry_after: upstream_wait })
                    }
                    other => other,
                };
                span.in_scope(|| tracing::warn!(call, failures, "shopify call gave up: {error}"));
                return Err(error);
            }
            if back_off {
                let delay = inner.policy.retry.delay(failures, rand::thread_rng().gen(), upstream_wait);
                span.in_scope(|| tracing::debug!(call, failures, delay_ms = delay.as_millis() as u64, "shopify retry"));
                tokio::time::sleep(delay).await;
            }
            inner.counters.retry();
        }
    }

    fn learned_cost(&self, shape: &str) -> Option<f64> {
        self.inner.learned_costs.lock().unwrap_or_else(|p| p.into_inner()).get(shape).copied()
    }

    fn learn_cost(&self, shape: &str, requested: f64) {
        let mut costs = self.inner.learned_costs.lock().unwrap_or_else(|p| p.into_inner());
        costs.insert(shape.to_owned(), requested);
    }

    fn redact(&self, e: ConnectorError) -> ConnectorError {
        let token = &self.inner.cfg.access_token;
        e.map_reason(|r| token.redact(&r))
    }
}

/// Records a reply's query cost on its call's span: what Shopify says it asked for and charged,
/// and what the bucket held after it (fields left empty when the reply did not say).
fn record_cost(span: &tracing::Span, cost: &reply::Cost) {
    if let Some(requested) = cost.requested {
        span.record("cost_requested", requested);
    }
    if let Some(actual) = cost.actual {
        span.record("cost_actual", actual);
    }
    if let Some(status) = cost.status {
        span.record("bucket_available", status.currently_available);
    }
}
