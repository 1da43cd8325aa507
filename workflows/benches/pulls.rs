//! Pull throughput against the simulator at the published limits (Nhanh 150 requests / 30 s per
//! URL, Shopify Standard plan: 100 points/s), on embedded SQLite.
//!
//! Prints, per pull, the records/s achieved against the limiter's ceiling (Nhanh: 150 requests
//! per 30 s × 100 rows = 500 rows/s), sustained over whole 150-request windows,
//! and the lock-outs / THROTTLED replies; then a full Shopify customer pull by bulk export against
//! paging for 200,000 customers (paging is measured over `BENCH_PAGED_PAGES` pages and
//! extrapolated: at 100 points/s a full paged pull of 200,000 customers takes hours).
//!
//! `cargo bench -p dongbo-workflows --bench pulls`; sizes from `BENCH_NHANH_CUSTOMERS` (45,000),
//! `BENCH_NHANH_PRODUCTS` (20,000), `BENCH_SHOPIFY_CUSTOMERS` (200,000), `BENCH_PAGED_PAGES` (12).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dongbo_engine::{Engine, JobRequest, JobStatus, Registry, WorkerConfig, WorkerId};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_workflows::jobs::{PULL_NHANH_CUSTOMERS, PULL_NHANH_PRODUCTS, PULL_SHOPIFY_CUSTOMERS};
use dongbo_workflows::pull::{register_with, PullSettings};
use dongbo_workflows::Upstreams;
use serde_json::json;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn upstreams(sim: &Simulator) -> Upstreams {
    let env = sim.env();
    Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).expect("upstreams")
}

/// Runs one job to its end; returns the wall time and the instants at which its steps ended.
async fn run(engine: &Engine, job_type: &str, input: serde_json::Value) -> (Duration, Vec<Instant>, i64) {
    let steps: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let sink = steps.clone();
    let mut config = WorkerConfig::new(WorkerId::new("bench"));
    config.poll = Duration::from_millis(10);
    config.on_step = Some(Arc::new(move |r| {
        if r.ok && (r.step == "page" || r.step == "ingest") {
            sink.lock().unwrap().push(Instant::now());
        }
    }));
    let id = engine.request(JobRequest::new(job_type, input)).await.expect("request").job.id;
    let worker = engine.worker(config);
    let started = Instant::now();
    loop {
        worker.run_once().await.expect("worker");
        let job = engine.store().job(id).await.expect("job").expect("exists");
        if job.status.is_finished() {
            assert_eq!(job.status, JobStatus::Completed, "{job_type}: {:?}", job.error);
            let steps = steps.lock().unwrap().clone();
            return (started.elapsed(), steps, job.processed);
        }
    }
}

fn rate(rows: f64, d: Duration) -> f64 {
    rows / d.as_secs_f64().max(1e-9)
}

async fn nhanh(engine: &Engine, sim: &Simulator, job_type: &str, rows: usize) {
    let ceiling = 150.0 / 30.0 * 100.0;
    let locked_before = sim.rate_limit_hits().0;
    let (wall, steps, processed) = run(engine, job_type, json!({})).await;
    // Sustained pace over whole windows: from the first page to the first page of the last
    // window started (150 × k pages later), i.e. what the limiter allows once its burst is spent.
    let windows = steps.len().saturating_sub(1) / 150;
    let rows_per_page = processed as f64 / steps.len().max(1) as f64;
    let steady = (windows >= 1).then(|| {
        let pages = 150.0 * windows as f64;
        let d = steps[150 * windows] - steps[0];
        (rate(pages, d), rate(pages * rows_per_page, d))
    });
    println!(
        "{job_type:<24} {rows:>7} rows  {:>6.1} s  overall {:>6.0} rows/s  sustained {}  ceiling {ceiling:.0} rows/s = 5 requests/s  ({})  lock-outs {}",
        wall.as_secs_f64(),
        rate(processed as f64, wall),
        steady.map_or("n/a".into(), |(p, r)| format!("{r:.0} rows/s, {p:.2} requests/s")),
        steady.map_or("fewer than 151 pages: no full window".into(), |(p, _)| format!("{:.1} % of the request ceiling", 100.0 * p / 5.0)),
        sim.rate_limit_hits().0 - locked_before,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (customers, products) = (size("BENCH_NHANH_CUSTOMERS", 45_000), size("BENCH_NHANH_PRODUCTS", 20_000));
    let shop_customers = size("BENCH_SHOPIFY_CUSTOMERS", 200_000);
    let paged_pages = size("BENCH_PAGED_PAGES", 12);
    println!("pull benchmarks: Nhanh at 150 requests / 30 s, Shopify Standard plan (100 points/s), SQLite");

    let sim = Simulator::start(SimConfig { customers, products, ..SimConfig::default() }, "127.0.0.1:0", "127.0.0.1:0")
        .await
        .expect("simulator");
    let db = dongbo_tests::sqlite_db();
    let store = dongbo_engine::open(&db.url).await.expect("store");
    let mut registry = Registry::new();
    register_with(&mut registry, &upstreams(&sim), PullSettings::default());
    let engine = Engine::new(store, registry);
    nhanh(&engine, &sim, PULL_NHANH_CUSTOMERS, customers).await;
    nhanh(&engine, &sim, PULL_NHANH_PRODUCTS, products).await;
    sim.shutdown().await;

    // Shopify customers: bulk export of the whole store, then paging for a few pages.
    let sim = Simulator::start(
        SimConfig { customers: shop_customers, products: 10, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .expect("simulator");
    let db = dongbo_tests::sqlite_db();
    let store = dongbo_engine::open(&db.url).await.expect("store");
    let ups = upstreams(&sim);
    let mut registry = Registry::new();
    register_with(&mut registry, &ups, PullSettings::default());
    let engine = Engine::new(store, registry);
    let (wall, _, processed) = run(&engine, PULL_SHOPIFY_CUSTOMERS, json!({"mode": "bulk"})).await;
    let bulk_rate = rate(processed as f64, wall);
    println!(
        "{PULL_SHOPIFY_CUSTOMERS:<24} bulk   {processed:>7} rows  {:>8.1} s  {bulk_rate:>7.0} rows/s  THROTTLED {}",
        wall.as_secs_f64(),
        sim.rate_limit_hits().1
    );
    // Paging: the workflow's own page step, driven through the connector for a few pages after
    // the bucket's initial burst is spent, then extrapolated to the whole store.
    let client = ups.shopify.clone().expect("shopify");
    let throttled_before = sim.rate_limit_hits().1;
    let mut after: Option<String> = None;
    let mut timed = (0usize, Duration::ZERO);
    for page in 0..paged_pages + 2 {
        let t = Instant::now();
        let p = client.customers_page(250, after.as_deref(), None).await.expect("page");
        if page >= 2 {
            timed = (timed.0 + p.items.len(), timed.1 + t.elapsed());
        }
        after = p.next;
    }
    let paged_rate = rate(timed.0 as f64, timed.1);
    println!(
        "{PULL_SHOPIFY_CUSTOMERS:<24} paged  {:>7} rows  {:>8.1} s  {paged_rate:>7.1} rows/s  THROTTLED {}  (measured over {} rows; {} rows would take {:.0} s)",
        timed.0,
        timed.1.as_secs_f64(),
        sim.rate_limit_hits().1 - throttled_before,
        timed.0,
        processed,
        processed as f64 / paged_rate.max(1e-9),
    );
    println!("bulk / paged speed-up for {processed} customers: {:.0}×", bulk_rate / paged_rate.max(1e-9));
    sim.shutdown().await;
}
