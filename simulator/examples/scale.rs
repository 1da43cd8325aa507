//! Generates a large world and reports time and resident memory:
//! `cargo run -p dongbo-simulator --release --example scale -- 1000000 200000`.

use std::time::Instant;

use dongbo_simulator::{SimConfig, Simulator};

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb / 1024)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let customers = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let products = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let started = Instant::now();
    let sim = Simulator::start(SimConfig { customers, products, ..SimConfig::default() }, "127.0.0.1:0", "127.0.0.1:0")
        .await?;
    eprintln!(
        "generated {customers} customers and {products} products in {:?}, RSS {} MiB",
        started.elapsed(),
        rss_mib()
    );
    let started = Instant::now();
    let truth = sim.truth();
    eprintln!(
        "truth in {:?}: {} customer pairs, {} product pairs, {} ambiguous phones, {} ambiguous SKUs; RSS {} MiB",
        started.elapsed(),
        truth.customer_pairs.len(),
        truth.product_pairs.len(),
        truth.ambiguous_customer_keys.len(),
        truth.ambiguous_skus.len(),
        rss_mib()
    );
    sim.shutdown().await;
    Ok(())
}
