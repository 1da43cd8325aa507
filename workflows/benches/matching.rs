//! AUTO_MATCH_CUSTOMERS on N × N customers (default 200,000; `MATCH_BENCH_N`) for each strategy,
//! against a bare SQL join of the same two key tables measured in the same run, on SQLite and
//! (with `DONGBO_TEST_PG_URL`) PostgreSQL. Prints name, measured, baseline, ratio, target, met.
//! With `MATCH_BENCH_RSS_N` (e.g. 1000000) it also matches that many customers per side with the
//! `memory` strategy on SQLite and prints the process's peak RSS (VmHWM; target ≤ 200 MB).
//!
//! The catalog is filled directly with the pulls' upserts (not through HTTP), a fresh database
//! per measured run, so every run writes all its mappings.

use std::time::{Duration, Instant};

use dongbo_engine::{Db, Engine, JobId, JobRequest, JobStatus, Registry, WorkerConfig, WorkerId};
use dongbo_tests::{Backend, TestDb};
use dongbo_workflows::catalog::store::matching::{bare_key_join, MatchKind};
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, NhanhCustomerRow, ShopifyCustomerRow, UpsertNhanhCustomers, UpsertShopifyCustomers,
};
use dongbo_workflows::jobs::AUTO_MATCH_CUSTOMERS;
use serde_json::json;

const TARGET: f64 = 1.5;

/// `n` customers per side, in chunks: pairs, every 40th Nhanh number duplicated, every 7th
/// Nhanh field with a second number, every 25th Shopify customer on Shopify only.
async fn fill(db: &Db, n: u64) {
    let job = JobId::new();
    let chunk = 10_000;
    for start in (0..n).step_by(chunk as usize) {
        let end = (start + chunk).min(n);
        let nhanh = (start..end)
            .map(|i| {
                let own = if i % 40 == 39 { i - 1 } else { i };
                let mut mobile = format!("090{own:07}");
                if i % 7 == 0 {
                    mobile.push_str(&format!(" / 091{i:07}"));
                }
                NhanhCustomerRow {
                    id: 1 + i,
                    name: None,
                    mobile: Some(mobile),
                    total_amount: Some(1),
                    updated_at: Some(1),
                }
            })
            .collect();
        let shop = (start..end)
            .map(|i| ShopifyCustomerRow {
                id: format!("gid://shopify/Customer/{}", 7_000_000 + i),
                display_name: None,
                email: None,
                phone: Some(if i % 25 == 24 { format!("+8493{i:07}") } else { format!("+8490{i:07}") }),
                address_phone: None,
                amount_spent: None,
                total_spent: None,
                updated_at: None,
            })
            .collect();
        apply_outside_step(db, &UpsertNhanhCustomers { job, rows: nhanh, seen_by_full_pull: None }).await.unwrap();
        apply_outside_step(db, &UpsertShopifyCustomers { job, rows: shop, seen_by_full_pull: None }).await.unwrap();
    }
}

async fn fresh(backend: Backend, n: u64) -> Option<(TestDb, dongbo_engine::SharedStore)> {
    let db = dongbo_tests::fresh_db(backend).await?;
    let store = dongbo_engine::open(&db.url).await.expect("open");
    fill(&store.db(), n).await;
    Some((db, store))
}

async fn run_match(store: &dongbo_engine::SharedStore, strategy: &str) -> (Duration, serde_json::Value) {
    let mut registry = Registry::new();
    dongbo_workflows::matching::register(&mut registry);
    let engine = Engine::new(store.clone(), registry);
    let started = Instant::now();
    let id = engine
        .request(JobRequest::new(AUTO_MATCH_CUSTOMERS, json!({ "strategy": strategy, "dryRun": dry_run() })))
        .await
        .unwrap()
        .job
        .id;
    let worker = engine.worker(WorkerConfig::new(WorkerId::new("bench")));
    loop {
        let job = store.job(id).await.unwrap().unwrap();
        if job.status.is_finished() {
            assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
            let meta = job.metadata.clone();
            return (started.elapsed(), meta);
        }
        worker.run_once().await.unwrap();
    }
}

/// `MATCH_BENCH_DRY=1` measures dry runs (decisions without writes), to see where time goes.
fn dry_run() -> bool {
    std::env::var("MATCH_BENCH_DRY").is_ok_and(|v| v == "1")
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn bench_backend(backend: Backend, n: u64) {
    println!("{:<44} {:>10} {:>10} {:>7} {:>7} {:>5}", "name", "measured", "baseline", "ratio", "target", "met");
    for strategy in ["memory", "sql", "batch"] {
        let Some((_db, store)) = fresh(backend, n).await else {
            println!("{backend:?}: skipped (DONGBO_TEST_PG_URL not set)");
            return;
        };
        // The baseline on the same tables, measured in the same run (warm caches for both).
        let t = Instant::now();
        let rows = bare_key_join(&store.db(), MatchKind::Customers).await.unwrap();
        let baseline = t.elapsed();
        let (measured, meta) = run_match(&store, strategy).await;
        let ratio = measured.as_secs_f64() / baseline.as_secs_f64();
        println!(
            "{:<44} {:>9.3}s {:>9.3}s {:>7.2} {:>7.2} {:>5}",
            format!("{backend:?} AUTO_MATCH_CUSTOMERS {strategy} {n}x{n}"),
            measured.as_secs_f64(),
            baseline.as_secs_f64(),
            ratio,
            TARGET,
            if ratio <= TARGET { "yes" } else { "no" }
        );
        let m = |k: &str| meta.get(k).cloned().unwrap_or_default();
        println!(
            "    join rows {rows}; created {} unchanged {} conflicts {} dry run {}",
            m("created"),
            m("unchanged"),
            m("conflicts"),
            dry_run()
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::var("MATCH_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    if let Some(big) = std::env::var("MATCH_BENCH_RSS_N").ok().and_then(|v| v.parse::<u64>().ok()) {
        let (_db, store) = fresh(Backend::Sqlite, big).await.expect("sqlite");
        let before = peak_rss_mb().unwrap_or(0.0);
        let (measured, _) = run_match(&store, "memory").await;
        let peak = peak_rss_mb().unwrap_or(0.0);
        println!(
            "peak RSS, memory strategy, {big}x{big} on SQLite: {peak:.1} MB (before matching {before:.1} MB; took {:.1}s); target 200 MB; met {}",
            measured.as_secs_f64(),
            if peak <= 200.0 { "yes" } else { "no" }
        );
        return;
    }
    bench_backend(Backend::Sqlite, n).await;
    bench_backend(Backend::Postgres, n).await;
}
