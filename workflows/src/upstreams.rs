//! The upstream clients the workflows call, built from configuration.
//!
//! Apart from [`crate::setup`] (which registers the job types) so that the job families depend on
//! this module and the registration on them, with no cycle between `setup` and `pull`/`sync`.

use std::sync::Arc;

use dongbo_engine::Db;

use crate::connectors::limiter::pacing::PacingScope;
use crate::connectors::shopify::{version, ShopifyPolicy};
use crate::connectors::{ConnectorError, NhanhClient, NhanhConfig, ShopifyClient, ShopifyConfig};
use crate::nhanh_token::Choice;
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
        let notices = Notices::new();
        let shopify = match lookup("SHOPIFY_ACCESS_TOKEN") {
            Some(_) => Some(Arc::new(ShopifyClient::with_notices(
                ShopifyConfig::from_vars(lookup).map_err(|e| ConnectorError::permanent(e.to_string()))?,
                ShopifyPolicy::default(),
                notices.clone(),
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
        Ok(Upstreams { nhanh, shopify, notices })
    }

    /// Builds the clients from the process environment.
    pub fn from_env() -> Result<Upstreams, ConnectorError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Like [`Upstreams::from_vars`], but without `NHANH_ACCESS_TOKEN` the Nhanh client uses the
    /// token stored in `db` by `dongbo nhanh authorize` (opened with `DONGBO_SECRET_KEY`), with
    /// the business id stored beside it unless `NHANH_BUSINESS_ID` is set. The second value is
    /// why a stored token cannot be used (also raised as the `nhanh_token` notice), for the
    /// caller to say; Nhanh then stays unconfigured.
    pub async fn from_vars_or_store(
        lookup: impl Fn(&str) -> Option<String> + Copy,
        db: &Db,
    ) -> Result<(Upstreams, Option<String>), ConnectorError> {
        let mut upstreams = Self::from_vars(lookup)?;
        if upstreams.nhanh.is_some() {
            return Ok((upstreams, None));
        }
        let choice = crate::nhanh_token::choose(lookup, db)
            .await
            .map_err(|e| ConnectorError::transient(format!("reading the stored Nhanh token: {e}")))?;
        let chosen = match choice {
            Choice::Token(chosen) => chosen,
            Choice::None => return Ok((upstreams, None)),
            Choice::Unusable(why) => {
                let now = chrono::Utc::now();
                upstreams.notices.raise(
                    crate::nhanh_token::NOTICE,
                    crate::notices::NoticeLevel::Error,
                    why.clone(),
                    now,
                );
                return Ok((upstreams, Some(why)));
            }
        };
        let get = |k: &'static str| lookup(k).filter(|v| !v.is_empty());
        let missing = |k: &str| ConnectorError::permanent(format!("{k} is not set (a Nhanh token is stored)"));
        let business_id =
            get("NHANH_BUSINESS_ID").or(chosen.business_id).ok_or_else(|| missing("NHANH_BUSINESS_ID"))?;
        let mut cfg = NhanhConfig::new(
            get("NHANH_BASE_URL").ok_or_else(|| missing("NHANH_BASE_URL"))?,
            get("NHANH_APP_ID").ok_or_else(|| missing("NHANH_APP_ID"))?,
            business_id,
            chosen.token,
        );
        if let Some(key) = get("NHANH_SECRET_KEY") {
            cfg = cfg.with_secret_key(crate::connectors::Secret::new(key));
        }
        upstreams.nhanh = Some(Arc::new(NhanhClient::new(cfg)?));
        Ok((upstreams, None))
    }

    /// Paces Nhanh with slots shared through `db` when it is PostgreSQL, where any number of
    /// worker processes may call the same app and only a shared count keeps them all under
    /// Nhanh's limit. On SQLite nothing changes: one process owns the database, and its
    /// in-process limiter already sees every request.
    pub fn share_nhanh_pacing(self, db: &Db) -> Result<Upstreams, ConnectorError> {
        let nhanh = match (self.nhanh, crate::catalog::store::limits::shared_slots(db)) {
            (Some(client), Some(slots)) => Some(Arc::new(client.rescoped(PacingScope::Cluster(slots))?)),
            (nhanh, _) => nhanh,
        };
        Ok(Upstreams { nhanh, ..self })
    }

    /// The Nhanh client, or the error a job shows when Nhanh is not configured.
    pub fn nhanh(&self) -> Result<&Arc<NhanhClient>, String> {
        self.nhanh.as_ref().ok_or_else(|| {
            "Nhanh is not configured: set NHANH_BASE_URL, NHANH_APP_ID, NHANH_BUSINESS_ID and NHANH_ACCESS_TOKEN, \
             or store a token with `dongbo nhanh authorize` (read with DONGBO_SECRET_KEY)"
                .into()
        })
    }

    /// The Shopify client, or the error a job shows when Shopify is not configured.
    pub fn shopify(&self) -> Result<&Arc<ShopifyClient>, String> {
        self.shopify
            .as_ref()
            .ok_or_else(|| "Shopify is not configured: set SHOPIFY_SHOP_URL and SHOPIFY_ACCESS_TOKEN".into())
    }
}
