//! The state both servers share: config, clock, world, journal, faults and limiters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::bucket::LeakyBucket;
use crate::clock::SimClock;
use crate::config::{Plan, SimConfig};
use crate::data::World;
use crate::faults::Faults;
use crate::journal::Journal;
use crate::nhanh::rate_limit::Window;
use crate::shopify::bulk::BulkOperations;
use crate::shopify::InventorySetQuantitiesPayload;
use crate::stats::Stats;
use crate::truth::Truth;

/// Shared by both servers and the library handle.
pub(crate) struct Sim {
    pub config: SimConfig,
    pub clock: SimClock,
    world: RwLock<World>,
    truth: OnceLock<Arc<Truth>>,
    pub journal: Journal,
    pub faults: Faults,
    pub nhanh_stats: Arc<Stats>,
    pub shopify_stats: Arc<Stats>,
    pub nhanh_windows: Mutex<HashMap<String, Window>>,
    /// Nhanh's access tokens and codes.
    pub nhanh_tokens: Mutex<crate::nhanh::app::TokenBook>,
    /// Nhanh product ids left out of stock replies (a fault for tests).
    pub nhanh_hidden: Mutex<std::collections::HashSet<u64>>,
    /// Shopify locations (indexes) deactivated by a test: listed with `isActive: false`.
    pub shopify_inactive: Mutex<std::collections::HashSet<usize>>,
    pub bucket: Mutex<(Plan, LeakyBucket)>,
    /// `@idempotent` keys already applied, with the payload they produced.
    pub idempotency: Mutex<HashMap<String, InventorySetQuantitiesPayload>>,
    pub bulk: BulkOperations,
    /// `http://host:port` of the Shopify server, set once it listens.
    pub shop_url: OnceLock<String>,
    /// The webhooks both platforms send.
    pub webhooks: Arc<crate::webhooks::Hub>,
}

impl Sim {
    /// Whether the Shopify location at `index` is active (every one is unless a test said not).
    pub(crate) fn location_active(&self, index: usize) -> bool {
        !self.shopify_inactive.lock().unwrap_or_else(|e| e.into_inner()).contains(&index)
    }

    pub(crate) fn new(config: SimConfig) -> Sim {
        let world = World::generate(config.seed, config.products, config.customers);
        let clock = SimClock::start();
        let (max, rate) = config.plan.bucket();
        Sim {
            clock,
            world: RwLock::new(world),
            truth: OnceLock::new(),
            journal: Journal::default(),
            faults: Faults::new(config.seed, config.plan),
            nhanh_stats: Arc::default(),
            shopify_stats: Arc::default(),
            nhanh_windows: Mutex::default(),
            nhanh_tokens: Mutex::new(crate::nhanh::app::TokenBook::new(
                &config.credentials.nhanh_access_token,
                &config.credentials.nhanh_access_code,
                clock.unix_ms(),
            )),
            nhanh_hidden: Mutex::default(),
            shopify_inactive: Mutex::default(),
            bucket: Mutex::new((config.plan, LeakyBucket::new(max, rate, clock.now()))),
            idempotency: Mutex::default(),
            bulk: BulkOperations::default(),
            shop_url: OnceLock::new(),
            webhooks: crate::webhooks::Hub::new(
                config.webhooks.clone(),
                config.seed,
                clock,
                config.credentials.nhanh_business_id.parse().unwrap_or(0),
            ),
            config,
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, World> {
        self.world.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The ground truth, computed on first use.
    pub(crate) fn truth(&self) -> Arc<Truth> {
        self.truth.get_or_init(|| Arc::new(Truth::compute(&self.read()))).clone()
    }

    pub(crate) fn shop_url(&self) -> String {
        self.shop_url.get().cloned().unwrap_or_default()
    }
}
