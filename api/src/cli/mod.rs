//! The `dongbo` command line. Every flag can also come from the environment (see the README's
//! configuration table); flags win.

mod admin;
mod bench;
mod demo;
mod jobs;
mod mappings;
mod nhanh;
mod notify;
#[cfg(feature = "otel")]
pub mod otel;
mod progress;
mod run;
mod schedules;
mod serve;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_DB: &str = "sqlite://dongbo.db";

/// dongbo keeps a Nhanh.vn store and a Shopify store in sync, as durable jobs.
#[derive(Debug, Parser)]
#[command(name = "dongbo", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the whole story on the embedded database: jobs with progress bars, a worker killed
    /// with SIGKILL mid-job and its resume, then a summary.
    Demo(demo::DemoArgs),
    /// Serves the API and dashboard, with workers in the same process.
    Serve(serve::ServeArgs),
    /// Runs workers only (scale-out on PostgreSQL).
    Worker(serve::WorkerArgs),
    /// Requests a job of any type and works it here with a progress bar (or `--detach`).
    Run(run::RunArgs),
    /// Lists, shows, follows and cancels jobs on a running server.
    Jobs(jobs::JobsArgs),
    /// Lists, adds, changes, pauses, resumes, runs and removes durable schedules on a running
    /// server.
    Schedules(schedules::SchedulesArgs),
    /// Maps, unmaps and re-maps records by hand, resolves conflicts, lists records and exports
    /// CSV on a running server.
    Mappings(mappings::MappingsArgs),
    /// Runs the Nhanh v3 and Shopify GraphQL simulators and prints `export` lines that point
    /// dongbo at them (`eval "$(dongbo sim)"`).
    Sim(dongbo_simulator::SimArgs),
    /// Gets the Nhanh access token through Nhanh's OAuth (`dongbo nhanh authorize`), or checks
    /// where it stands (`dongbo nhanh check`).
    Nhanh(nhanh::NhanhArgs),
    /// Creates or upgrades the database schema.
    Migrate(admin::MigrateArgs),
    /// Deletes the events of jobs that finished before a cutoff (their job rows stay).
    Prune(admin::PruneArgs),
    /// Runs the benchmarks against baselines measured in the same run and prints one table
    /// (`dongbo bench [SECTION...] [--quick] [--json] [--pg URL]`).
    Bench(bench::BenchArgs),
    /// Webhooks: registers the Shopify subscriptions and prints Nhanh's settings
    /// (`dongbo webhooks register --public-url URL`), lists them (`list`), or lets pushes resume
    /// after the Shopify app was reinstalled (`reinstalled`).
    Webhooks(webhooks::WebhooksArgs),
    /// Prints, for each argument, its canonical E.164 number(s) or `invalid: <reason>`.
    NormalizePhone {
        /// Phone fields as stored (quote each one).
        #[arg(required = true)]
        raw: Vec<String>,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    main_with(std::env::args_os())
}

/// Parses `args` (the program name first) as the command line and runs it.
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Command::NormalizePhone { raw } = &cli.command {
        for r in raw {
            println!("{}", dongbo_workflows::keys::normalize_phone_line(r));
        }
        return ExitCode::SUCCESS;
    }
    // Kept to the end: dropped after the runtime, it sends the spans still queued.
    let _telemetry = init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Worker(args) => serve::worker(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Jobs(args) => jobs::run(args).await,
            Command::Schedules(args) => schedules::run(args).await,
            Command::Mappings(args) => mappings::run(args).await,
            Command::Sim(args) => dongbo_simulator::run_cli(args).await.map_err(anyhow::Error::from),
            Command::Nhanh(args) => nhanh::run(args).await,
            Command::Migrate(args) => admin::migrate(args).await,
            Command::Prune(args) => admin::prune(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Webhooks(args) => webhooks::run(args).await,
            Command::NormalizePhone { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What keeps the spans' export going until the process ends (nothing without the `otel`
/// feature).
struct Telemetry {
    #[cfg(feature = "otel")]
    _export: Option<otel::Export>,
}

fn init_tracing() -> Telemetry {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("DONGBO_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let subscriber = tracing_subscriber::registry().with(filter).with(logs);
    #[cfg(feature = "otel")]
    let (subscriber, telemetry) = {
        let (export, pipeline) = otel::layer().unzip();
        (subscriber.with(export), Telemetry { _export: pipeline })
    };
    #[cfg(not(feature = "otel"))]
    let telemetry = Telemetry {};
    let _ = subscriber.try_init();
    telemetry
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub(crate) async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
