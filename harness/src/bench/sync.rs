//! `sync`: throughput of CUSTOMER_SYNC and PRODUCT_SYNC against the simulator's Standard plan
//! (issue 6: ≥ 90 % of the throttle ceiling), next to the old tool's ~5 items/s, on SQLite.
//!
//! The ceiling is the pace of the fastest run the published limits allow for the same job: the
//! job's `calls` (each one mutation of 10 points carrying 25 metafields, or ⌊250 / locations⌋
//! products' quantities) need `(10·calls − 1000) / 100` seconds of the Standard plan's bucket
//! (1,000 points, full at the start, +100 points/s). PRODUCT_SYNC also reads each call's stock from
//! Nhanh in-line, one request per call alternating over two URLs of 150 requests per sliding 30 s,
//! so its `r` requests per URL need `⌊(r − 1) / 150⌋ · 30` seconds; the larger wait binds. The
//! ceiling is items / that time, so the ratio is (fastest time) / (measured time).
//! Setup (mirroring the catalog) runs with throttling off; the measured part with it on, the
//! bucket full. With `--plot FILE` the customer sync's items/s per second (from the simulator's
//! write journal) is drawn against the steady-state ceiling.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dongbo_engine::{BackgroundJob, JobRequest, WorkerConfig, WorkerId};
use dongbo_simulator::Plan;
use dongbo_workflows::jobs::{CUSTOMER_SYNC, PRODUCT_SYNC};
use dongbo_workflows::sync::plan::products_per_call;
use dongbo_workflows::sync::SyncSettings;
use serde_json::json;

use super::fixture::{run_to_end, SyncFixture};
use super::throughput_svg::{per_second, render, Plot};
use super::{note, BenchOpts, Row, ScratchDb};

const OLD_TOOL_ITEMS_PER_S: f64 = 5.0;
const TARGET: f64 = 0.90;
const MUTATION_COST: f64 = 10.0;
const NHANH_WINDOW_REQUESTS: f64 = 150.0;
const NHANH_WINDOW_S: f64 = 30.0;

/// One measured sync.
struct Measured {
    job_type: &'static str,
    items: i64,
    seconds: f64,
    items_per_call: f64,
    /// Nhanh URLs read in-line, one request per call (0 for a sync that reads the mirror).
    nhanh_urls: f64,
}

/// The shortest time the limits allow for the job, in seconds, and which limit binds.
fn fastest(m: &Measured) -> (f64, &'static str) {
    let (bucket, restore) = Plan::Standard.bucket();
    let calls = (m.items as f64 / m.items_per_call).ceil();
    let shopify = ((calls * MUTATION_COST - bucket) / restore).max(0.0);
    let nhanh = match m.nhanh_urls > 0.0 {
        true => (((calls / m.nhanh_urls).ceil() - 1.0).max(0.0) / NHANH_WINDOW_REQUESTS).floor() * NHANH_WINDOW_S,
        false => 0.0,
    };
    if nhanh > shopify {
        (nhanh, "Nhanh reads bind")
    } else {
        (shopify, "the Shopify bucket binds")
    }
}

fn rows(m: &Measured) -> anyhow::Result<[Row; 2]> {
    let measured = m.items as f64 / m.seconds;
    let (fastest, binds) = fastest(m);
    if fastest <= 0.0 {
        bail!(
            "{}: {} items fit in the limits' initial burst; the run is too small to measure a pace",
            m.job_type,
            m.items
        );
    }
    let ceiling = m.items as f64 / fastest;
    note(
        "sync",
        &format!(
            "{}: {} items in {:.1} s = {measured:.1}/s; the limits allow {fastest:.1} s = {ceiling:.1}/s ({binds}); {:.0}× the old tool's {OLD_TOOL_ITEMS_PER_S}/s",
            m.job_type,
            m.items,
            m.seconds,
            measured / OLD_TOOL_ITEMS_PER_S
        ),
    );
    let vs_old = Row::new(
        format!("{} items/s vs old tool's 5/s (sqlite)", m.job_type),
        measured,
        OLD_TOOL_ITEMS_PER_S,
        "> 1×",
        false,
    );
    Ok([
        Row::at_least(format!("{} items/s vs throttle ceiling (sqlite)", m.job_type), measured, ceiling, TARGET),
        Row { met: vs_old.ratio > 1.0, ..vs_old },
    ])
}

/// Runs the section.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>> {
    let customers = opts.size(6_000, 12_000);
    let products = opts.size(25_000, 40_000);
    let settings = SyncSettings::default();
    let f = SyncFixture::prepare(ScratchDb::sqlite()?, products, customers).await?;
    note(
        "sync",
        &format!(
            "Standard plan, {} mapped customers, {} mapped products, {} locations",
            f.mapped_customers, f.mapped_products, f.locations
        ),
    );
    let mut out = Vec::new();

    let start_ms = chrono::Utc::now().timestamp_millis();
    let (job, seconds) = timed(&f, CUSTOMER_SYNC).await?;
    out.extend(rows(&Measured {
        job_type: CUSTOMER_SYNC,
        items: job.processed,
        seconds,
        items_per_call: settings.max_metafields_per_call as f64,
        nhanh_urls: 0.0,
    })?);
    if let Some(path) = &opts.plot {
        let journal = f.sim.journal();
        let writes = journal.iter().filter(|e| e.kind == "metafieldsSet" && e.applied).map(|e| e.at);
        let (bucket, restore) = Plan::Standard.bucket();
        let per_call = settings.max_metafields_per_call as f64;
        let steady = restore / MUTATION_COST * per_call;
        let plot = Plot {
            title: format!("{CUSTOMER_SYNC} throughput against the Shopify throttle ceiling"),
            subtitle: format!(
                "{} customers in {seconds:.1} s · simulator, Standard plan: 1,000-point bucket, +100 points/s, \
                 10 points per call of 25 · {}",
                job.processed,
                chrono::Utc::now().format("%Y-%m-%d")
            ),
            per_second: per_second(writes, start_ms),
            // The first second may spend the whole bucket as well as that second's restore.
            ceiling: vec![(bucket + restore) / MUTATION_COST * per_call, steady],
            ceiling_label: format!("throttle ceiling: the full bucket, then {steady:.0} items/s"),
        };
        std::fs::write(path, render(&plot)).with_context(|| format!("writing {}", path.display()))?;
        note("sync", &format!("wrote the throughput plot to {}", path.display()));
    }

    // Let the bucket refill (1,000 points at 100/s) so the product run starts as the customer run did.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (job, seconds) = timed(&f, PRODUCT_SYNC).await?;
    out.extend(rows(&Measured {
        job_type: PRODUCT_SYNC,
        items: job.processed,
        seconds,
        items_per_call: products_per_call(f.locations, settings.max_quantities_per_call) as f64,
        nhanh_urls: 2.0,
    })?);
    let (nhanh_hits, shopify_hits) = f.sim.rate_limit_hits();
    note("sync", &format!("rate-limit replies: nhanh={nhanh_hits} shopify={shopify_hits}"));
    f.sim.shutdown().await;
    Ok(out)
}

/// Runs one sync to its end; every item must succeed.
async fn timed(f: &SyncFixture, job_type: &str) -> anyhow::Result<(BackgroundJob, f64)> {
    let started = Instant::now();
    let request = JobRequest::new(job_type, json!({}));
    let job = run_to_end(&f.engine, request, WorkerConfig::new(WorkerId::new("bench"))).await?;
    let seconds = started.elapsed().as_secs_f64();
    if job.failed != 0 {
        bail!("{job_type}: {} items failed", job.failed);
    }
    Ok((job, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(items: i64, items_per_call: f64, nhanh_urls: f64, expect: (f64, &str)) {
        let m = Measured { job_type: "X", items, seconds: 1.0, items_per_call, nhanh_urls };
        let (t, binds) = fastest(&m);
        assert!((t - expect.0).abs() < 1e-9 && binds == expect.1, "{items}: {t} {binds}");
    }

    #[test]
    fn the_fastest_run_is_bound_by_the_bucket_or_by_nhanh_windows() {
        let bucket = "the Shopify bucket binds";
        // 427 calls of 25: 4,270 points, 1,000 in the bucket, 32.7 s of restore.
        check(10_651, 25.0, 0.0, (32.7, bucket));
        // 100 calls fit the full bucket.
        check(2_500, 25.0, 0.0, (0.0, bucket));
        // 356 calls over two URLs: 178 requests on one URL, the 151st waits a window.
        check(29_502, 83.0, 2.0, (30.0, "Nhanh reads bind"));
        // 223 calls: 112 requests per URL fit the first window.
        check(18_456, 83.0, 2.0, (12.3, bucket));
    }
}
