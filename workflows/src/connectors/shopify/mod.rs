//! The Shopify GraphQL Admin client: `POST {shop}/admin/api/{version}/graphql.json` with
//! `X-Shopify-Access-Token`, paced by the cost bucket ([`ShopifyLimiter`]), retrying THROTTLED
//! replies and transient failures a bounded number of times.
//!
//! Reads are here; writes are in [`mutations`], bulk exports in [`bulk`].

pub mod bulk;
pub mod documents;
pub mod mutations;
pub mod reply;
pub mod sent;
pub mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ConnectorError, Result};
use super::limiter::ShopifyLimiter;
use super::retry::RetryPolicy;
use super::secret::Secret;
use super::stats::{ConnectorStats, Counters};
use super::transport::{http_client, send};
pub use bulk::{BulkKind, BulkOperation, BulkProductLine};
use documents as doc;
pub use mutations::{
    CustomerIdentifier, CustomerSetInput, CustomerSetOutcome, InventoryQuantity, MetafieldInput, MetafieldsSetOutcome,
    SetMetafield, UserError, VariantUpdate, VariantsUpdateOutcome,
};
use reply::{decode, read_reply, Outcome};
use types::{Connection, CustomerNode, ProductNode};
pub use types::{Count, Money, ShopifyCustomer, ShopifyLocation, ShopifyPage, ShopifyProduct, ShopifyVariant};

/// The API version used unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2025-10";

/// Where and as whom to call Shopify.
#[derive(Debug, Clone)]
pub struct ShopifyConfig {
    /// `https://{shop}.myshopify.com` (no trailing path).
    pub shop_url: String,
    /// The Admin API access token.
    pub access_token: Secret,
    /// E.g. `2025-10`.
    pub api_version: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl ShopifyConfig {
    /// A config with the default API version and a 30 s timeout.
    pub fn new(shop_url: impl Into<String>, access_token: Secret) -> Self {
        ShopifyConfig {
            shop_url: shop_url.into(),
            access_token,
            api_version: DEFAULT_API_VERSION.to_owned(),
            timeout: Duration::from_secs(30),
        }
    }

    /// A config from `SHOPIFY_SHOP_URL`, `SHOPIFY_ACCESS_TOKEN` and optionally
    /// `SHOPIFY_API_VERSION` as looked up by `var`; `Err` names the first one missing.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> std::result::Result<Self, &'static str> {
        let get = |k: &'static str| var(k).filter(|v| !v.is_empty()).ok_or(k);
        let mut cfg = ShopifyConfig::new(get("SHOPIFY_SHOP_URL")?, Secret::new(get("SHOPIFY_ACCESS_TOKEN")?));
        if let Ok(v) = get("SHOPIFY_API_VERSION") {
            cfg.api_version = v;
        }
        Ok(cfg)
    }
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

    /// A client with an explicit policy.
    pub fn with_policy(cfg: ShopifyConfig, policy: ShopifyPolicy) -> Result<Self> {
        let mut token = HeaderValue::from_str(cfg.access_token.expose())
            .map_err(|_| ConnectorError::permanent("the Shopify access token is not a valid header value"))?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-shopify-access-token"), token);
        let http = http_client(headers, cfg.timeout)?;
        let download = http_client(HeaderMap::new(), cfg.timeout.max(Duration::from_secs(300)))?;
        let endpoint = format!("{}/admin/api/{}/graphql.json", cfg.shop_url.trim_end_matches('/'), cfg.api_version);
        let inner = Inner {
            cfg,
            endpoint,
            http,
            download,
            limiter: ShopifyLimiter::new(),
            policy,
            counters: Counters::default(),
            learned_costs: Mutex::new(HashMap::new()),
        };
        Ok(ShopifyClient { inner: Arc::new(inner) })
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
        let vars = json!({"first": first, "after": after, "query": query, "variantsFirst": v});
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
        let vars = json!({"id": product_id, "first": first, "after": after});
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
        let vars = json!({"first": first, "after": after, "query": query});
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
            let vars = json!({"first": doc::MAX_FIRST, "after": after});
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
            let (permit, waited) = inner.limiter.acquire(estimate).await.map_err(|maximum| {
                ConnectorError::permanent(format!("{call}: cost {estimate} can never fit the bucket of {maximum}"))
            })?;
            inner.counters.waited(waited);
            inner.counters.request();
            let started = tokio::time::Instant::now();
            let sent = send(inner.http.post(&inner.endpoint).json(&body), call).await;
            // The error, the upstream's wait, and whether to back off before the next try
            // (not after THROTTLED: the limiter, synced with the server's bucket, holds it).
            let (error, upstream_wait, back_off) = match sent {
                Err(e) => {
                    drop(permit);
                    let wait = e.retry_after();
                    (e, wait, true)
                }
                Ok(reply) => {
                    tracing::debug!(
                        call,
                        status = reply.status,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "shopify reply"
                    );
                    let outcome = read_reply(call, reply.status, &reply.body);
                    let cost = match &outcome {
                        Outcome::Data(_, c) | Outcome::Throttled(c) | Outcome::Failed(_, c) => *c,
                    };
                    permit.settle(cost.actual, cost.status);
                    if let Some(requested) = cost.requested {
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
                        ConnectorError::Transient { reason, retry_after: upstream_wait }
                    }
                    other => other,
                };
                tracing::warn!(call, failures, "shopify call gave up: {error}");
                return Err(error);
            }
            if back_off {
                let delay = inner.policy.retry.delay(failures, rand::thread_rng().gen(), upstream_wait);
                tracing::debug!(call, failures, delay_ms = delay.as_millis() as u64, "shopify retry");
                tokio::time::sleep(delay).await;
            }
            inner.counters.retry();
        }
    }

    /// GETs `url` with the token-less client, retrying transient failures; the URL is never
    /// logged nor put in an error (bulk result links are signed).
    pub(crate) async fn get_bytes(&self, call: &'static str, url: &str) -> Result<Vec<u8>> {
        let retry = self.inner.policy.retry;
        let mut failures = 0u32;
        loop {
            self.inner.counters.request();
            let error = match send(self.inner.download.get(url), call).await {
                Ok(reply) if reply.status == 200 => return Ok(reply.body),
                Ok(reply) if reply.status >= 500 || reply.status == 429 => ConnectorError::Transient {
                    reason: format!("{call}: HTTP {}", reply.status),
                    retry_after: reply.retry_after,
                },
                Ok(reply) => return Err(ConnectorError::permanent(format!("{call}: HTTP {}", reply.status))),
                Err(e) => e,
            };
            failures += 1;
            if !error.is_transient() || !retry.may_retry(failures) {
                return Err(self.redact(error));
            }
            // The random draw is taken before the await: a ThreadRng held across it would make the
            // future not Send.
            let delay = retry.delay(failures, rand::thread_rng().gen(), error.retry_after());
            tokio::time::sleep(delay).await;
            self.inner.counters.retry();
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
