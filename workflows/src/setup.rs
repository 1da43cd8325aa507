//! Wiring: the upstream clients from configuration, and registering every job type.

use std::sync::Arc;

use dongbo_engine::{Db, Registry};

use crate::connectors::limiter::pacing::PacingScope;
use crate::connectors::shopify::version;
use crate::connectors::{ConnectorError, NhanhClient, NhanhConfig, ShopifyClient, ShopifyConfig};
use crate::notices::Notices;

/// The upstream clients the workflows call; either may be missing (not configured).
#[derive(Clone, Default)]
pub struct Upstreams {
    /// The Nhanh v3 client.
    pub nhanh: Option<Arc<NhanhClient>>,
    /// The Shopify GraphQL Admin client.
    pub shopify: Option<Arc<ShopifyClient>>,
    /// Where the clients and upstream checks of this process report conditions an operator
    /// must see (shown by `/healthz`, `/metrics` and the dashboard).
    pub notices: Notices,
}

impl Upstreams {
    /// Builds the clients from variables (`NHANH_*`, `SHOPIFY_*`) read through `lookup`; a side
    /// whose variables are absent stays unconfigured, a side with bad values is an error.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String> + Copy) -> Result<Upstreams, ConnectorError> {
        let nhanh = match lookup("NHANH_ACCESS_TOKEN") {
            Some(_) => Some(Arc::new(NhanhClient::new(
                NhanhConfig::from_vars(lookup).map_err(|k| ConnectorError::permanent(format!("{k} is not set")))?,
            )?)),
            None => None,
        };
        let shopify = match lookup("SHOPIFY_ACCESS_TOKEN") {
            Some(_) => Some(Arc::new(ShopifyClient::new(
                ShopifyConfig::from_vars(lookup).map_err(|e| ConnectorError::permanent(e.to_string()))?,
            )?)),
            None => {
                // A version set without a token is still checked, so a typo is caught at start.
                if let Some(v) = lookup("SHOPIFY_API_VERSION").filter(|v| !v.trim().is_empty()) {
                    version::choose(&v, chrono::Utc::now().date_naive())
                        .map_err(|e| ConnectorError::permanent(e.to_string()))?;
                }
                None
            }
        };
        Ok(Upstreams { nhanh, shopify, notices: Notices::new() })
    }

    /// Builds the clients from the process environment.
    pub fn from_env() -> Result<Upstreams, ConnectorError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Paces Nhanh with slots shared through `db` when it is PostgreSQL, where any number of
    /// worker processes may call the same app and only a shared count keeps them all under
    /// Nhanh's limit. On SQLite nothing changes: one process owns the database, and its
    /// in-process limiter already sees every request.
    pub fn share_nhanh_pacing(self, db: &Db) -> Result<Upstreams, ConnectorError> {
        let nhanh = match (self.nhanh, db) {
            (Some(client), Db::Postgres(pool)) => Some(Arc::new(client.rescoped(PacingScope::Cluster(pool.clone()))?)),
            (nhanh, _) => nhanh,
        };
        Ok(Upstreams { nhanh, ..self })
    }

    /// The Nhanh client, or the error a job shows when Nhanh is not configured.
    pub fn nhanh(&self) -> Result<&Arc<NhanhClient>, String> {
        self.nhanh.as_ref().ok_or_else(|| {
            "Nhanh is not configured: set NHANH_BASE_URL, NHANH_APP_ID, NHANH_BUSINESS_ID and NHANH_ACCESS_TOKEN".into()
        })
    }

    /// The Shopify client, or the error a job shows when Shopify is not configured.
    pub fn shopify(&self) -> Result<&Arc<ShopifyClient>, String> {
        self.shopify
            .as_ref()
            .ok_or_else(|| "Shopify is not configured: set SHOPIFY_SHOP_URL and SHOPIFY_ACCESS_TOKEN".into())
    }
}

/// Registers every sync-domain job type.
pub fn register_all(registry: &mut Registry, upstreams: &Upstreams) {
    crate::pull::register(registry, upstreams);
    crate::matching::register(registry);
    crate::sync::register(registry, upstreams);
}
