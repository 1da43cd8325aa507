//! `bulk_rss`: the peak memory of a `dongbo worker` process pulling a Shopify store's customers
//! by bulk export (issue 16.5).
//!
//! The simulator holds 1,000,000 Shopify customers (quick: 50,000); a `dongbo worker` child
//! process on a fresh SQLite catalog runs `PULL_SHOPIFY_CUSTOMERS` in bulk mode: the export is
//! streamed to a temporary file and ingested a chunk of lines per step. Its peak resident set
//! over its whole life (`VmHWM`, read while it is still alive once the job has completed) must
//! stay within 200 MB. The baseline, measured in the same run, is the peak of the same command
//! running a trivial job (`EXAMPLE_COUNT` of ten items): the process's own floor, so the ratio
//! says how much the export added.

use std::time::{Duration, Instant};

use anyhow::Context;
use dongbo_engine::example::EXAMPLE_COUNT;
use dongbo_engine::{Engine, JobRequest, SharedStore};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_workflows::jobs::PULL_SHOPIFY_CUSTOMERS;
use dongbo_workflows::Upstreams;
use serde_json::{json, Value};

use super::{note, BenchOpts, Row, ScratchDb};
use crate::registry;
use crate::worker_process::WorkerProcess;

const RSS_CEILING_MB: f64 = 200.0;

/// Runs the section.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>> {
    let target = opts.size(50_000, 1_000_000);
    let sim = simulator_with(target).await?;
    let customers = sim.truth().shopify_customers;
    note("bulk_rss", &format!("{customers} Shopify customers in the simulator"));
    let (floor_mb, _) = peak_mb(opts, &[], EXAMPLE_COUNT, json!({"items": 10})).await?;
    let env = sim.env();
    let started = Instant::now();
    let (mb, summary) = peak_mb(opts, &env, PULL_SHOPIFY_CUSTOMERS, json!({"mode": "bulk"})).await?;
    sim.shutdown().await;
    anyhow::ensure!(summary["transfer"] == "bulk", "the pull did not use a bulk export: {summary}");
    anyhow::ensure!(
        summary["upserted"].as_u64() == Some(customers as u64),
        "the pull upserted {} of {customers} customers",
        summary["upserted"]
    );
    note(
        "bulk_rss",
        &format!(
            "bulk pull of {customers} customers in a worker process: {:.1} s, peak RSS {mb:.1} MB (idle job: {floor_mb:.1} MB)",
            started.elapsed().as_secs_f64()
        ),
    );
    let name = format!("bulk export peak RSS {customers} Shopify customers MB (sqlite)");
    Ok(vec![Row::new(name, mb, floor_mb, format!("≤ {RSS_CEILING_MB} MB"), mb <= RSS_CEILING_MB)])
}

/// A simulator holding at least `target` Shopify customers (its worlds draw slightly fewer
/// Shopify customers than Nhanh ones; a small world gives the proportion).
async fn simulator_with(target: usize) -> anyhow::Result<Simulator> {
    let start = |customers| {
        Simulator::start(SimConfig { customers, products: 10, ..SimConfig::default() }, "127.0.0.1:0", "127.0.0.1:0")
    };
    let probe = start(20_000).await.context("starting the simulator")?;
    let share = probe.truth().shopify_customers as f64 / 20_000.0;
    probe.shutdown().await;
    anyhow::ensure!(share > 0.0, "the simulator's world has no Shopify customers");
    let mut customers = (target as f64 / share).ceil() as usize;
    loop {
        let sim = start(customers).await.context("starting the simulator")?;
        if sim.truth().shopify_customers >= target {
            return Ok(sim);
        }
        sim.shutdown().await;
        customers += customers / 100 + 1;
    }
}

/// Runs `job_type` with `input` in a fresh `dongbo worker` process on a fresh SQLite catalog,
/// with `env` added to its environment; returns its peak RSS in MB and the job's summary.
async fn peak_mb(
    opts: &BenchOpts,
    env: &[(String, String)],
    job_type: &str,
    input: Value,
) -> anyhow::Result<(f64, Value)> {
    let db = ScratchDb::sqlite()?;
    let store: SharedStore = dongbo_engine::open(db.url()).await?;
    let worker = WorkerProcess::spawn(&opts.dongbo_bin, db.url(), env, Duration::from_secs(30))?;
    let engine = Engine::new(store.clone(), registry(&Upstreams::default()));
    let id = engine.request(JobRequest::new(job_type, input)).await?.job.id;
    let (_, mb) = worker.peak_mb_until_completed(&store, id).await?;
    let events = store.events(id, 0, 1_000_000).await?;
    let summary = events
        .iter()
        .rev()
        .find(|e| e.event_type == "JobCompleted")
        .and_then(|e| e.payload.get("summary").cloned())
        .unwrap_or(Value::Null);
    Ok((mb, summary))
}

