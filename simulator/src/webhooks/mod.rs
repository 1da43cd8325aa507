//! Webhooks the simulator sends, the way Nhanh and Shopify send theirs.
//!
//! A change to the simulated stores (through `/_sim/touch`, the drip, or [`crate::Simulator`]'s
//! `touch_*`) becomes an *event*: a Nhanh body (`nhanh`) or a Shopify topic and body (`shopify`).
//! The [`Hub`] turns each event into one delivery per target and sends it over real HTTP from a
//! task of its own, so the change that caused it never waits for a receiver:
//!
//! - **Nhanh** (apidocs.nhanh.vn/webhooks/webhooks, /v3/webhooks/product, /v3/webhooks/order,
//!   /webhooks/inventory): `POST` with `Content-Type: application/json` and body
//!   `{"event", "businessId", "data"}`; the app's verify token in a header (the intro page: "Nhanh
//!   API sẽ gửi kèm header verifyToken"; its name is [`WebhookConfig::nhanh_token_header`]). A
//!   delivery answered with anything but HTTP 200 (or not answered) is sent again at most three
//!   times, 5, 10 and 30 minutes apart. `inventoryChange` carries up to 100 products.
//! - **Shopify** (shopify.dev/docs/apps/build/webhooks, …/delivery-structure,
//!   …/verify-deliveries, changelog "Updates to webhook retry mechanism"): `POST` of the topic's
//!   REST payload with `X-Shopify-Topic`, `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw
//!   body keyed with the app's client secret), `X-Shopify-Shop-Domain`, `X-Shopify-API-Version`,
//!   `X-Shopify-Webhook-Id`, `X-Shopify-Event-Id` and `X-Shopify-Triggered-At`. Anything but a
//!   2xx within 5 s is retried 8 times over 4 hours with exponential backoff, always with the
//!   *original* payload and headers. Shopify "might" send a webhook more than once
//!   ([`WebhookConfig::shopify_duplicate_rate`]): a duplicate carries the same event id.
//!
//! Shopify's stock webhooks come from every change to a level, not only a merchant's: an
//! `inventorySetQuantities` through the API sends `INVENTORY_LEVELS_UPDATE` for each level it
//! moved (a set to the number already there moves nothing), so an app that pushes stock hears
//! its own writes back and must not take them for hand changes.
//!
//! Retry waits run on the simulator's clock (tokio time, so a test may `pause()` and `advance`),
//! divided by [`WebhookConfig::time_scale`] so that a real-time test sees a 5-minute wait in
//! milliseconds.
//!
//! Faults ([`WebhookFaults`], `POST /_sim/webhooks`) act on deliveries, seeded like the other
//! faults: drop (the event never reaches that target, no retry), delay (held back for
//! `delayMs`), duplicate (sent twice), reorder (held until the next delivery to the same target
//! has gone).
//!
//! Every attempt is journalled ([`DeliveryRecord`]); the drip's changes are recorded with their
//! time and value ([`ChangeRecord`]) so a benchmark can tell when Shopify caught up.

pub(crate) mod control;
mod delivery;
pub(crate) mod drip;
pub mod nhanh;
pub mod shopify;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::clock::SimClock;
use crate::sim::Sim;

pub use delivery::DeliveryRecord;
pub use drip::{ChangeKind, ChangeRecord, DripRates};

/// Webhook settings of a simulator run.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Where Nhanh deliveries go (the URL typed into the app's settings page); none: not sent.
    pub nhanh_url: Option<String>,
    /// Where Shopify deliveries of every topic go, until subscriptions name their own.
    pub shopify_url: Option<String>,
    /// The verify token typed into Nhanh's app settings, sent with every Nhanh delivery.
    pub nhanh_verify_token: String,
    /// The header carrying it (the page names the value `verifyToken`; the header's exact
    /// spelling is unverified).
    pub nhanh_token_header: String,
    /// Also put `webhooksVerifyToken` in the body, as Nhanh's v2 payloads do (off: the v3 examples
    /// have no such key).
    pub nhanh_token_in_body: bool,
    /// The Shopify app's client secret: the HMAC key.
    pub shopify_secret: String,
    /// `X-Shopify-Shop-Domain`.
    pub shop_domain: String,
    /// `X-Shopify-API-Version`.
    pub shopify_api_version: String,
    /// Waits between Nhanh attempts (5, 10, 30 minutes).
    pub nhanh_retries: Vec<Duration>,
    /// Waits between Shopify attempts (8, exponential, 4 hours in all; the exact schedule is not
    /// published).
    pub shopify_retries: Vec<Duration>,
    /// Retry waits are divided by this (1: real minutes).
    pub time_scale: f64,
    /// Share of Shopify deliveries sent twice on their own (Shopify "minimizes" duplicates).
    pub shopify_duplicate_rate: f64,
    /// Most products in one `inventoryChange` (100, "may change").
    pub nhanh_batch: usize,
    /// How long a receiver has to answer (Shopify: 5 s; Nhanh unpublished).
    pub answer_timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        // 8 waits doubling from 56.47 s add up to 4 hours.
        let base = 4.0 * 3600.0 / 255.0;
        WebhookConfig {
            nhanh_url: None,
            shopify_url: None,
            nhanh_verify_token: "sim-nhanh-verify-token".into(),
            nhanh_token_header: "verifyToken".into(),
            nhanh_token_in_body: false,
            shopify_secret: "sim-shopify-client-secret".into(),
            shop_domain: "dongbo-sim.myshopify.com".into(),
            shopify_api_version: "2026-10".into(),
            nhanh_retries: vec![minutes(5), minutes(10), minutes(30)],
            shopify_retries: (0..8).map(|i| Duration::from_secs_f64(base * f64::from(1u32 << i))).collect(),
            time_scale: 1.0,
            shopify_duplicate_rate: 0.01,
            nhanh_batch: 100,
            answer_timeout: Duration::from_secs(5),
        }
    }
}

/// Faults on deliveries. Rates are probabilities in `0.0..=1.0` per delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebhookFaults {
    /// Share of deliveries lost: never sent to that target, never retried.
    pub drop_rate: f64,
    /// Share of deliveries held back for `delay_ms` before their first attempt.
    pub delay_rate: f64,
    /// How long a delayed delivery is held.
    pub delay_ms: u64,
    /// Share of deliveries sent twice (same ids, same body).
    pub duplicate_rate: f64,
    /// Share of deliveries held until the next delivery to the same target has been sent.
    pub reorder_rate: f64,
}

/// One Shopify subscription: a topic (`INVENTORY_LEVELS_UPDATE`) and where it is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// The GraphQL enum name of the topic (`INVENTORY_LEVELS_UPDATE`).
    pub topic: String,
    /// The endpoint.
    pub uri: String,
}

/// Where deliveries go: Nhanh's one URL, Shopify's subscriptions, and Shopify's catch-all URL
/// (from the config or `/_sim/webhooks`) for topics no subscription names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    /// Nhanh's webhook URL.
    pub nhanh_url: Option<String>,
    /// Shopify's URL for every topic.
    pub shopify_url: Option<String>,
    /// Shopify subscriptions by topic.
    pub subscriptions: Vec<Subscription>,
}

impl Targets {
    /// The endpoints of a Shopify topic (`INVENTORY_LEVELS_UPDATE`): its subscriptions, else the
    /// catch-all URL.
    pub fn shopify_uris(&self, topic: &str) -> Vec<String> {
        let subscribed: Vec<String> =
            self.subscriptions.iter().filter(|s| s.topic == topic).map(|s| s.uri.clone()).collect();
        if subscribed.is_empty() {
            self.shopify_url.iter().cloned().collect()
        } else {
            subscribed
        }
    }
}

pub(crate) struct HubState {
    pub targets: Targets,
    pub faults: WebhookFaults,
    pub rng: StdRng,
    pub log: Vec<DeliveryRecord>,
    /// Per target URL, the delivery held back for reordering.
    pub held: std::collections::HashMap<String, delivery::Pending>,
    /// Shopify event ids already sent, so that every event id is new.
    pub next_event: u64,
    pub next_order: u64,
}

/// Sends the simulator's webhooks; shared by both servers, the control API and the library
/// handle.
pub(crate) struct Hub {
    pub config: WebhookConfig,
    pub clock: SimClock,
    /// Nhanh's `businessId` in every Nhanh body.
    pub business_id: u64,
    pub state: Mutex<HubState>,
    pub client: reqwest::Client,
    pub stop: watch::Sender<bool>,
    pub drip: Mutex<drip::DripState>,
}

impl Hub {
    pub(crate) fn new(config: WebhookConfig, seed: u64, clock: SimClock, business_id: u64) -> Arc<Hub> {
        let targets = Targets {
            nhanh_url: config.nhanh_url.clone(),
            shopify_url: config.shopify_url.clone(),
            subscriptions: Vec::new(),
        };
        let client = reqwest::Client::builder()
            .timeout(config.answer_timeout)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap_or_default();
        Arc::new(Hub {
            config,
            clock,
            business_id,
            state: Mutex::new(HubState {
                targets,
                faults: WebhookFaults::default(),
                rng: StdRng::seed_from_u64(seed ^ 0x3EB0),
                log: Vec::new(),
                held: Default::default(),
                next_event: 0,
                next_order: 0,
            }),
            client,
            stop: watch::channel(false).0,
            drip: Mutex::new(drip::DripState::default()),
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where deliveries go now.
    pub(crate) fn targets(&self) -> Targets {
        self.lock().targets.clone()
    }

    /// Adds a Shopify subscription (what `webhookSubscriptionCreate` does); returns its index.
    pub(crate) fn subscribe(&self, topic: &str, uri: &str) -> usize {
        let mut s = self.lock();
        let sub = Subscription { topic: topic.to_string(), uri: uri.to_string() };
        if let Some(i) = s.targets.subscriptions.iter().position(|x| *x == sub) {
            return i;
        }
        s.targets.subscriptions.push(sub);
        s.targets.subscriptions.len() - 1
    }

    /// A new order number.
    pub(crate) fn next_order(&self) -> u64 {
        let mut s = self.lock();
        s.next_order += 1;
        s.next_order
    }

    /// Every attempt so far.
    pub(crate) fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.lock().log.clone()
    }

    /// Stops retries, held deliveries and the drip.
    pub(crate) fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Hub {
    fn uuid(s: &mut HubState) -> String {
        use rand::Rng;
        uuid::Builder::from_random_bytes(s.rng.gen()).into_uuid().to_string()
    }

    /// Sends a Nhanh event to Nhanh's webhook URL, if one is set.
    pub(crate) fn emit_nhanh(self: &Arc<Self>, event: &str, data: serde_json::Value) {
        let Some(url) = self.targets().nhanh_url else { return };
        let token_in_body = self.config.nhanh_token_in_body.then_some(self.config.nhanh_verify_token.as_str());
        let body = nhanh::body(event, self.business_id, data, token_in_body);
        let body = axum::body::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let seq = {
            let mut s = self.lock();
            s.next_event += 1;
            s.next_event
        };
        let headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (self.config.nhanh_token_header.clone(), self.config.nhanh_verify_token.clone()),
        ];
        let pending = delivery::Pending {
            platform: delivery::Platform::Nhanh,
            topic: event.to_string(),
            url,
            body,
            headers,
            event_id: format!("nhanh-{seq}"),
            webhook_id: None,
            seq,
        };
        delivery::dispatch(self, vec![pending]);
    }

    /// Sends a Shopify topic (`INVENTORY_LEVELS_UPDATE`) to every endpoint subscribed to it:
    /// one event id, one webhook id per endpoint.
    pub(crate) fn emit_shopify(self: &Arc<Self>, topic: &str, payload: serde_json::Value) {
        let uris = self.targets().shopify_uris(topic);
        if uris.is_empty() {
            return;
        }
        let body = axum::body::Bytes::from(serde_json::to_vec(&payload).unwrap_or_default());
        let triggered_at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.clock.unix_ms())
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut deliveries = Vec::new();
        let mut s = self.lock();
        let event_id = Self::uuid(&mut s);
        for url in uris {
            s.next_event += 1;
            let webhook_id = Self::uuid(&mut s);
            let headers = shopify::Headers {
                topic,
                secret: &self.config.shopify_secret,
                shop_domain: &self.config.shop_domain,
                api_version: &self.config.shopify_api_version,
                webhook_id: &webhook_id,
                triggered_at: &triggered_at,
                event_id: &event_id,
            }
            .for_body(&body);
            deliveries.push(delivery::Pending {
                platform: delivery::Platform::Shopify,
                topic: shopify::header_topic(topic),
                url,
                body: body.clone(),
                headers,
                event_id: event_id.clone(),
                webhook_id: Some(webhook_id),
                seq: s.next_event,
            });
        }
        drop(s);
        delivery::dispatch(self, deliveries);
    }
}

/// Nhanh `inventoryChange` deliveries for these products, at most
/// [`WebhookConfig::nhanh_batch`] products each.
pub(crate) fn products_changed(sim: &Sim, ids: &[u64]) {
    if ids.is_empty() || sim.webhooks.targets().nhanh_url.is_none() {
        return;
    }
    let batches: Vec<serde_json::Value> = {
        let world = sim.read();
        let products: Vec<_> =
            ids.iter().filter_map(|id| world.nhanh_product_index(*id)).map(|i| &world.nhanh_products[i]).collect();
        products.chunks(sim.webhooks.config.nhanh_batch.max(1)).map(nhanh::inventory_change).collect()
    };
    for data in batches {
        sim.webhooks.emit_nhanh(nhanh::INVENTORY_CHANGE, data);
    }
}

/// Nhanh `productUpdate` deliveries for these products (their information changed).
pub(crate) fn products_updated(sim: &Sim, ids: &[u64]) {
    if ids.is_empty() || sim.webhooks.targets().nhanh_url.is_none() {
        return;
    }
    let data: Vec<serde_json::Value> = {
        let world = sim.read();
        ids.iter()
            .filter_map(|id| world.nhanh_product_index(*id))
            .map(|i| nhanh::product(&world.nhanh_products[i]))
            .collect()
    };
    sim.webhooks.emit_nhanh(nhanh::PRODUCT_UPDATE, serde_json::Value::Array(data));
}

/// One Nhanh `orderAdd` per customer: the order that raised their total.
pub(crate) fn customers_ordered(sim: &Sim, ids: &[u64]) {
    if ids.is_empty() || sim.webhooks.targets().nhanh_url.is_none() {
        return;
    }
    let now = sim.clock.unix_secs();
    let orders: Vec<serde_json::Value> = {
        let world = sim.read();
        ids.iter()
            .filter_map(|id| world.nhanh_customer_index(*id))
            .map(|i| {
                let c = &world.nhanh_customers[i];
                let rendered = crate::nhanh::render::customer(world.seed, c);
                let order_id = 9_000_000 + sim.webhooks.next_order();
                nhanh::order(&nhanh::Order {
                    id: order_id,
                    depot: (order_id % 5) as usize,
                    customer_id: c.id,
                    customer_name: rendered["name"].as_str().unwrap_or_default(),
                    customer_mobile: rendered["mobile"].clone(),
                    created_at: now,
                })
            })
            .collect()
    };
    for data in orders {
        sim.webhooks.emit_nhanh(nhanh::ORDER_ADD, data);
    }
}

/// Changes the Shopify stock of `n` deterministically chosen variants at one location each, as
/// a merchant would by hand in the admin, and sends `INVENTORY_LEVELS_UPDATE` for each; returns
/// the inventory item gids.
pub(crate) fn touch_shopify_inventory(sim: &Sim, n: usize) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let now = sim.clock.unix_secs();
    let updated_at = crate::clock::iso(now);
    let mut changed = Vec::new();
    {
        let mut world = sim.write();
        world.touches += 1;
        let call = world.touches;
        let len = world.variants.len() as u64;
        let mut d = crate::data::draw::Draw::new(world.seed, 0x70C4 ^ 3, call);
        for _ in 0..n.min(len as usize) {
            let v = d.below(len) as usize;
            let l = d.below(crate::data::names::LOCATIONS.len() as u64) as usize;
            let variant = &mut world.variants[v];
            variant.levels[l] = (variant.levels[l] + d.range(1, 9)) % 60;
            variant.level_updated_at[l] = now;
            changed.push((variant.inventory_item_id, crate::data::location_id(l), variant.levels[l]));
        }
    }
    levels_changed(sim, &changed, &updated_at);
    changed.into_iter().map(|(item, _, _)| crate::gid::gid("InventoryItem", item)).collect()
}

/// One `INVENTORY_LEVELS_UPDATE` per level `(inventory item, location, available)`.
fn levels_changed(sim: &Sim, levels: &[(u64, u64, i64)], updated_at: &str) {
    for (item, location, available) in levels {
        sim.webhooks.emit_shopify(
            shopify::INVENTORY_LEVELS_UPDATE,
            shopify::inventory_level(*item, *location, *available, updated_at),
        );
    }
}

/// The echo of an API write (`inventorySetQuantities`): Shopify sends `inventory_levels/update`
/// for every level that moved, whoever moved it — the app that wrote it included, so a receiver
/// must tell its own writes from a merchant's. Called once the write is applied and its locks
/// are released.
pub(crate) fn levels_written(sim: &Sim, levels: &[(u64, u64, i64)]) {
    if levels.is_empty() || sim.webhooks.targets().shopify_uris(shopify::INVENTORY_LEVELS_UPDATE).is_empty() {
        return;
    }
    levels_changed(sim, levels, &crate::clock::iso(sim.clock.unix_secs()));
}

/// Sets one Shopify level by hand, as a merchant would in the admin, and sends
/// `INVENTORY_LEVELS_UPDATE` if it moved; `None` when the item or location is unknown.
pub(crate) fn set_shopify_level(sim: &Sim, item_gid: &str, location_gid: &str, available: i64) -> Option<i64> {
    let now = sim.clock.unix_secs();
    let (before, level) = {
        let mut world = sim.write();
        let v = world.inventory_item_index(item_gid)?;
        let l = crate::data::location_index(location_gid)?;
        let variant = &mut world.variants[v];
        let before = variant.levels[l];
        variant.levels[l] = available;
        variant.level_updated_at[l] = now;
        variant.updated_at = now;
        (before, (variant.inventory_item_id, crate::data::location_id(l), available))
    };
    if before != available {
        levels_changed(sim, &[level], &crate::clock::iso(now));
    }
    Some(before)
}

/// Bumps the retail price of `n` deterministically chosen Nhanh products (their information,
/// so `updatedAt` moves) and sends `productUpdate`; returns their ids.
pub(crate) fn touch_product_info(sim: &Sim, n: usize) -> Vec<u64> {
    if n == 0 {
        return Vec::new();
    }
    let now = sim.clock.unix_secs();
    let ids: Vec<u64> = {
        let mut world = sim.write();
        world.touches += 1;
        let call = world.touches;
        let len = world.nhanh_products.len() as u64;
        let mut d = crate::data::draw::Draw::new(world.seed, 0x70C4 ^ 4, call);
        let mut ids: Vec<u64> = (0..n.min(len as usize))
            .map(|_| {
                let p = &mut world.nhanh_products[d.below(len) as usize];
                p.retail += 1000;
                p.updated_at = now;
                p.id
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    products_updated(sim, &ids);
    ids
}

/// Handle on the webhooks of a running simulator (cheap to clone).
#[derive(Clone)]
pub struct Webhooks {
    pub(crate) sim: Arc<Sim>,
}

impl Webhooks {
    /// The settings the simulator started with (verify token, client secret, retry waits).
    pub fn config(&self) -> &WebhookConfig {
        &self.sim.webhooks.config
    }

    /// Where deliveries go now.
    pub fn targets(&self) -> Targets {
        self.sim.webhooks.targets()
    }

    /// Nhanh's webhook URL (none: Nhanh sends nothing).
    pub fn set_nhanh_url(&self, url: Option<String>) {
        self.sim.webhooks.lock().targets.nhanh_url = url;
    }

    /// Shopify's URL for every topic no subscription names (none: only subscriptions).
    pub fn set_shopify_url(&self, url: Option<String>) {
        self.sim.webhooks.lock().targets.shopify_url = url;
    }

    /// Adds a Shopify subscription of `topic` (`INVENTORY_LEVELS_UPDATE`) at `uri`.
    pub fn subscribe(&self, topic: &str, uri: &str) {
        self.sim.webhooks.subscribe(topic, uri);
    }

    /// Replaces the delivery faults.
    pub fn set_faults(&self, faults: WebhookFaults) {
        self.sim.webhooks.lock().faults = faults;
    }

    /// Every attempt so far (and every delivery a fault dropped), in order.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.sim.webhooks.deliveries()
    }

    /// Starts (or restarts at new rates) the drip.
    pub fn start_drip(&self, rates: DripRates) {
        drip::start(&self.sim, rates);
    }

    /// Stops the drip; its changes stay recorded.
    pub fn stop_drip(&self) {
        drip::stop(&self.sim);
    }

    /// Changes `n` Shopify levels by hand (each sends `INVENTORY_LEVELS_UPDATE`); returns the
    /// inventory item gids.
    pub fn touch_shopify_levels(&self, n: usize) -> Vec<String> {
        touch_shopify_inventory(&self.sim, n)
    }

    /// Sets the Shopify level of `inventory_item_gid` at `location_gid` to `available` by hand
    /// (as a merchant in the admin) and sends `INVENTORY_LEVELS_UPDATE` if it moved; returns the
    /// level before, or `None` for an unknown item or location.
    pub fn set_shopify_level(&self, inventory_item_gid: &str, location_gid: &str, available: i64) -> Option<i64> {
        set_shopify_level(&self.sim, inventory_item_gid, location_gid, available)
    }

    /// Every change the drip made, in order.
    pub fn changes(&self) -> Vec<ChangeRecord> {
        self.sim.webhooks.drip.lock().unwrap_or_else(|e| e.into_inner()).changes.clone()
    }
}
