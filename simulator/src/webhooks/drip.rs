//! Drip mode: a steady stream of changes in Nhanh — N stock changes and M orders per second —
//! each sent as webhooks and recorded with its time and value, so that a benchmark can measure
//! how long the same value takes to show in Shopify.
//!
//! Only records Shopify can show are changed: stock of paired (leaf) products in a depot mapped
//! onto a location, and the total of paired customers. A tick every 100 ms makes the changes due
//! by then; the stock changes of one tick travel in one `inventoryChange` (as Nhanh batches
//! changes close together), each order in its own `orderAdd`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::data::draw::Draw;
use crate::data::names::DEPOTS;
use crate::data::products::mapped_sum;
use crate::data::{depot_id, location_id};
use crate::gid::gid;
use crate::sim::Sim;

const D_DRIP: u64 = 0xD819;
const TICK: Duration = Duration::from_millis(100);

/// How fast the drip changes things.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DripRates {
    /// Stock changes per second.
    pub stock_per_second: f64,
    /// Orders per second (each raises a customer's total).
    pub orders_per_second: f64,
}

/// What a drip change was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// `available` of a product in a depot.
    Stock,
    /// An order raised a customer's `totalAmount`.
    Order,
}

/// One change made by the drip.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRecord {
    /// 0, 1, 2, … in the order they were made.
    pub seq: u64,
    /// Stock or order.
    pub kind: ChangeKind,
    /// Simulator time of the change, unix milliseconds.
    pub at: i64,
    /// The Nhanh product or customer.
    pub nhanh_id: u64,
    /// The depot whose stock changed.
    pub depot_id: Option<u64>,
    /// The new value in Nhanh: the depot's `available`, or the customer's `totalAmount`.
    pub nhanh_value: i64,
    /// Where Shopify shows it: the inventory item gid, or the customer gid.
    pub shopify_target: String,
    /// The location gid (stock).
    pub location_id: Option<String>,
    /// What Shopify must show once in step: the location's sum over its mapped depots, or the
    /// `custom.total_spent` metafield.
    pub shopify_value: i64,
}

/// The drip's state in the hub.
#[derive(Default)]
pub(crate) struct DripState {
    pub stop: Option<watch::Sender<bool>>,
    pub rates: Option<DripRates>,
    pub changes: Vec<ChangeRecord>,
}

/// Starts dripping at `rates` (a running drip is replaced); the changes recorded so far are kept.
pub(crate) fn start(sim: &Arc<Sim>, rates: DripRates) {
    stop(sim);
    let (tx, mut rx) = watch::channel(false);
    {
        let mut d = sim.webhooks.drip.lock().unwrap_or_else(|e| e.into_inner());
        d.stop = Some(tx);
        d.rates = Some(rates);
    }
    let (products, customers) = candidates(sim);
    let sim = sim.clone();
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let (mut stock_done, mut orders_done, mut tick) = (0u64, 0u64, 0u64);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = rx.wait_for(|s| *s) => return,
            }
            tick += 1;
            let secs = started.elapsed().as_secs_f64();
            let stock_due = (rates.stock_per_second * secs) as u64;
            let orders_due = (rates.orders_per_second * secs) as u64;
            let mut d = Draw::new(sim.config.seed, D_DRIP, tick);
            let changed = change_stock(&sim, &products, (stock_due - stock_done) as usize, &mut d);
            let ordered = place_orders(&sim, &customers, (orders_due - orders_done) as usize, &mut d);
            (stock_done, orders_done) = (stock_due, orders_due);
            super::products_changed(&sim, &changed);
            super::customers_ordered(&sim, &ordered);
        }
    });
}

/// Stops the drip, if it runs.
pub(crate) fn stop(sim: &Sim) {
    let mut d = sim.webhooks.drip.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(tx) = d.stop.take() {
        let _ = tx.send(true);
    }
    d.rates = None;
}

/// Paired leaf products (Nhanh index) and paired customers (Nhanh id, Shopify gid).
fn candidates(sim: &Sim) -> (Vec<usize>, Vec<(u64, String)>) {
    let truth = sim.truth();
    let world = sim.read();
    let parents: HashSet<u64> = world.nhanh_products.iter().filter_map(|p| p.parent_id).collect();
    let products = world
        .product_intent
        .pairs
        .iter()
        .map(|&(n, _)| n as usize)
        .filter(|&n| !parents.contains(&world.nhanh_products[n].id))
        .collect();
    (products, truth.customer_pairs.clone())
}

fn change_stock(sim: &Sim, products: &[usize], n: usize, d: &mut Draw) -> Vec<u64> {
    if products.is_empty() || n == 0 {
        return Vec::new();
    }
    let now = sim.clock.unix_ms();
    let mapped: Vec<usize> = (0..DEPOTS.len()).filter(|&i| DEPOTS[i].1.is_some()).collect();
    let mut world = sim.write();
    let pairs: std::collections::HashMap<usize, usize> =
        world.product_intent.pairs.iter().map(|&(n, v)| (n as usize, v as usize)).collect();
    let mut records = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let i = *d.pick(products);
        let depot = *d.pick(&mapped);
        let before = world.nhanh_products[i].stock[depot];
        let after = (before + d.range(1, 20)) % 70;
        let p = &mut world.nhanh_products[i];
        p.stock[depot] = after;
        p.stock_updated_at = now / 1000;
        let (id, parent, stock) = (p.id, p.parent_id, p.stock);
        if let Some(parent) = parent.and_then(|id| world.nhanh_product_index(id)) {
            world.nhanh_products[parent].stock[depot] += after - before;
            world.nhanh_products[parent].stock_updated_at = now / 1000;
        }
        let Some(location) = DEPOTS[depot].1 else { continue };
        let Some(&v) = pairs.get(&i) else { continue };
        records.push((id, depot, after, world.variants[v].inventory_item_id, location, mapped_sum(&stock)[location]));
        ids.push(id);
    }
    drop(world);
    let mut drip = sim.webhooks.drip.lock().unwrap_or_else(|e| e.into_inner());
    for (id, depot, after, item, location, sum) in records {
        let seq = drip.changes.len() as u64;
        drip.changes.push(ChangeRecord {
            seq,
            kind: ChangeKind::Stock,
            at: now,
            nhanh_id: id,
            depot_id: Some(depot_id(depot)),
            nhanh_value: after,
            shopify_target: gid("InventoryItem", item),
            location_id: Some(gid("Location", location_id(location))),
            shopify_value: sum,
        });
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn place_orders(sim: &Sim, customers: &[(u64, String)], n: usize, d: &mut Draw) -> Vec<u64> {
    if customers.is_empty() || n == 0 {
        return Vec::new();
    }
    let now = sim.clock.unix_ms();
    let mut world = sim.write();
    let mut records = Vec::with_capacity(n);
    for _ in 0..n {
        let (id, shop) = d.pick(customers);
        let Some(i) = world.nhanh_customer_index(*id) else { continue };
        let c = &mut world.nhanh_customers[i];
        c.total_amount += d.range(1, 500) as u64 * 1000;
        c.updated_at = now / 1000;
        records.push((*id, shop.clone(), c.total_amount as i64));
    }
    drop(world);
    let ids = records.iter().map(|r| r.0).collect();
    let mut drip = sim.webhooks.drip.lock().unwrap_or_else(|e| e.into_inner());
    for (id, shop, total) in records {
        let seq = drip.changes.len() as u64;
        drip.changes.push(ChangeRecord {
            seq,
            kind: ChangeKind::Order,
            at: now,
            nhanh_id: id,
            depot_id: None,
            nhanh_value: total,
            shopify_target: shop,
            location_id: None,
            shopify_value: total,
        });
    }
    ids
}
