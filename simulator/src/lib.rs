//! dongbo-simulator: local, faithful stand-ins for Nhanh.vn API v3 and the Shopify GraphQL Admin
//! API, with seeded data, a journal of writes, ground truth and injectable faults.
//!
//! It owns the "outside world" of dongbo: a client that works against these servers should work
//! against the real services (see `shared/protocols.md`). It depends on no other dongbo crate and
//! knows nothing of jobs, matching strategies or the catalog; only tests, the demo and benchmarks
//! wire it in.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use dongbo_simulator::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0", "127.0.0.1:0").await?;
//! // POST {nhanh_base_url}/v3.0/customer/list?appId=…&businessId=…
//! // POST {shopify_shop_url}/admin/api/2025-10/graphql.json
//! let truth = sim.truth();
//! assert!(!truth.customer_pairs.is_empty());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`config`]: [`SimConfig`], [`Plan`] (the Shopify bucket), [`NhanhLimits`], credentials.
//! - `data/`: the generated world. `draw` (deterministic per-record randomness), `names`
//!   (Vietnamese words), `phone` (numbers and every way stores write them), `customers`
//!   (persons rendered on demand from `(seed, index)`), `products` (both catalogs with
//!   their mess and the generator's intent).
//! - [`truth`]: [`Truth`], the pairs and ambiguous keys as the generator meant them.
//! - `nhanh/`: the Nhanh v3 server (`list`: paginator and filters, `render`: JSON, `rate_limit`:
//!   the pure sliding window and lock).
//! - `shopify/`: the GraphQL server (`query`, `mutations`, `writes`, `objects`, `connection`,
//!   `search`, `bulk`).
//! - `cost`: the pure cost model; `bucket`: the pure leaky bucket.
//! - [`faults`]: [`Faults`] and the fault middleware; `journal`: [`JournalEntry`];
//!   `stats`: request counts; `control`: the `/_sim/` routes; `touch`: run-time changes.
//! - [`state`]: [`SimState`], read access for tests; [`cli`]: `dongbo sim`.
//! - `webhooks/`: the webhooks both platforms send ([`Webhooks`]): `nhanh` and `shopify` (bodies,
//!   headers, signature), `delivery` (faults, attempts, retries, journal), `drip` (a steady
//!   stream of changes, recorded for the freshness benchmark), `control` (`/_sim/webhooks`,
//!   `/_sim/drip`).
//! - `clock`: every clock is `tokio::time::Instant`, mapped onto unix time, so tests can
//!   `tokio::time::pause()` and `advance` through locks and refills.
//!
//! # Data
//!
//! Deterministic from `seed`: the same config serves the same records, ids and timestamps.
//! Customers are stored as a few numbers each (≈ 60 bytes for both sides) and rendered on
//! demand; a million customers take well under a gigabyte and generate in seconds. Mess
//! generated on purpose: every phone format of `protocols.md` (`+84…`, `84…`, `0084…`,
//! `(+84) …`, `+84 (0) …`, 9 digits, spaces/dots/dashes, text around, several numbers in one
//! field, JSON numbers), pre-2018 11-digit numbers (every row of the migration table),
//! null/garbage phones, numbers shared by two customers of one side, customers on one side
//! only; SKUs that differ in case and spaces, missing SKUs (pair by barcode), duplicated SKUs,
//! products on one side only, parents and variants on Nhanh; prices and totals as strings.
//!
//! Matching rule behind [`Truth::customer_pairs`]: a Nhanh `mobile` holding several numbers
//! matches the Shopify customer holding *any* of them (the others belong to nobody); Shopify's
//! number is `defaultPhoneNumber`, else `defaultAddress.phone`.
//!
//! # Nhanh rate limit
//!
//! 150 requests per 30 s per appId + businessId + URL path, counted before authentication, in a
//! *sliding* window (a log of admitted calls). The 151st call gets
//! `{"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit",
//! "data":{"lockedSeconds":10,"unlockedAt":…}}` with **HTTP 200**, and starts a 10 s lock; any
//! call while locked is refused the same way and *restarts* the lock from that call. After the
//! lock, calls are admitted again once the window has room.
//!
//! # Shopify cost model
//!
//! Computed from the parsed document before execution (requested) and from the reply after it
//! (actual): scalars 0; objects 1 + their selection; a connection (a field selecting `edges`,
//! `nodes` or `pageInfo`) `2 + first × (1 + node selection)`, nested connections multiplying;
//! each root mutation field 10. The actual cost counts the nodes really returned (null objects
//! 0), never above the requested cost. A request over 1000 requested points is refused with
//! `MAX_COST_EXCEEDED`. The bucket (per [`Plan`]: 1000/2000/10000 points, restoring
//! 100/200/1000 per second) is checked before execution: if the requested cost exceeds
//! `currentlyAvailable`, the reply is exactly
//! `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":…}}],
//! "extensions":{"cost":{"requestedQueryCost":N,"actualQueryCost":null,"throttleStatus":…}}}`
//! with no `data`. Otherwise the requested cost is taken and `requested − actual` refunded.
//! Every reply carries `extensions.cost.throttleStatus`. Throttling can be switched off
//! ([`Faults::set_throttle`]).
//!
//! # Writes
//!
//! `inventorySetQuantities` follows the rules of the version in the URL: from 2026-04 it
//! requires `@idempotent(key:)` (without it the field fails with a GraphQL error,
//! `extensions.code = "IDEMPOTENCY_KEY_REQUIRED"`, `data.inventorySetQuantities` null) and a
//! `changeFromQuantity` on every quantity (absent: userError `COMPARE_QUANTITY_REQUIRED`; a number
//! that no longer matches: `CHANGE_FROM_QUANTITY_STALE`; `null` skips the compare); on 2026-01
//! and older the key is optional and `compareQuantity` / `ignoreCompareQuantity` still count when
//! `changeFromQuantity` is absent. A key is remembered once its request *applied*; a later request with that key returns
//! the first payload, changes nothing and is journalled with `applied: false`
//! (`note: "deduplicated"`). A rejected request (userErrors) can be retried under the same key.
//! `metafieldsSet` takes at most 25 metafields and is atomic; so is `inventorySetQuantities`
//! and, unless `allowPartialUpdates`, `productVariantsBulkUpdate`. Injected item faults
//! ([`Faults::fail_targets`], [`Faults::set_user_error_rate`]) reject the whole call with a
//! userError at the failing item's index, so a client sees which item failed and can resend
//! its batch-mates.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bucket;
pub mod cli;
mod clock;
pub mod config;
mod control;
mod cost;
mod data;
pub mod faults;
mod gid;
mod journal;
mod nhanh;
mod shopify;
mod sim;
pub mod state;
mod stats;
mod touch;
pub mod truth;
mod webhooks;

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cli::{run_cli, SimArgs};
pub use config::{Credentials, NhanhLimits, Plan, ShopifyLimits, SimConfig, UnknownPlan};
pub use faults::{FaultPatch, FaultSettings, Faults, Scope, Server};
pub use journal::JournalEntry;
pub use state::{ExpectedLevel, SimState, VariantState};
pub use truth::{Depot, Location, Truth};
pub use webhooks::nhanh::Order as NhanhOrder;
pub use webhooks::{
    ChangeKind, ChangeRecord, DeliveryRecord, DripRates, Subscription, Targets, WebhookConfig, WebhookFaults, Webhooks,
};

use faults::FaultLayer;
use sim::Sim;

/// A running simulator: both servers, in this process.
pub struct Simulator {
    sim: Arc<Sim>,
    nhanh_url: String,
    shop_url: String,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

fn app(sim: &Arc<Sim>, server: Server) -> Router {
    let routes = match server {
        Server::Nhanh => nhanh::router(sim.clone()),
        Server::Shopify => shopify::router(sim.clone()),
    };
    let stats = match server {
        Server::Nhanh => sim.nhanh_stats.clone(),
        Server::Shopify => sim.shopify_stats.clone(),
    };
    let layer = FaultLayer { faults: sim.faults.clone(), stats, server };
    routes.merge(control::router(sim.clone(), server)).layer(from_fn_with_state(layer, faults::inject))
}

fn serve(listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "simulator server stopped");
        }
    })
}

impl Simulator {
    /// Generates data from `config` and binds both servers (`"127.0.0.1:0"` picks free ports).
    pub async fn start(config: SimConfig, nhanh_addr: &str, shopify_addr: &str) -> std::io::Result<Simulator> {
        let nhanh_listener = TcpListener::bind(nhanh_addr).await?;
        let shop_listener = TcpListener::bind(shopify_addr).await?;
        let nhanh_url = format!("http://{}", nhanh_listener.local_addr()?);
        let shop_url = format!("http://{}", shop_listener.local_addr()?);
        let sim =
            tokio::task::spawn_blocking(move || Arc::new(Sim::new(config))).await.map_err(std::io::Error::other)?;
        let _ = sim.shop_url.set(shop_url.clone());
        let (stop, stopped) = watch::channel(false);
        let servers = vec![
            serve(nhanh_listener, app(&sim, Server::Nhanh), stopped.clone()),
            serve(shop_listener, app(&sim, Server::Shopify), stopped),
        ];
        Ok(Simulator { sim, nhanh_url, shop_url, stop, servers })
    }

    /// `http://127.0.0.1:PORT`; clients post to `{base}/v3.0/customer/list?appId=…&businessId=…`.
    pub fn nhanh_base_url(&self) -> String {
        self.nhanh_url.clone()
    }

    /// `http://127.0.0.1:PORT`; clients post to `{shop}/admin/api/{version}/graphql.json`.
    pub fn shopify_shop_url(&self) -> String {
        self.shop_url.clone()
    }

    /// The credentials the servers accept.
    pub fn credentials(&self) -> &Credentials {
        &self.sim.config.credentials
    }

    /// From now on, every Nhanh token (live or granted later) covers only `depot_ids`; an empty
    /// list means every depot, as in Nhanh's `depotIds`.
    pub fn nhanh_token_covers(&self, depot_ids: Vec<u64>) {
        self.sim.nhanh_tokens.lock().unwrap_or_else(|e| e.into_inner()).cover(depot_ids);
    }

    /// Leaves these Nhanh products out of every `product/list` and `product/inventory` reply
    /// from now on (a fault: a product "missing from a stock reply").
    pub fn hide_nhanh_products(&self, ids: &[u64]) {
        self.sim.nhanh_hidden.lock().unwrap_or_else(|e| e.into_inner()).extend(ids.iter().copied());
    }

    /// Puts every hidden Nhanh product back into the stock replies.
    pub fn unhide_nhanh_products(&self) {
        self.sim.nhanh_hidden.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Deactivates these Shopify locations (gids), as a shop whose other locations were
    /// deactivated in its admin: from now on `locations` leaves them out unless asked with
    /// `includeInactive: true` (then, like `location(id:)`, it shows them `isActive: false`).
    /// Unknown gids are ignored.
    pub fn deactivate_shopify_locations(&self, location_gids: &[String]) {
        let indexes = location_gids.iter().filter_map(|g| crate::data::location_index(g));
        self.sim.shopify_inactive.lock().unwrap_or_else(|e| e.into_inner()).extend(indexes);
    }

    /// Every Nhanh token known expires at `unix_secs` (simulator clock).
    pub fn nhanh_token_expires_at(&self, unix_secs: i64) {
        self.sim.nhanh_tokens.lock().unwrap_or_else(|e| e.into_inner()).expire_at(unix_secs);
    }

    /// `NHANH_BASE_URL`, `NHANH_APP_ID`, `NHANH_BUSINESS_ID`, `NHANH_ACCESS_TOKEN`,
    /// `NHANH_SECRET_KEY`, `SHOPIFY_SHOP_URL`, `SHOPIFY_ACCESS_TOKEN`.
    pub fn env(&self) -> Vec<(String, String)> {
        let c = self.credentials();
        [
            ("NHANH_BASE_URL", self.nhanh_base_url()),
            ("NHANH_APP_ID", c.nhanh_app_id.clone()),
            ("NHANH_BUSINESS_ID", c.nhanh_business_id.clone()),
            ("NHANH_ACCESS_TOKEN", c.nhanh_access_token.clone()),
            ("NHANH_SECRET_KEY", c.nhanh_secret_key.clone()),
            ("SHOPIFY_SHOP_URL", self.shopify_shop_url()),
            ("SHOPIFY_ACCESS_TOKEN", c.shopify_access_token.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The ground truth of the generated data (computed once, then shared).
    pub fn truth(&self) -> Arc<Truth> {
        self.sim.truth()
    }

    /// Every write received so far, in order.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.sim.journal.all()
    }

    /// How many entries the journal holds (without copying them, and so without holding up the
    /// servers, which append to it, for as long as a copy takes).
    pub fn journal_len(&self) -> usize {
        self.sim.journal.len()
    }

    /// Handle to change faults while running.
    pub fn faults(&self) -> Faults {
        self.sim.faults.clone()
    }

    /// Read access to the current data.
    pub fn state(&self) -> SimState {
        SimState { sim: self.sim.clone() }
    }

    /// Stamps `n` deterministically chosen Nhanh customers `updatedAt = now` and raises their
    /// `totalAmount`, sending Nhanh's `orderAdd` for each to the webhook URL if one is set;
    /// returns their ids.
    pub fn touch_nhanh_customers(&self, n: usize) -> Vec<u64> {
        let ids = touch::customers(&self.sim, n);
        webhooks::customers_ordered(&self.sim, &ids);
        ids
    }

    /// Changes the stock of `n` deterministically chosen Nhanh products and stamps them
    /// `updatedAt = now`, sending Nhanh's `inventoryChange` (≤ 100 products each) to the
    /// webhook URL if one is set; returns their ids.
    pub fn touch_nhanh_products(&self, n: usize) -> Vec<u64> {
        let ids = touch::products(&self.sim, n);
        webhooks::products_changed(&self.sim, &ids);
        ids
    }

    /// Moves `quantity` of a Nhanh product's stock from depot `from` to depot `to` (a stock
    /// transfer: the product's total is unchanged) without sending a webhook, as a transfer whose
    /// `inventoryChange` deliveries were all lost. False for an unknown product or depot.
    pub fn transfer_nhanh_stock(&self, product: u64, from: u64, to: u64, quantity: i64) -> bool {
        touch::transfer(&self.sim, product, from, to, quantity)
    }

    /// The webhooks this simulator sends: targets, faults, deliveries and the drip.
    pub fn webhooks(&self) -> Webhooks {
        Webhooks { sim: self.sim.clone() }
    }

    /// Number of `ERR_429` replies and THROTTLED replies so far: `(nhanh, shopify)`.
    pub fn rate_limit_hits(&self) -> (u64, u64) {
        (self.sim.nhanh_stats.count("locked"), self.sim.shopify_stats.count("throttled"))
    }

    /// Stops both servers: in-flight requests get up to one second to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.sim.webhooks.shutdown();
        webhooks::drip::stop(&self.sim);
        for mut server in self.servers {
            if tokio::time::timeout(std::time::Duration::from_secs(1), &mut server).await.is_err() {
                server.abort();
            }
        }
    }
}
