//! Changes to Nhanh records at run time, for incremental-pull tests: each call picks records
//! deterministically (from the seed and how many calls came before) and stamps them "now".

use std::collections::BTreeSet;

use crate::data::draw::Draw;
use crate::data::names::DEPOTS;
use crate::sim::Sim;

const D_TOUCH: u64 = 0x70C4;

fn pick(seed: u64, call: u64, len: usize, n: usize) -> BTreeSet<usize> {
    let n = n.min(len);
    let mut d = Draw::new(seed, D_TOUCH, call);
    let mut chosen = BTreeSet::new();
    while chosen.len() < n {
        chosen.insert(d.below(len as u64) as usize);
    }
    chosen
}

/// Bumps `updatedAt` and `totalAmount` of `n` Nhanh customers; returns their ids.
pub(crate) fn customers(sim: &Sim, n: usize) -> Vec<u64> {
    if n == 0 {
        return Vec::new();
    }
    let now = sim.clock.unix_secs();
    let mut world = sim.write();
    world.touches += 1;
    let call = world.touches;
    let chosen = pick(world.seed, call, world.nhanh_customers.len(), n);
    let mut d = Draw::new(world.seed, D_TOUCH ^ 1, call);
    chosen
        .into_iter()
        .map(|i| {
            let c = &mut world.nhanh_customers[i];
            c.updated_at = now;
            c.total_amount += d.range(1, 500) as u64 * 1000;
            c.id
        })
        .collect()
}

/// Changes the stock of one mapped depot of `n` Nhanh products (and their parents' sums) and
/// stamps their stock-change time, not their `updatedAt` (which, per
/// apidocs.nhanh.vn/v3/product/list, does not cover stock); returns their ids.
pub(crate) fn products(sim: &Sim, n: usize) -> Vec<u64> {
    if n == 0 {
        return Vec::new();
    }
    let now = sim.clock.unix_secs();
    let mut world = sim.write();
    world.touches += 1;
    let call = world.touches;
    // Parents hold their children's sums, so only leaf rows are touched directly.
    let parents: std::collections::HashSet<u64> = world.nhanh_products.iter().filter_map(|p| p.parent_id).collect();
    let leaves: Vec<usize> =
        (0..world.nhanh_products.len()).filter(|&i| !parents.contains(&world.nhanh_products[i].id)).collect();
    let chosen: Vec<usize> = pick(world.seed, call, leaves.len(), n).into_iter().map(|i| leaves[i]).collect();
    let mut d = Draw::new(world.seed, D_TOUCH ^ 2, call);
    let mapped: Vec<usize> = (0..DEPOTS.len()).filter(|&i| DEPOTS[i].1.is_some()).collect();
    let mut ids = Vec::new();
    for i in chosen {
        let depot = *d.pick(&mapped);
        let before = world.nhanh_products[i].stock[depot];
        let after = (before + d.range(1, 20)) % 70;
        let delta = after - before;
        let p = &mut world.nhanh_products[i];
        p.stock[depot] = after;
        p.stock_updated_at = now;
        ids.push(p.id);
        if let Some(parent) = p.parent_id.and_then(|id| world.nhanh_product_index(id)) {
            world.nhanh_products[parent].stock[depot] += delta;
            world.nhanh_products[parent].stock_updated_at = now;
        }
    }
    ids
}

/// Moves `quantity` of a Nhanh product's stock from one depot to another, as a stock transfer
/// does: its total is unchanged (its parent's too), each depot's `available` moves, stamped now.
/// Sends no webhook. False for an unknown product or depot.
pub(crate) fn transfer(sim: &Sim, product: u64, from: u64, to: u64, quantity: i64) -> bool {
    use crate::data::depot_index;
    let (Some(from), Some(to)) = (depot_index(from), depot_index(to)) else { return false };
    let now = sim.clock.unix_secs();
    let mut world = sim.write();
    let Some(i) = world.nhanh_product_index(product) else { return false };
    let parent = world.nhanh_products[i].parent_id.and_then(|id| world.nhanh_product_index(id));
    for row in std::iter::once(i).chain(parent) {
        let p = &mut world.nhanh_products[row];
        p.stock[from] -= quantity;
        p.stock[to] += quantity;
        p.stock_updated_at = now;
    }
    true
}
