//! One pass of the pipeline: a fresh simulator and database, `dongbo worker` processes, and the
//! jobs of `dongbo demo` requested through the engine one after another, each waited for (by
//! polling its projection row, with a deadline) before the next — under fire or not.
//!
//! The stages are the demo's: the four pulls, both matches, PRODUCT_SYNC, CUSTOMER_SYNC while
//! Shopify refuses [`REFUSED`] customers' writes (a userError, as in the demo), and
//! RETRY_FAILED_SYNC once the refusal is lifted, when a sync left failed items. Depots are mapped
//! onto locations from the simulator's truth before the first job, as the demo does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dongbo_engine::{BackgroundJob, Engine, EngineError, Event, JobId, JobRequest, JobStatus};
use dongbo_simulator::{ExpectedLevel, JournalEntry, Scope, SimConfig, Simulator, Truth};
use dongbo_workflows::catalog::store::pulls::set_location_mapping;
use dongbo_workflows::jobs::*;
use dongbo_workflows::Upstreams;
use serde_json::{json, Value};

use super::cluster::PgCluster;
use super::disrupt::{Disruptions, Disruptor, Moment, Scene};
use super::fleet::Fleet;
use super::neighbour::Neighbour;
use super::outcome::{capture, traffic, Outcome, Traffic};
use super::ChaosConfig;
use crate::registry;

/// How many customers Shopify refuses during CUSTOMER_SYNC (the demo's number).
pub(crate) const REFUSED: usize = 3;

/// The stages, in order: job type and input.
pub(crate) fn stages() -> Vec<(&'static str, Value)> {
    vec![
        (PULL_NHANH_PRODUCTS, json!({})),
        (PULL_SHOPIFY_PRODUCTS, json!({})),
        (PULL_NHANH_CUSTOMERS, json!({ "mode": "full" })),
        (PULL_SHOPIFY_CUSTOMERS, json!({})),
        (AUTO_MATCH_PRODUCTS, json!({})),
        (AUTO_MATCH_CUSTOMERS, json!({ "strategy": "sql" })),
        (PRODUCT_SYNC, json!({})),
        (CUSTOMER_SYNC, json!({})),
        (RETRY_FAILED_SYNC, json!({})),
    ]
}

/// One job of a pass.
#[derive(Debug, Clone)]
pub(crate) struct JobRun {
    pub(crate) stage: usize,
    pub(crate) id: JobId,
    pub(crate) row: BackgroundJob,
    /// From the request to the poll that saw it finished.
    pub(crate) elapsed: Duration,
    /// From the poll that first saw it RUNNING to the one that saw it finished (zero when no
    /// poll caught it running).
    pub(crate) running: Duration,
    pub(crate) events: Vec<Event>,
}

/// Everything a pass leaves to check.
pub(crate) struct Pass {
    pub(crate) jobs: Vec<JobRun>,
    pub(crate) elapsed: Duration,
    pub(crate) outcome: Outcome,
    pub(crate) journal: Vec<JournalEntry>,
    pub(crate) expected_inventory: Vec<ExpectedLevel>,
    pub(crate) expected_spent: Vec<(String, u64)>,
    pub(crate) truth: Arc<Truth>,
    pub(crate) disruptions: Disruptions,
    pub(crate) traffic: Traffic,
    pub(crate) worker_starts: usize,
    pub(crate) unexpected_exits: usize,
}

/// Runs the pipeline once on the database at `db_url`; with `fire`, under kills, restarts and
/// the faults of `cfg`.
pub(crate) async fn run_pass(
    cfg: &ChaosConfig,
    db_url: &str,
    cluster: Option<&PgCluster>,
    mut fire: Option<Disruptor>,
) -> anyhow::Result<Pass> {
    let sim_config =
        SimConfig { seed: cfg.seed, products: cfg.products, customers: cfg.customers, ..SimConfig::default() };
    let sim = Simulator::start(sim_config, "127.0.0.1:0", "127.0.0.1:0").await.context("starting the simulator")?;
    let env = sim.env();
    let truth = sim.truth();
    let upstreams = Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .map_err(|e| anyhow::anyhow!("configuring the upstreams: {e}"))?;
    let store = dongbo_engine::open(db_url).await.context("opening the chaos database")?;
    for (depot, location) in &truth.depot_to_location {
        set_location_mapping(&store.db(), *depot, location).await.context("mapping depots to locations")?;
    }
    let engine = Engine::new(store.clone(), registry(&upstreams));
    let fleet = Fleet::start(cfg.dongbo_bin.clone(), db_url, env.clone(), cfg.lease, cfg.log_dir.clone(), cfg.workers)?;
    let mut scene = Scene { store: store.clone(), fleet, cluster };

    let neighbour = match &fire {
        Some(_) => {
            let f = cfg.faults.clone();
            sim.faults().update(Scope::Both, |s| {
                s.error_rate = f.error_rate;
                s.timeout_rate = f.timeout_rate;
                s.timeout_ms = f.timeout_ms;
                s.latency_ms = f.latency_ms;
            });
            f.neighbour_period
                .map(|p| Neighbour::start(&sim.shopify_shop_url(), &sim.credentials().shopify_access_token, p))
        }
        None => None,
    };

    let refused: Vec<String> = truth.customer_pairs.iter().take(REFUSED).map(|(_, gid)| gid.clone()).collect();
    let started = Instant::now();
    let mut jobs: Vec<JobRun> = Vec::new();
    for (stage, (job_type, input)) in stages().into_iter().enumerate() {
        if job_type == RETRY_FAILED_SYNC {
            sim.faults().fail_targets(Vec::<String>::new());
            let left_failures = jobs
                .iter()
                .any(|j| matches!(j.row.job_type.as_str(), PRODUCT_SYNC | CUSTOMER_SYNC) && j.row.failed > 0);
            if !left_failures {
                continue;
            }
        }
        if job_type == CUSTOMER_SYNC {
            sim.faults().fail_targets(refused.clone());
        }
        let job_started = Instant::now();
        let id = request(&engine, stage, job_type, input, cfg.job_deadline).await?;
        let mut running_since: Option<Instant> = None;
        let row = loop {
            scene.fleet.revive()?;
            // A failed read is PostgreSQL restarting: poll again.
            let row = store.job(id).await.ok().flatten();
            if let Some(row) = row.as_ref().filter(|r| r.status.is_finished()) {
                break row.clone();
            }
            if row.is_some_and(|r| r.status == JobStatus::Running) && running_since.is_none() {
                running_since = Some(Instant::now());
            }
            if let Some(d) = fire.as_mut() {
                let since = running_since.map(|t| t.elapsed());
                d.fire_due(Moment { stage, since, stage_over: false, job: Some(id) }, &mut scene).await?;
            }
            if job_started.elapsed() > cfg.job_deadline {
                bail!("{job_type} did not finish within {:?}", cfg.job_deadline);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let elapsed = job_started.elapsed();
        let running = running_since.map_or(Duration::ZERO, |t| t.elapsed());
        if let Some(d) = fire.as_mut() {
            d.fire_due(Moment { stage, since: Some(running), stage_over: true, job: None }, &mut scene).await?;
        }
        jobs.push(JobRun { stage, id, row, elapsed, running, events: Vec::new() });
    }
    if let Some(d) = fire.as_mut() {
        // Actions planned for a stage that did not run.
        let end = Moment { stage: usize::MAX, since: None, stage_over: true, job: None };
        d.fire_due(end, &mut scene).await?;
    }
    let elapsed = started.elapsed();
    let (neighbour_sent, neighbour_throttled) = match neighbour {
        Some(n) => n.stop().await,
        None => (0, 0),
    };
    sim.faults().clear();
    let Scene { fleet, .. } = scene;
    let (worker_starts, unexpected_exits) = (fleet.starts(), fleet.unexpected_exits);
    drop(fleet);

    for job in &mut jobs {
        job.events = store.events(job.id, 0, 1_000_000).await.context("reading a job's events")?;
    }
    let outcome = capture(&store.db(), &sim, &truth).await.context("reading the outcome")?;
    let mut traffic = traffic(&sim).await;
    traffic.neighbour_sent = neighbour_sent;
    traffic.neighbour_throttled = neighbour_throttled;
    let state = sim.state();
    let pass = Pass {
        jobs,
        elapsed,
        outcome,
        journal: sim.journal(),
        expected_inventory: state.expected_inventory(),
        expected_spent: state.expected_total_spent(),
        truth,
        disruptions: fire.map(|d| d.done).unwrap_or_default(),
        traffic,
        worker_starts,
        unexpected_exits,
    };
    sim.shutdown().await;
    Ok(pass)
}

/// Requests a stage's job; retried under the same idempotency key while the store is away, so a
/// request whose reply was lost is not made twice.
async fn request(
    engine: &Engine,
    stage: usize,
    job_type: &str,
    input: Value,
    deadline: Duration,
) -> anyhow::Result<JobId> {
    let request = JobRequest {
        idempotency_key: Some(format!("chaos-{stage}-{job_type}")),
        requested_by: "chaos".into(),
        ..JobRequest::new(job_type, input)
    };
    let started = Instant::now();
    loop {
        match engine.request(request.clone()).await {
            Ok(r) => return Ok(r.job.id),
            Err(EngineError::Store(e)) if started.elapsed() < deadline => {
                tracing::debug!(error = %e, "requesting {job_type}: store unavailable, retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("requesting {job_type}")),
        }
    }
}
