//! What a pass leaves behind, read back for comparison: the local tables that matter (mirrors,
//! keys, mappings, conflicts, location mappings, counts), Shopify's final state as the simulator
//! holds it, and the simulator's request statistics.
//!
//! Tables are kept as their rows' debug renderings in the store's order (by id), which makes two
//! passes comparable row by row whatever the row type. Columns that name a run rather than the
//! data (the job that made a mapping or found a conflict) are left out.

use std::collections::BTreeMap;
use std::fmt::Debug;

use dongbo_engine::Db;
use dongbo_simulator::{Simulator, Truth};
use dongbo_workflows::catalog::store::matching::{list_conflicts, list_mappings, MatchKind};
use dongbo_workflows::catalog::store::pulls::*;
use serde_json::Value;

/// The state a pass ends in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    /// `(table, rows)`.
    pub(crate) tables: Vec<(&'static str, Vec<String>)>,
    /// Shopify `available` per `(inventory item, location)`, for every mirrored variant.
    pub(crate) inventory: BTreeMap<(String, String), Option<i64>>,
    /// Shopify `custom.total_spent` per mirrored customer.
    pub(crate) total_spent: BTreeMap<String, Option<String>>,
}

fn rows<T: Debug>(v: Vec<T>) -> Vec<String> {
    v.iter().map(|r| format!("{r:?}")).collect()
}

/// Reads the outcome of a pass.
pub(crate) async fn capture(db: &Db, sim: &Simulator, truth: &Truth) -> anyhow::Result<Outcome> {
    let mut tables = vec![
        ("catalog counts", vec![format!("{:?}", catalog_counts(db).await?)]),
        ("nhanh products", rows(list_nhanh_products(db).await?)),
        ("shopify products", rows(list_shopify_products(db).await?)),
        ("nhanh customers", rows(list_nhanh_customers(db).await?)),
        ("shopify customers", rows(list_shopify_customers(db).await?)),
        ("locations", rows(list_locations(db).await?)),
        ("depots", rows(list_depots(db).await?)),
        ("location mappings", rows(location_mappings(db).await?)),
        ("nhanh customer keys", rows(list_nhanh_customer_keys(db).await?)),
        ("shopify customer keys", rows(list_shopify_customer_keys(db).await?)),
        ("nhanh product keys", rows(list_nhanh_product_keys(db).await?)),
        ("shopify variant keys", rows(list_shopify_variant_keys(db).await?)),
    ];
    let variants = list_shopify_variants(db).await?;
    let customers = list_shopify_customers(db).await?;
    for (name, kind) in [("product mappings", MatchKind::Products), ("customer mappings", MatchKind::Customers)] {
        let m = list_mappings(db, kind).await?;
        tables.push((
            name,
            m.into_iter()
                .map(|m| format!("{:?}", (m.nhanh_id, m.shopify_id, m.method, m.match_key, m.state)))
                .collect(),
        ));
    }
    for (name, kind) in [("product conflicts", MatchKind::Products), ("customer conflicts", MatchKind::Customers)] {
        let c = list_conflicts(db, kind).await?;
        tables.push((name, c.into_iter().map(|c| format!("{:?}", (c.key, c.nhanh_ids, c.shopify_ids))).collect()));
    }

    let state = sim.state();
    let mut inventory = BTreeMap::new();
    for item in variants.iter().filter_map(|v| v.inventory_item_id.clone()) {
        for location in &truth.locations {
            inventory.insert((item.clone(), location.id.clone()), state.inventory(&item, &location.id));
        }
    }
    let total_spent =
        customers.iter().map(|c| (c.id.clone(), state.customer_metafield(&c.id, "custom", "total_spent"))).collect();
    tables.push(("shopify variants", rows(variants)));
    Ok(Outcome { tables, inventory, total_spent })
}

/// The simulator's count of requests and of what it did to them.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Requests to both servers (the neighbour's included).
    pub requests: u64,
    /// Injected HTTP 5xx replies.
    pub errors: u64,
    /// Injected hangs ending in HTTP 504.
    pub timeouts: u64,
    /// THROTTLED replies from Shopify (the neighbour's included).
    pub throttled: u64,
    /// Nhanh ERR_429 replies.
    pub locked: u64,
    /// Requests the throttling neighbour sent.
    pub neighbour_sent: u64,
    /// THROTTLED replies the neighbour itself got.
    pub neighbour_throttled: u64,
}

impl Traffic {
    /// THROTTLED replies the workers got.
    pub fn workers_throttled(&self) -> u64 {
        self.throttled.saturating_sub(self.neighbour_throttled)
    }
}

/// `GET /_sim/requests` of both servers, summed; zeros where a server does not answer.
pub(crate) async fn traffic(sim: &Simulator) -> Traffic {
    let client = reqwest::Client::new();
    let mut t = Traffic::default();
    for base in [sim.nhanh_base_url(), sim.shopify_shop_url()] {
        let Ok(reply) = client.get(format!("{base}/_sim/requests")).send().await else { continue };
        let Ok(stats) = reply.json::<Value>().await else { continue };
        let count = |v: &Value| v.as_u64().unwrap_or(0);
        t.requests += stats["requests"].as_object().map_or(0, |m| m.values().map(count).sum());
        t.errors += count(&stats["events"]["fault.error"]);
        t.timeouts += count(&stats["events"]["fault.timeout"]);
        t.throttled += count(&stats["throttled"]);
        t.locked += count(&stats["locked"]);
    }
    t
}
