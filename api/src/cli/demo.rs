//! `dongbo demo`: the story on the embedded default, with no configuration.
//!
//! Today it runs the engine's built-in `EXAMPLE_COUNT` workflow in a real worker process, kills
//! that process with SIGKILL mid-job, resumes the job in this process and shows that it finished
//! with exact counts, having redone at most one step.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use dongbo_engine::event::EventPayload;
use dongbo_engine::example::{example_stats, EXAMPLE_COUNT};
use dongbo_engine::{Engine, JobRequest, JobStatus};
use serde_json::json;

use super::admin::redact;
use super::progress::JobProgress;
use super::serve::Workers;
use crate::registry::{registry, upstreams_from_env};

const DEMO_DB: &str = "sqlite://dongbo-demo.db";

/// `dongbo demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Database URL; the default is a fresh `dongbo-demo.db` in the working directory.
    #[arg(long, default_value = DEMO_DB)]
    db: String,
    /// Items the example job counts.
    #[arg(long, default_value_t = 600)]
    items: u32,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.items >= 30, "--items must be at least 30 so there is a middle to crash in");
    if args.db == DEMO_DB {
        for f in ["dongbo-demo.db", "dongbo-demo.db-wal", "dongbo-demo.db-shm"] {
            let _ = std::fs::remove_file(f);
        }
    }
    let store = dongbo_engine::open(&args.db).await.with_context(|| format!("opening {}", redact(&args.db)))?;
    let engine = Engine::new(store.clone(), registry(&upstreams_from_env()?));
    let lease = Duration::from_secs(2);
    let started = Instant::now();
    let input = json!({ "items": args.items, "batch": 10, "stepMillis": 30 });
    let job =
        engine.request(JobRequest { requested_by: "demo".into(), ..JobRequest::new(EXAMPLE_COUNT, input) }).await?.job;
    println!("dongbo demo on {}: job {} ({EXAMPLE_COUNT}, {} items)", redact(&args.db), job.id, args.items);

    // A real worker process takes the job.
    let exe = std::env::current_exe().context("locating the dongbo binary")?;
    let mut child = tokio::process::Command::new(exe)
        .args(["worker", "--db", &args.db, "--workers", "1", "--lease-ms", &lease.as_millis().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting a worker process")?;
    let pid = child.id().unwrap_or(0);
    let mut bar = JobProgress::new(EXAMPLE_COUNT);
    bar.note(&format!("worker process {pid} started"));
    let crash_at = i64::from(args.items / 3);
    loop {
        let row = store.job(job.id).await?.context("job vanished")?;
        bar.update(&row);
        if row.processed >= crash_at {
            break;
        }
        if row.status.is_finished() {
            bail!("the job finished before the crash: {:?}", row.status);
        }
        if let Some(status) = child.try_wait()? {
            bail!("the worker process exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill().context("killing the worker")?;
    child.wait().await?;
    let at_kill = store.job(job.id).await?.context("job vanished")?;
    bar.note(&format!(
        "killed worker process {pid} with SIGKILL at {}/{}; resuming here once its {}s lease runs out",
        at_kill.processed,
        args.items,
        lease.as_secs()
    ));

    // This process resumes it from the last checkpoint.
    let workers = Workers::start(&engine, 1, lease);
    let row = loop {
        let row = store.job(job.id).await?.context("job vanished")?;
        bar.update(&row);
        if row.status.is_finished() {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    bar.finish();
    workers.stop().await;

    let events = store.events(job.id, 0, 1_000_000).await?;
    let steps = events.iter().filter(|e| e.event_type == "StepCompleted").count() as i64;
    let resume = events.iter().find_map(|e| match e.decode() {
        Ok(EventPayload::JobClaimed(c)) if c.attempt == 2 => Some(c),
        _ => None,
    });
    let stats = example_stats(&store.db(), job.id).await?;
    let redone = stats.executions - steps;
    let elapsed = started.elapsed();

    println!();
    println!(
        "{:<16} {:<10} {:>9} {:>9} {:>7} {:>9} {:>10}",
        "job", "status", "records", "success", "failed", "duration", "speed"
    );
    println!(
        "{:<16} {:<10} {:>9} {:>9} {:>7} {:>8.1}s {:>8.0}/s",
        EXAMPLE_COUNT,
        row.status.as_str(),
        row.processed,
        row.successful,
        row.failed,
        elapsed.as_secs_f64(),
        row.processed as f64 / elapsed.as_secs_f64()
    );
    println!();
    match &resume {
        Some(c) => println!(
            "resumed by {} (attempt {}) from the checkpoint at event {}, after a lost lease: {}",
            c.worker,
            c.attempt,
            c.resumed_from.map_or("-".into(), |s| s.to_string()),
            c.after_lost_lease
        ),
        None => println!("no resume was recorded"),
    }
    println!(
        "steps committed: {steps}; steps executed: {}; redone after the crash: {redone}; ledger rows: {} (distinct {})",
        stats.executions, stats.ledger_rows, stats.distinct_items
    );
    println!("events: {} in the job's log, sequence 1..{} without gaps", events.len(), events.len());

    if row.status != JobStatus::Completed
        || stats.ledger_rows != i64::from(args.items)
        || stats.distinct_items != i64::from(args.items)
        || resume.is_none()
        || redone > 1
    {
        bail!("the demo's job did not end exactly once: {row:?}, {stats:?}");
    }
    Ok(())
}
