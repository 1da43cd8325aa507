//! `dongbo demo`: the whole story with no configuration, on embedded SQLite and the built-in
//! simulator at its real limits.
//!
//! 1. Start the Nhanh and Shopify simulators in this process and map Nhanh depots onto Shopify
//!    locations as the seed's store does.
//! 2. Run the four pulls, both matches and the product sync on in-process workers, each with a
//!    progress bar.
//! 3. Run the customer sync in a separate `dongbo worker` process, kill it with SIGKILL mid-job,
//!    and resume the job here from its last checkpoint. Shopify refuses a few customers' writes
//!    meanwhile (an injected userError); once that fault is gone, RETRY_FAILED_SYNC re-drives them.
//! 4. Print a summary per job next to the simulator's ground truth, check Shopify's final state
//!    against Nhanh's, and say where the dashboard is (it stays up with `--serve`).
//! 5. Keep the stores in step ([`continuous`]): the simulator's webhooks go to the demo's
//!    server, stock changes in Nhanh, and Shopify follows within seconds through a targeted job.
//!    The demo fails when it does not follow within 30 s.

mod continuous;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use dongbo_engine::event::EventPayload;
use dongbo_engine::{BackgroundJob, Engine, JobId, JobRequest, JobStatus, SharedStore};
use dongbo_harness::worker_process::{self, WorkerProcess};
use dongbo_simulator::{Plan, SimConfig, Simulator};
use dongbo_workflows::catalog::store::pulls::{catalog_counts, set_location_mapping};
use dongbo_workflows::jobs::{JobType, CUSTOMER_SYNC};
use dongbo_workflows::matching::{self, MatchInput, Strategy};
use dongbo_workflows::pull::{self, NhanhCustomersInput, NhanhProductsInput, ShopifyPullInput};
use dongbo_workflows::sync::{self, RetryInput, SyncInput};
use dongbo_workflows::Upstreams;
use indicatif::MultiProgress;
use serde::Serialize;
use serde_json::Value;

use super::admin::redact;
use super::progress::JobProgress;
use super::serve::Workers;
use crate::http::{check_bind, serve as serve_http, AppState};
use crate::registry::registry;

const DEMO_DB: &str = "sqlite://dongbo-demo.db";

/// How many customers Shopify refuses during the customer sync.
const REFUSED: usize = 3;

/// `dongbo demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Nhanh products the simulator generates.
    #[arg(long, default_value_t = 2_000)]
    products: usize,
    /// Nhanh customers the simulator generates.
    #[arg(long, default_value_t = 5_000)]
    customers: usize,
    /// The simulated Shopify plan: standard, advanced or plus.
    #[arg(long, default_value = "standard")]
    plan: Plan,
    /// Seed of the simulated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Database URL; the default is a fresh `dongbo-demo.db` in the working directory.
    #[arg(long, default_value = DEMO_DB)]
    db: String,
    /// Where the dashboard listens during the demo.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Keep serving the dashboard after the demo (until Ctrl-C).
    #[arg(long)]
    serve: bool,
}

/// One finished job of the demo.
struct Ran {
    row: BackgroundJob,
    elapsed: Duration,
    truth: Option<i64>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // The demo's server has no token: like `dongbo serve`, it stays on loopback.
    let listen: std::net::SocketAddr =
        args.listen.parse().with_context(|| format!("--listen {} is not an address", args.listen))?;
    if check_bind(&listen, None).is_err() {
        bail!("refusing to listen on {listen}: the demo's server has no API token, so it listens on loopback only (e.g. --listen 127.0.0.1:8080)");
    }
    if args.db == DEMO_DB {
        for f in ["dongbo-demo.db", "dongbo-demo.db-wal", "dongbo-demo.db-shm"] {
            let _ = std::fs::remove_file(f);
        }
    }
    let config = SimConfig {
        seed: args.seed,
        products: args.products,
        customers: args.customers,
        plan: args.plan,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.context("starting the simulator")?;
    let env = sim.env();
    let truth = sim.truth();
    let upstreams = Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .map_err(|e| anyhow::anyhow!("configuring the upstreams: {e}"))?;

    let store = dongbo_workflows::open(&args.db).await.with_context(|| format!("opening {}", redact(&args.db)))?;
    for (depot, location) in &truth.depot_to_location {
        set_location_mapping(&store.db(), *depot, location).await.context("mapping depots to locations")?;
    }
    let engine = Engine::new(store.clone(), registry(&upstreams));
    let secrets = sim.webhooks().config().clone();
    let state = AppState::new(engine.clone(), None).with_notices(upstreams.notices.clone()).with_webhook_secrets(
        crate::http::webhooks::WebhookSecrets {
            nhanh_token: Some(secrets.nhanh_verify_token),
            shopify_secret: Some(secrets.shopify_secret),
        },
    );
    crate::registry::watch_upstreams(&state.metrics, &upstreams);
    let listener =
        tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let dashboard = format!("http://{}/", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(listener, state.clone(), async {
        let _ = stop_rx.await;
    }));
    println!(
        "dongbo demo: {} Nhanh products, {} customers, Shopify {} plan; database {}",
        args.products,
        args.customers,
        args.plan,
        redact(&args.db)
    );
    println!("dashboard: {dashboard}");

    let lease = Duration::from_secs(2);
    let mut ran: Vec<Ran> = Vec::new();
    let workers = Workers::start_with_hook(&engine, 2, lease, Some(state.metrics.step_hook()));

    // The four pulls, two at a time per upstream.
    let pulls = [
        (demo_job(pull::NHANH_PRODUCTS, &NhanhProductsInput::default())?, truth.nhanh_products as i64),
        (demo_job(pull::SHOPIFY_PRODUCTS, &ShopifyPullInput::default())?, truth.shopify_products as i64),
        (demo_job(pull::NHANH_CUSTOMERS, &NhanhCustomersInput::default())?, truth.nhanh_customers as i64),
        (demo_job(pull::SHOPIFY_CUSTOMERS, &ShopifyPullInput::default())?, truth.shopify_customers as i64),
    ];
    ran.extend(run_together(&engine, &pulls).await?);
    let counts = catalog_counts(&store.db()).await?;
    println!(
        "catalog: {} Nhanh products, {} Shopify variants, {} Nhanh customers, {} Shopify customers",
        counts.nhanh_products, counts.shopify_variants, counts.nhanh_customers, counts.shopify_customers
    );

    // Both matches, then the product sync.
    let by_sql = MatchInput { strategy: Strategy::Sql, ..MatchInput::default() };
    let matches = [
        (demo_job(matching::PRODUCTS, &MatchInput::default())?, truth.product_pairs.len() as i64),
        (demo_job(matching::CUSTOMERS, &by_sql)?, truth.customer_pairs.len() as i64),
    ];
    ran.extend(run_together(&engine, &matches).await?);
    let product_sync = demo_job(sync::PRODUCTS, &SyncInput::default())?;
    ran.extend(run_together(&engine, &[(product_sync, truth.product_pairs.len() as i64)]).await?);
    workers.stop().await;

    // The customer sync in another process, killed mid-job and resumed here, while Shopify
    // refuses a few customers' writes.
    let refused: Vec<String> = truth.customer_pairs.iter().take(REFUSED).map(|(_, gid)| gid.clone()).collect();
    sim.faults().fail_targets(refused.clone());
    let (crashed, resume_note) =
        crash_and_resume(&args.db, &env, &engine, &store, lease, truth.customer_pairs.len() as i64).await?;
    ran.push(crashed);

    // The fault is gone: re-drive the failed items.
    sim.faults().clear();
    let workers = Workers::start(&engine, 2, lease);
    let retry = demo_job(sync::RETRY_FAILED, &RetryInput::default())?;
    ran.extend(run_together(&engine, &[(retry, refused.len() as i64)]).await?);
    workers.stop().await;

    print_summary(&ran);
    println!("\n{resume_note}");
    let verdict = verify(&sim, &ran);
    println!("{verdict}");
    let followed = continuous::run(&sim, &engine, &upstreams.notices, &dashboard).await;
    match &followed {
        Ok(line) => println!("{line}"),
        Err(e) => println!("continuous: FAILED: {e:#}"),
    }

    if args.serve {
        let workers = Workers::start(&engine, 2, lease);
        println!("\nserving the dashboard at {dashboard} — Ctrl-C to stop");
        super::stop_signal().await;
        workers.stop().await;
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    sim.shutdown().await;
    if ran.iter().any(|r| r.row.status != JobStatus::Completed) {
        bail!("not every job completed");
    }
    followed.map(|_| ())
}

/// A request by `demo` for `job` with `input` (the workflow's own input type).
fn demo_job<I: Serialize>(job: JobType<I>, input: &I) -> anyhow::Result<JobRequest> {
    let request = job.request(input).with_context(|| format!("serialising the input of {job}"))?;
    Ok(JobRequest { requested_by: "demo".into(), ..request })
}

/// Requests the jobs and follows them together until all finish.
async fn run_together(engine: &Engine, jobs: &[(JobRequest, i64)]) -> anyhow::Result<Vec<Ran>> {
    let group = MultiProgress::new();
    let mut running = Vec::new();
    for (request, truth) in jobs {
        let job_type = &request.job_type;
        let job = engine.request(request.clone()).await.with_context(|| format!("requesting {job_type}"))?.job;
        running.push((job.id, JobProgress::in_group(&group, job_type), Instant::now(), *truth, None::<Ran>));
    }
    while running.iter().any(|r| r.4.is_none()) {
        for (id, bar, started, truth, done) in running.iter_mut().filter(|r| r.4.is_none()) {
            let row = engine.store().job(*id).await?.context("a demo job vanished")?;
            bar.update(&row);
            if row.status.is_finished() {
                bar.finish();
                *done = Some(Ran { row, elapsed: started.elapsed(), truth: Some(*truth) });
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(running.into_iter().filter_map(|r| r.4).collect())
}

/// Runs CUSTOMER_SYNC in a `dongbo worker` child process, SIGKILLs it a third of the way in, and
/// lets a worker here resume it.
async fn crash_and_resume(
    db: &str,
    env: &[(String, String)],
    engine: &Engine,
    store: &SharedStore,
    lease: Duration,
    truth: i64,
) -> anyhow::Result<(Ran, String)> {
    let exe = std::env::current_exe().context("locating the dongbo binary")?;
    let worker = WorkerProcess::spawn(&exe, db, env, lease)?;
    let pid = worker.pid();
    let started = Instant::now();
    let request = demo_job(sync::CUSTOMERS, &SyncInput::default())?;
    let job: JobId = engine.request(request).await?.job.id;
    let mut bar = JobProgress::new(CUSTOMER_SYNC);
    bar.note(&format!("{CUSTOMER_SYNC} runs in worker process {pid}"));
    let at_kill = worker
        .kill_when(store, job, |row| {
            bar.update(row);
            worker_process::past(row, 1.0 / 3.0)
        })
        .await
        .context("the customer sync before the crash (more --customers makes it longer)")?;
    bar.note(&format!(
        "killed worker process {pid} with SIGKILL at {}/{}; a worker here resumes the job once its lease ({} s) runs out",
        at_kill.processed,
        at_kill.total.unwrap_or(0),
        lease.as_secs()
    ));
    let workers = Workers::start(engine, 1, lease);
    let row = loop {
        let row = store.job(job).await?.context("the sync job vanished")?;
        bar.update(&row);
        if row.status.is_finished() {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    bar.finish();
    workers.stop().await;
    let events = store.events(job, 0, 1_000_000).await?;
    let note = events
        .iter()
        .find_map(|e| match e.decode() {
            Ok(EventPayload::JobClaimed(c)) if c.attempt == 2 => Some(format!(
                "{CUSTOMER_SYNC} was resumed by {} (attempt 2) from the checkpoint at event {} after the killed worker's lease ran out; {} events, sequence 1..{} without gaps",
                c.worker,
                c.resumed_from.map_or_else(|| "-".into(), |s| s.to_string()),
                events.len(),
                events.len()
            )),
            _ => None,
        })
        .unwrap_or_else(|| format!("{CUSTOMER_SYNC}: no resume was recorded"));
    Ok((Ran { row, elapsed: started.elapsed(), truth: Some(truth) }, note))
}

fn print_summary(ran: &[Ran]) {
    println!();
    println!(
        "{:<24} {:<10} {:>8} {:>8} {:>9} {:>7} {:>9} {:>9} {:>9}",
        "job", "status", "records", "truth", "success", "failed", "conflicts", "duration", "speed"
    );
    for r in ran {
        let conflicts =
            r.row.metadata.get("conflicts").and_then(Value::as_i64).map_or_else(|| "-".into(), |c| c.to_string());
        let secs = r.elapsed.as_secs_f64().max(0.001);
        println!(
            "{:<24} {:<10} {:>8} {:>8} {:>9} {:>7} {:>9} {:>8.1}s {:>7.0}/s",
            r.row.job_type,
            r.row.status.as_str(),
            r.row.processed,
            r.truth.map_or_else(|| "-".into(), |t| t.to_string()),
            r.row.successful,
            r.row.failed,
            conflicts,
            secs,
            r.row.processed as f64 / secs
        );
    }
}

/// Compares Shopify's final state with Nhanh's for what was synced.
fn verify(sim: &Simulator, ran: &[Ran]) -> String {
    let state = sim.state();
    let spent = state.expected_total_spent();
    let spent_ok = spent
        .iter()
        .filter(|(gid, v)| state.customer_metafield(gid, "custom", "total_spent") == Some(v.to_string()))
        .count();
    let stock = state.expected_inventory();
    let stock_ok =
        stock.iter().filter(|l| state.inventory(&l.inventory_item_id, &l.location_id) == Some(l.quantity)).count();
    let twice = {
        let journal = sim.journal();
        // One journal entry per quantity set; a key applied twice shows as a repeated
        // (key, item, location).
        let mut keys = std::collections::HashMap::<(String, String, String), usize>::new();
        for e in journal.iter().filter(|e| e.kind == "inventorySetQuantities" && e.applied) {
            if let Some(k) = &e.idempotency_key {
                let location = e.value["locationId"].as_str().unwrap_or_default().to_owned();
                *keys.entry((k.clone(), e.target.clone(), location)).or_default() += 1;
            }
        }
        keys.values().filter(|n| **n > 1).count()
    };
    let completed = ran.iter().filter(|r| r.row.status == JobStatus::Completed).count();
    format!(
        "check: {completed}/{} jobs COMPLETED; Shopify total spent equals Nhanh's for {spent_ok}/{} mapped customers; \
         stock equals Nhanh's for {stock_ok}/{} mapped variant-locations; inventory keys applied twice: {twice}",
        ran.len(),
        spent.len(),
        stock.len()
    )
}
