//! `dongbo bench`: runs the benchmark sections (the harness crate, `dongbo_harness::bench`) and
//! prints one table (or `--json`).
//!
//! Exits 0 when every section ran, whether or not its targets are met (the table says so); an
//! error in a section (a database that cannot be reached, a job that fails) makes it non-zero.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use dongbo_harness::bench::{self, BenchOpts};

/// `dongbo bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Sections to run (default: all): engine, pulls, matching, sync, resume, chaos.
    sections: Vec<String>,
    /// Reduced sizes: the whole run stays under ten minutes on two cores (release build).
    #[arg(long, env = "DONGBO_BENCH_QUICK")]
    quick: bool,
    /// Print a JSON list of {name, measured, baseline, ratio, target, met} on stdout instead of
    /// the table.
    #[arg(long)]
    json: bool,
    /// PostgreSQL server URL for the PostgreSQL rows (scratch databases are created and dropped on
    /// it); else DONGBO_BENCH_PG_URL, else DONGBO_TEST_PG_URL; without one those rows are skipped.
    #[arg(long, env = "DONGBO_BENCH_PG_URL", hide_env_values = true)]
    pg: Option<String>,
    /// Empty steps per engine figure (default 2,000; 500 with --quick).
    #[arg(long, env = "DONGBO_BENCH_STEPS")]
    steps: Option<u32>,
    /// Write the sync section's throughput plot (SVG) here, e.g. docs/customer-sync-throughput.svg.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The `dongbo` binary that benches spawn as worker processes (default: this one; set by
    /// `cargo bench -p dongbo-api`, whose harness is another executable).
    #[arg(long, hide = true)]
    dongbo_bin: Option<PathBuf>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    bench::check_sections(&args.sections)?;
    let pg_url = args.pg.or_else(|| std::env::var("DONGBO_TEST_PG_URL").ok()).filter(|u| !u.is_empty());
    let opts = BenchOpts {
        quick: args.quick,
        pg_url,
        dongbo_bin: match args.dongbo_bin {
            Some(bin) => bin,
            None => std::env::current_exe().context("locating the dongbo binary")?,
        },
        steps: args.steps,
        plot: args.plot,
    };
    let (rows, errors) = bench::run(&args.sections, &opts).await;
    if args.json {
        println!("{}", bench::to_json(&rows));
    } else {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!(
            "dongbo bench ({} sizes, {cores} cores, {})",
            if opts.quick { "quick" } else { "full" },
            chrono::Utc::now().format("%Y-%m-%d")
        );
        print!("{}", bench::table(&rows));
    }
    if !errors.is_empty() {
        let failed: Vec<String> = errors.iter().map(|(n, e)| format!("{n}: {e:#}")).collect();
        bail!("{} section(s) failed: {}", errors.len(), failed.join("; "));
    }
    Ok(())
}
