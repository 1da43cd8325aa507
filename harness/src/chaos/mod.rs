//! The chaos suite (issue 9): the whole pipeline of `dongbo demo` under the faults users meet,
//! checked against an undisturbed run of the same seed.
//!
//! [`run`] makes two passes of the pipeline (see `pipeline`), each with a fresh simulator and a
//! fresh database, its jobs worked by `dongbo worker` child processes (four on PostgreSQL, one on
//! SQLite):
//!
//! 1. undisturbed: no kills, no restarts, no faults — the reference (the simulator's real rate
//!    limits and the demo's refused customers belong to the scenario, so both passes have them);
//! 2. under fire: worker processes SIGKILLed at seeded moments and started again, PostgreSQL (a
//!    private cluster, so other tests are not disturbed) restarted mid-run, and the simulator
//!    answering with 5xx, hangs ending in 504 and added latency, while a neighbour spends the
//!    shop's cost bucket so the workers are throttled (see `disrupt`, `neighbour`).
//!
//! Then `checks` compares: every job COMPLETED; counters equal the truth and the reference;
//! the local tables and Shopify's final state equal the reference's; no inventory key applied
//! twice and no item lost; at most one step redone per kill or restart. [`ChaosReport`] carries
//! the figures and the violations (none = pass).
//!
//! Fault rates are kept where the run stays possible: a connector sends a call up to 6 times
//! and the engine retries a failed step 8 times (`RetryPolicy` defaults), so with 14 % of
//! requests failing (the default mix) a call gives up with odds of 0.14⁶ ≈ 10⁻⁵, and a step only
//! fails for good if that happens on eight tries in a row.

mod checks;
mod cluster;
mod disrupt;
mod fleet;
mod neighbour;
mod outcome;
mod pipeline;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

pub use cluster::{find_pg_bin, PgCluster};
pub use disrupt::Disruptions;
pub use outcome::Traffic;
pub use report::{ChaosReport, JobFigures};

use cluster::ScratchDir;
use disrupt::Disruptor;
use pipeline::{run_pass, stages};

/// Which database the workers share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A private PostgreSQL cluster.
    Postgres,
    /// An SQLite file (a single worker process).
    Sqlite,
}

impl Backend {
    /// `postgres` or `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// What the simulator does to requests under fire.
#[derive(Debug, Clone)]
pub struct FaultMix {
    /// Share of requests answered 500/502/503.
    pub error_rate: f64,
    /// Share of requests that hang `timeout_ms` and get 504.
    pub timeout_rate: f64,
    /// How long a timed-out request hangs.
    pub timeout_ms: u64,
    /// Latency added to every request.
    pub latency_ms: u64,
    /// How often the neighbour spends 252 points of the shop's bucket (`None`: no neighbour).
    /// Keep it well under the restore rate (Standard: 100 points/s): a product or customer
    /// page is priced near the bucket's 1,000 points, so a neighbour that keeps the bucket from
    /// ever filling starves those pages for good rather than slowing them.
    pub neighbour_period: Option<Duration>,
}

impl Default for FaultMix {
    fn default() -> Self {
        FaultMix {
            error_rate: 0.10,
            timeout_rate: 0.04,
            timeout_ms: 1_000,
            latency_ms: 20,
            neighbour_period: Some(Duration::from_secs(6)),
        }
    }
}

/// A chaos run.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The database.
    pub backend: Backend,
    /// Seed of the simulated data and of the plan of kills.
    pub seed: u64,
    /// Nhanh products.
    pub products: usize,
    /// Nhanh customers.
    pub customers: usize,
    /// `dongbo worker` processes (one worker each).
    pub workers: usize,
    /// SIGKILLs over the disturbed run.
    pub kills: usize,
    /// PostgreSQL restarts over the disturbed run (ignored on SQLite).
    pub pg_restarts: usize,
    /// The `dongbo` binary the workers run.
    pub dongbo_bin: PathBuf,
    /// The workers' lease: a killed worker's job resumes within it.
    pub lease: Duration,
    /// The faults under fire.
    pub faults: FaultMix,
    /// Longest a single job may take.
    pub job_deadline: Duration,
    /// Where the workers' stderr goes (`None`: discarded).
    pub log_dir: Option<PathBuf>,
}

impl ChaosConfig {
    /// The CI size: 300 products, 1,000 customers, 6 kills, one PostgreSQL restart; 4 workers on
    /// PostgreSQL, 1 on SQLite.
    pub fn small(backend: Backend, dongbo_bin: PathBuf) -> ChaosConfig {
        ChaosConfig {
            backend,
            seed: 7,
            products: 300,
            customers: 1_000,
            workers: match backend {
                Backend::Postgres => 4,
                Backend::Sqlite => 1,
            },
            kills: 6,
            pg_restarts: 1,
            dongbo_bin,
            lease: Duration::from_millis(2_500),
            faults: FaultMix::default(),
            job_deadline: Duration::from_secs(300),
            log_dir: None,
        }
    }

    /// The bench's full size: 5,000 products, 20,000 customers, 20 kills.
    pub fn large(backend: Backend, dongbo_bin: PathBuf) -> ChaosConfig {
        ChaosConfig {
            products: 5_000,
            customers: 20_000,
            kills: 20,
            job_deadline: Duration::from_secs(1_200),
            ..ChaosConfig::small(backend, dongbo_bin)
        }
    }
}

/// Runs the pipeline undisturbed, then under fire, and checks the second against the first.
/// `Err` when the suite itself cannot run (no PostgreSQL, a job past its deadline); a run that
/// completes with a wrong outcome is an `Ok` report with violations.
pub async fn run(cfg: &ChaosConfig) -> anyhow::Result<ChaosReport> {
    if cfg.workers == 0 {
        bail!("the chaos run needs at least one worker process");
    }
    if cfg.backend == Backend::Sqlite && cfg.workers != 1 {
        bail!("SQLite is for a single process: run the chaos suite on it with one worker");
    }
    let scratch = match cfg.backend {
        Backend::Sqlite => Some(ScratchDir::new()?),
        Backend::Postgres => None,
    };
    let cluster = match cfg.backend {
        Backend::Postgres => {
            let bin = find_pg_bin().context("no PostgreSQL binaries (set DONGBO_PG_BIN to their directory)")?;
            Some(PgCluster::start(&bin).await.context("starting a private PostgreSQL cluster")?)
        }
        Backend::Sqlite => None,
    };
    let mut urls = Vec::new();
    for name in ["chaos_undisturbed", "chaos_disturbed"] {
        urls.push(match (&cluster, &scratch) {
            (Some(c), _) => {
                c.create_database(name).await?;
                c.url(name)
            }
            (None, Some(dir)) => format!("sqlite://{}", dir.path().join(format!("{name}.db")).display()),
            (None, None) => bail!("neither a cluster nor a scratch directory"),
        });
    }
    let reference = run_pass(cfg, &urls[0], cluster.as_ref(), None).await.context("the undisturbed run")?;
    let stage_running: Vec<Duration> = (0..stages().len())
        .map(|s| reference.jobs.iter().find(|j| j.stage == s).map_or(Duration::ZERO, |j| j.running))
        .collect();
    let restarts = if cluster.is_some() { cfg.pg_restarts } else { 0 };
    let plan = Disruptor::plan(cfg.seed, cfg.kills, restarts, &stage_running);
    let disturbed = run_pass(cfg, &urls[1], cluster.as_ref(), Some(plan)).await.context("the disturbed run")?;
    drop(cluster);
    Ok(report::judge(cfg, &reference, &disturbed))
}
