//! `chaos`: the chaos suite (`crate::chaos`) at bench size — the whole pipeline undisturbed, then
//! with its worker processes SIGKILLed, PostgreSQL restarted and the upstreams failing, hanging
//! and throttling — on SQLite (one worker process) and PostgreSQL (four). Quick: the CI size
//! (300 products, 1,000 customers, 6 kills); full: 5,000 products, 20,000 customers, 20 kills.
//! The report of each run goes to stderr.
//!
//! PostgreSQL runs on a private cluster the suite starts itself (it restarts it mid-run), so it
//! needs PostgreSQL's binaries rather than a server URL; without them its rows are skipped
//! loudly.
//!
//! Rows per backend:
//! - **jobs COMPLETED** and **checks passed** (the suite's verdict: outcome equal to the
//!   undisturbed run, counters equal to the truth, …): all of them;
//! - **steps redone per kill**: steps whose work was thrown away, per kill or restart, against
//!   the old tool, which redid a whole job (the average steps per job of this run) — target one
//!   step, the engine's bound;
//! - **inventory keys applied twice**, against the inventory writes applied: none;
//! - **time lost per kill**: (time under fire − undisturbed time) per kill or restart, against
//!   the resume window (the lease plus one worker poll: how long a killed holder's job waits
//!   before another worker takes it) — target within two windows, the redone step and the
//!   faults' slowdown included.

use dongbo_engine::{WorkerConfig, WorkerId};

use crate::chaos::{self, find_pg_bin, ChaosConfig, ChaosReport};

use super::{note, BenchOpts, Row};

/// Runs the section.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>> {
    let mut backends = vec![chaos::Backend::Sqlite];
    if find_pg_bin().is_some() {
        backends.push(chaos::Backend::Postgres);
    } else {
        eprintln!(
            "\n!!! [bench chaos] SKIPPED its PostgreSQL rows: no initdb/pg_ctl found \
             (PATH, DONGBO_PG_BIN or /usr/lib/postgresql/*/bin) !!!\n"
        );
    }
    let mut rows = Vec::new();
    for backend in backends {
        let bin = opts.dongbo_bin.clone();
        let cfg = if opts.quick { ChaosConfig::small(backend, bin) } else { ChaosConfig::large(backend, bin) };
        let report = chaos::run(&cfg).await?;
        for line in report.to_string().lines() {
            note("chaos", line);
        }
        rows.extend(rows_of(&report, &cfg));
    }
    Ok(rows)
}

fn rows_of(r: &ChaosReport, cfg: &ChaosConfig) -> Vec<Row> {
    let b = r.backend.as_str();
    let jobs = r.jobs.len();
    let completed = r.jobs_completed();
    let passed = r.checks.iter().filter(|(_, n)| *n == 0).count();
    let kills = r.disruption_count().max(1) as f64;
    let redone = r.steps_redone as f64 / kills;
    let whole_job = r.steps_committed as f64 / jobs.max(1) as f64;
    let resume_window = cfg.lease + WorkerConfig::new(WorkerId::new("bench-chaos")).poll;
    let lost = (r.elapsed.as_secs_f64() - r.undisturbed_elapsed.as_secs_f64()).max(0.0) / kills;
    let row = |name: &str, measured: f64, baseline: f64, target: &str, met: bool| {
        Row::new(format!("chaos: {name} ({b})"), measured, baseline, target, met)
    };
    vec![
        row("jobs COMPLETED under fire", completed as f64, jobs as f64, "all", completed == jobs),
        row("checks passed", passed as f64, r.checks.len() as f64, "all", passed == r.checks.len()),
        row("steps redone per kill", redone, whole_job, "≤ 1 step", redone <= 1.0),
        row(
            "inventory keys applied twice",
            r.inventory_keys_applied_twice as f64,
            r.inventory_writes_applied as f64,
            "0",
            r.inventory_keys_applied_twice == 0,
        ),
        Row::at_most(format!("chaos: time lost per kill, s ({b})"), lost, resume_window.as_secs_f64(), 2.0),
    ]
}
