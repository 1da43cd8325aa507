//! Settings of a simulator run: data sizes, seed, Shopify plan, Nhanh limits and credentials.

use std::str::FromStr;
use std::time::Duration;

/// Everything that decides what a simulator run looks like.
///
/// Two runs with the same config serve the same data (timestamps included); only writes,
/// `touch_*` calls and the wall clock at start differ.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice (data and faults).
    pub seed: u64,
    /// Number of Nhanh product rows (`product/list`), parents of variants included.
    pub products: usize,
    /// Number of Nhanh customer rows (`customer/list`).
    pub customers: usize,
    /// Shopify plan: decides the cost bucket (see [`Plan::bucket`]).
    pub plan: Plan,
    /// Nhanh's rate limit and page size.
    pub nhanh: NhanhLimits,
    /// Shopify settings that are not the plan.
    pub shopify: ShopifyLimits,
    /// The credentials both servers accept.
    pub credentials: Credentials,
    /// Where and how the simulator sends webhooks.
    pub webhooks: crate::webhooks::WebhookConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            products: 2_000,
            customers: 5_000,
            plan: Plan::Standard,
            nhanh: NhanhLimits::default(),
            shopify: ShopifyLimits::default(),
            credentials: Credentials::default(),
            webhooks: crate::webhooks::WebhookConfig::default(),
        }
    }
}

/// Nhanh v3 limits, defaults as published (150 requests per 30 s, lock of 10 s, pages ≤ 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NhanhLimits {
    /// Requests allowed per window, per appId + businessId + URL path.
    pub requests: u32,
    /// Length of the sliding window.
    pub window: Duration,
    /// Seconds a caller stays locked after going over; a call while locked restarts the lock.
    pub lock_seconds: u64,
    /// Largest `paginator.size` accepted.
    pub max_page: usize,
}

impl Default for NhanhLimits {
    fn default() -> Self {
        NhanhLimits { requests: 150, window: Duration::from_secs(30), lock_seconds: 10, max_page: 100 }
    }
}

/// Shopify limits that do not depend on the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyLimits {
    /// Largest requested cost of a single query (Shopify: 1000), above it `MAX_COST_EXCEEDED`.
    pub max_query_cost: u64,
    /// Largest `first`/`last` of a connection (Shopify: 250).
    pub max_page: usize,
    /// Least time a bulk operation takes from creation to `COMPLETED`.
    pub bulk_min_duration: Duration,
    /// Largest number of metafields per `metafieldsSet` call (Shopify: 25).
    pub max_metafields: usize,
    /// Largest number of quantities per `inventorySetQuantities` call.
    pub max_inventory_quantities: usize,
}

impl Default for ShopifyLimits {
    fn default() -> Self {
        ShopifyLimits {
            max_query_cost: 1000,
            max_page: 250,
            bulk_min_duration: Duration::from_millis(300),
            max_metafields: 25,
            max_inventory_quantities: 250,
        }
    }
}

/// Credentials the servers accept; defaults are fixed strings so a demo needs no setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Nhanh `appId` query parameter.
    pub nhanh_app_id: String,
    /// Nhanh `businessId` query parameter.
    pub nhanh_business_id: String,
    /// Nhanh raw `Authorization` header value.
    pub nhanh_access_token: String,
    /// Nhanh `accessCode` accepted by `app/getaccesstoken`.
    pub nhanh_access_code: String,
    /// Nhanh `secretKey` accepted by `app/getaccesstoken`.
    pub nhanh_secret_key: String,
    /// Shopify `X-Shopify-Access-Token` header value.
    pub shopify_access_token: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            nhanh_app_id: "74951".into(),
            nhanh_business_id: "18523".into(),
            nhanh_access_token: "sim-nhanh-access-token-0123456789abcdef".into(),
            nhanh_access_code: "sim-access-code".into(),
            nhanh_secret_key: "sim-secret-key".into(),
            shopify_access_token: "shpat_sim0123456789abcdef0123456789ab".into(),
        }
    }
}

/// Shopify plan, which sets the cost bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Plan {
    /// Restores 100 points/s, bucket of 1000.
    #[default]
    Standard,
    /// Restores 200 points/s, bucket of 2000.
    Advanced,
    /// Restores 1000 points/s, bucket of 10000.
    Plus,
}

impl Plan {
    /// `(maximum available, restore rate per second)` of the plan's bucket.
    ///
    /// Restore rates are Shopify's published ones; the maxima (10 s of restore) are a setting
    /// because Shopify does not publish them for every plan.
    pub fn bucket(self) -> (f64, f64) {
        match self {
            Plan::Standard => (1000.0, 100.0),
            Plan::Advanced => (2000.0, 200.0),
            Plan::Plus => (10000.0, 1000.0),
        }
    }

    /// Lowercase name, as accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Standard => "standard",
            Plan::Advanced => "advanced",
            Plan::Plus => "plus",
        }
    }
}

/// A plan name that is not `standard`, `advanced` or `plus`.
#[derive(Debug, thiserror::Error)]
#[error("unknown plan {0:?} (expected standard, advanced or plus)")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard" | "basic" | "shopify" => Ok(Plan::Standard),
            "advanced" => Ok(Plan::Advanced),
            "plus" | "shopify_plus" => Ok(Plan::Plus),
            _ => Err(UnknownPlan(s.to_string())),
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
