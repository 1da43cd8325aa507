//! Throughput of PRODUCT_SYNC and CUSTOMER_SYNC against the simulator's Standard plan, next to
//! the old tool's ~5 items/s.
//!
//! The ceiling is what the cost bucket allows over the measured run: the bucket starts full
//! (1000 points) and restores 100 points/s; each call is one mutation (10 points) carrying 25
//! metafields, or ⌊250 / locations⌋ products' quantities. So over `t` seconds at most
//! `(1000 + 100·t) / 10` calls fit, and the ceiling in items/s is that × items per call / t.
//! PRODUCT_SYNC also reads each call's stock from Nhanh in-line (one request per call, spread over
//! two URLs of 150 requests / 30 s each), so its ceiling is the lower of that and the bucket's.
//! The Shopify steady-state ceiling (restore rate only) is printed too. Setup (mirroring the catalog)
//! runs with throttling off; the measured part runs with it on, the bucket full.
//!
//! `cargo bench -p dongbo-workflows --bench sync` (sizes: `SYNC_BENCH_CUSTOMERS`,
//! `SYNC_BENCH_PRODUCTS`).

#[path = "../tests/sync_support/mod.rs"]
mod sync_support;

use std::time::Instant;

use dongbo_engine::Engine;
use dongbo_simulator::{Plan, Scope};
use dongbo_workflows::jobs;
use dongbo_workflows::sync::plan::products_per_call;
use dongbo_workflows::sync::SyncSettings;
use serde_json::json;
use sync_support::*;

const OLD_TOOL_ITEMS_PER_S: f64 = 5.0;
const TARGET: f64 = 0.90;
const MUTATION_COST: f64 = 10.0;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Row {
    name: &'static str,
    items: i64,
    seconds: f64,
    items_per_call: f64,
    /// Nhanh URLs read in-line, one request per call (0 for a sync that reads the mirror).
    nhanh_urls: f64,
}

/// Requests Nhanh admits on one URL over `t` seconds: a burst of 150, then 150 per 30 s.
fn nhanh_requests(t: f64) -> f64 {
    150.0 + 5.0 * (t - 30.0).max(0.0)
}

fn report(row: &Row) {
    let (bucket, restore) = Plan::Standard.bucket();
    let measured = row.items as f64 / row.seconds;
    let shopify_run = (bucket + restore * row.seconds) / MUTATION_COST * row.items_per_call / row.seconds;
    let nhanh_run = match row.nhanh_urls > 0.0 {
        true => row.nhanh_urls * nhanh_requests(row.seconds) * row.items_per_call / row.seconds,
        false => f64::INFINITY,
    };
    let ceiling = shopify_run.min(nhanh_run);
    let steady_ceiling = restore / MUTATION_COST * row.items_per_call;
    let ratio = measured / ceiling;
    println!(
        "{:<14} items={:<6} seconds={:>5.1} measured={:>7.1}/s  baseline={:>3.1}/s ({:>4.0}x)  ceiling={:>7.1}/s ({})  shopify-steady={:>6.1}/s ({:>4.1}%)  ratio={:>5.1}%  target={:>3.0}%  met={}",
        row.name,
        row.items,
        row.seconds,
        measured,
        OLD_TOOL_ITEMS_PER_S,
        measured / OLD_TOOL_ITEMS_PER_S,
        ceiling,
        if nhanh_run < shopify_run { "Nhanh reads bind" } else { "Shopify bucket binds" },
        steady_ceiling,
        measured / steady_ceiling * 100.0,
        ratio * 100.0,
        TARGET * 100.0,
        if ratio >= TARGET { "yes" } else { "NO" },
    );
}

async fn bench() {
    let customers = size("SYNC_BENCH_CUSTOMERS", 12_000);
    let products = size("SYNC_BENCH_PRODUCTS", 40_000);
    let db = dongbo_tests::sqlite_db();
    let store = dongbo_engine::open(&db.url).await.unwrap();
    let sim = simulator(products, customers).await;
    let up = upstreams(&sim);
    let settings = SyncSettings {
        calls_per_step: size("SYNC_BENCH_CALLS_PER_STEP", SyncSettings::default().calls_per_step),
        ..SyncSettings::default()
    };
    let engine = Engine::new(store.clone(), registry(&up, settings));
    let catalog = store.db();

    sim.faults().set_throttle(Scope::Shopify, false);
    mirror_nhanh_customers(&catalog, &up).await;
    mirror_shopify_products(&catalog, &up).await;
    map_locations(&catalog, &sim).await;
    let mapped_customers = map_customers(&catalog, &sim, usize::MAX).await.len();
    let mapped_products = map_products(&catalog, &sim, usize::MAX).await.len();
    sim.faults().set_throttle(Scope::Shopify, true);
    let truth = sim.truth();
    let locations = truth.depot_to_location.iter().map(|(_, l)| l).collect::<std::collections::BTreeSet<_>>().len();
    println!(
        "sync bench: Standard plan, {mapped_customers} mapped customers, {mapped_products} mapped products, {locations} locations"
    );

    let started = Instant::now();
    let job = run_job(&engine, jobs::CUSTOMER_SYNC, json!({})).await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(job.failed, 0, "{:?}", job.error);
    report(&Row {
        name: "CUSTOMER_SYNC",
        items: job.processed,
        seconds,
        items_per_call: settings.max_metafields_per_call as f64,
        nhanh_urls: 0.0,
    });

    // Let the bucket refill so the product run starts as the customer run did.
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let started = Instant::now();
    let job = run_job(&engine, jobs::PRODUCT_SYNC, json!({})).await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(job.failed, 0, "{:?}", job.error);
    report(&Row {
        name: "PRODUCT_SYNC",
        items: job.processed,
        seconds,
        items_per_call: products_per_call(locations, settings.max_quantities_per_call) as f64,
        nhanh_urls: 2.0,
    });
    let (nhanh_hits, shopify_hits) = sim.rate_limit_hits();
    for (name, stats) in [("nhanh", up.nhanh().unwrap().stats()), ("shopify", up.shopify().unwrap().stats())] {
        println!("{name} client: {stats:?}");
    }
    println!("rate-limit replies: nhanh={nhanh_hits} shopify={shopify_hits}");
    sim.shutdown().await;
}

fn main() {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(bench());
}
