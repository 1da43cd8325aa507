//! `pulls`: pull throughput against the simulator at the published limits (Nhanh 150 requests /
//! 30 s per URL, Shopify Standard plan: 100 points/s), on embedded SQLite (issue 4).
//!
//! - Each Nhanh pull: records/s sustained over whole 150-request windows against the limiter's
//!   ceiling (150 requests / 30 s × the rows per page: 500 rows/s for full pages); target ≥ 95 %
//!   with zero lock-outs.
//!   A window needs more than 150 pages, so even the quick size pulls 152 pages (about 31 s each).
//! - A full Shopify customer pull by bulk export against paging: paging is measured over a few
//!   pages once the bucket's burst is spent and extrapolated (a full paged pull takes hours).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dongbo_engine::{Engine, JobRequest, Registry, WorkerConfig, WorkerId};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_workflows::jobs::{PULL_NHANH_CUSTOMERS, PULL_NHANH_PRODUCTS, PULL_SHOPIFY_CUSTOMERS};
use dongbo_workflows::pull::{register_with, PullSettings};
use dongbo_workflows::Upstreams;
use serde_json::json;

use super::fixture::{run_to_end, upstreams};
use super::{note, BenchOpts, Row, ScratchDb};

const TARGET: f64 = 0.95;
/// Nhanh's limit per URL: 150 requests / 30 s.
const NHANH_REQUESTS_PER_S: f64 = 150.0 / 30.0;

/// Runs the section.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>> {
    let customers = opts.size(15_200, 45_000);
    let products = opts.size(15_200, 20_000);
    let shop_customers = opts.size(20_000, 200_000);
    let paged_pages = opts.size(2, 12);
    note("pulls", "Nhanh at 150 requests / 30 s, Shopify Standard plan (100 points/s), SQLite");
    let mut rows = Vec::new();

    let config = SimConfig { customers, products, ..SimConfig::default() };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.context("starting the simulator")?;
    let db = ScratchDb::sqlite()?;
    let engine = pull_engine(db.url(), &upstreams(&sim)?).await?;
    rows.push(nhanh(&engine, &sim, PULL_NHANH_CUSTOMERS).await?);
    rows.push(nhanh(&engine, &sim, PULL_NHANH_PRODUCTS).await?);
    sim.shutdown().await;

    let config = SimConfig { customers: shop_customers, products: 10, ..SimConfig::default() };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.context("starting the simulator")?;
    let db = ScratchDb::sqlite()?;
    let ups = upstreams(&sim)?;
    let engine = pull_engine(db.url(), &ups).await?;
    let (wall, _, processed) = run_job(&engine, PULL_SHOPIFY_CUSTOMERS, json!({"mode": "bulk"})).await?;
    let bulk_rate = rate(processed as f64, wall);
    note(
        "pulls",
        &format!(
            "{PULL_SHOPIFY_CUSTOMERS} bulk: {processed} rows in {:.1} s = {bulk_rate:.0} rows/s, THROTTLED {}",
            wall.as_secs_f64(),
            sim.rate_limit_hits().1
        ),
    );
    // Paging: the connector's page call for a few pages after the bucket's initial burst is spent,
    // extrapolated to the whole store.
    let client = ups.shopify.clone().context("the Shopify client")?;
    let throttled_before = sim.rate_limit_hits().1;
    let mut after: Option<String> = None;
    let mut timed = (0usize, Duration::ZERO);
    for page in 0..paged_pages + 2 {
        let t = Instant::now();
        let p = client.customers_page(250, after.as_deref(), None).await.context("a Shopify customers page")?;
        if page >= 2 {
            timed = (timed.0 + p.items.len(), timed.1 + t.elapsed());
        }
        after = p.next;
    }
    let paged_rate = rate(timed.0 as f64, timed.1);
    note(
        "pulls",
        &format!(
            "{PULL_SHOPIFY_CUSTOMERS} paged: {} rows in {:.1} s = {paged_rate:.1} rows/s, THROTTLED {}; {processed} rows would take {:.0} s",
            timed.0,
            timed.1.as_secs_f64(),
            sim.rate_limit_hits().1 - throttled_before,
            processed as f64 / paged_rate.max(1e-9),
        ),
    );
    let name = format!("{PULL_SHOPIFY_CUSTOMERS} bulk rows/s vs paged, {processed} customers (sqlite)");
    let row = Row::new(name, bulk_rate, paged_rate, "> 1× (bulk faster)", false);
    rows.push(Row { met: row.ratio > 1.0, ..row });
    sim.shutdown().await;
    Ok(rows)
}

async fn pull_engine(url: &str, upstreams: &Upstreams) -> anyhow::Result<Engine> {
    let store = dongbo_engine::open(url).await?;
    let mut registry = Registry::new();
    register_with(&mut registry, upstreams, PullSettings::default());
    Ok(Engine::new(store, registry))
}

/// Runs one job to its end; returns the wall time, the instants at which its page steps ended,
/// and the rows it processed.
async fn run_job(
    engine: &Engine,
    job_type: &str,
    input: serde_json::Value,
) -> anyhow::Result<(Duration, Vec<Instant>, i64)> {
    let steps: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let sink = steps.clone();
    let mut config = WorkerConfig::new(WorkerId::new("bench"));
    config.on_step = Some(Arc::new(move |r| {
        if r.ok && (r.step == "page" || r.step == "ingest") {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(Instant::now());
        }
    }));
    let started = Instant::now();
    let job = run_to_end(engine, JobRequest::new(job_type, input), config).await?;
    let steps = steps.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((started.elapsed(), steps, job.processed))
}

fn rate(rows: f64, d: Duration) -> f64 {
    rows / d.as_secs_f64().max(1e-9)
}

/// One Nhanh pull: its sustained rows/s against the ceiling, met with zero lock-outs.
async fn nhanh(engine: &Engine, sim: &Simulator, job_type: &str) -> anyhow::Result<Row> {
    let locked_before = sim.rate_limit_hits().0;
    let (wall, steps, processed) = run_job(engine, job_type, json!({})).await?;
    let lockouts = sim.rate_limit_hits().0 - locked_before;
    // Sustained pace over whole windows: from the first page to the first page of the last
    // window started (150 × k pages later), i.e. what the limiter allows once its burst is spent.
    let windows = steps.len().saturating_sub(1) / 150;
    if windows == 0 {
        bail!("{job_type}: {} pages, fewer than 151: no whole window to measure", steps.len());
    }
    let rows_per_page = processed as f64 / steps.len() as f64;
    let pages = 150.0 * windows as f64;
    let d = steps[150 * windows] - steps[0];
    let (requests_per_s, rows_per_s) = (rate(pages, d), rate(pages * rows_per_page, d));
    note(
        "pulls",
        &format!(
            "{job_type}: {processed} rows in {:.1} s (overall {:.0} rows/s), sustained {rows_per_s:.0} rows/s = {requests_per_s:.2} requests/s over {windows} window(s), {rows_per_page:.1} rows per page, lock-outs {lockouts}",
            wall.as_secs_f64(),
            rate(processed as f64, wall),
        ),
    );
    // The simulator shortens one page in five on purpose, so the ceiling is the limiter's request
    // rate times the rows its pages actually carried.
    let ceiling = NHANH_REQUESTS_PER_S * rows_per_page;
    let name = format!("{job_type} rows/s vs limiter ceiling (sqlite)");
    let row = Row::new(name, rows_per_s, ceiling, format!("≥ {TARGET:.2}, 0 lock-outs"), false);
    Ok(Row { met: row.ratio >= TARGET && lockouts == 0, ..row })
}
