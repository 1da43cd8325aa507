//! `dongbo run TYPE [--input JSON]`: request a job from the terminal and, unless `--detach`, work
//! it here with a progress bar until it ends. Any job type of this build, with its JSON input —
//! PIPELINE and RECONCILE included: their child jobs run on the same worker, since a parent waiting
//! for its children gives the worker up between looks.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use dongbo_engine::{JobRequest, JobStatus};

use super::admin::redact;
use super::progress::JobProgress;
use super::serve::Workers;
use super::DEFAULT_DB;
use crate::registry::{engine_on, upstreams_for};

/// `dongbo run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job type, e.g. PULL_NHANH_CUSTOMERS.
    job_type: String,
    /// The job's input as JSON, e.g. '{"mode":"incremental"}'.
    #[arg(long, default_value = "{}")]
    input: String,
    /// An idempotency key: a second run with the same key returns the first job.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Database URL.
    #[arg(long, env = "DONGBO_DB", default_value = DEFAULT_DB)]
    db: String,
    /// Only request the job (a running `serve` or `worker` picks it up) and print its id.
    #[arg(long)]
    detach: bool,
    /// Lease length in milliseconds for the workers this command starts.
    #[arg(long, env = "DONGBO_LEASE_MS", default_value_t = 30_000)]
    lease_ms: u64,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let input: serde_json::Value =
        serde_json::from_str(&args.input).with_context(|| format!("--input is not JSON: {}", args.input))?;
    let store = dongbo_workflows::open(&args.db).await.with_context(|| format!("opening {}", redact(&args.db)))?;
    // The registry that knows the store: PIPELINE and RECONCILE request child jobs on it.
    let engine = engine_on(&store, &upstreams_for(&store).await?);
    let request = JobRequest {
        idempotency_key: args.idempotency_key,
        requested_by: "cli".into(),
        ..JobRequest::new(args.job_type.trim().to_uppercase(), input)
    };
    let requested = engine.request(request).await?;
    let job = requested.job;
    if let Some(existing) = requested.existing {
        eprintln!("{}: an existing job ({existing:?})", job.id);
    }
    if args.detach {
        println!("{}", job.id);
        return Ok(());
    }
    let workers = Workers::start(&engine, 1, Duration::from_millis(args.lease_ms));
    let mut bar = JobProgress::new(&job.job_type);
    let row = loop {
        let row = store.job(job.id).await?.context("the job vanished")?;
        bar.update(&row);
        if row.status.is_finished() {
            break row;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = super::stop_signal() => {
                bar.note("stopping: the job keeps its checkpoint and resumes on the next worker");
                workers.stop().await;
                bail!("interrupted; job {} is {}", job.id, row.status);
            }
        }
    };
    bar.finish();
    workers.stop().await;
    println!("{}", serde_json::to_string_pretty(&row)?);
    match row.status {
        JobStatus::Completed => Ok(()),
        other => bail!("job {} ended {other}{}", row.id, row.error.map(|e| format!(": {e}")).unwrap_or_default()),
    }
}
