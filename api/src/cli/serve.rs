//! `dongbo serve` and `dongbo worker`.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;

use dongbo_engine::worker::StepHook;
use dongbo_engine::{Engine, WorkerConfig, WorkerHealth, WorkerId, WorkerPool};
use tokio::task::JoinHandle;

use super::admin::redact;
use super::notify::NotifyArgs;
use super::{stop_signal, DEFAULT_DB};
use crate::http::nhanh_auth::NhanhAuth;
use crate::http::webhooks::WebhookSecrets;
use crate::http::{check_bind, serve_with_dashboard, AppState, ConnectionLimits};
use crate::registry::{engine_on, upstreams_for, watch_upstreams};
use dongbo_workflows::nhanh_token::watch::{spawn_checks, CHECK_PERIOD};
use dongbo_workflows::webhooks::dispatch::{DispatchConfig, Dispatcher};
use dongbo_workflows::Upstreams;

/// `dongbo serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database URL (`sqlite://file.db` or `postgres://…`).
    #[arg(long, env = "DONGBO_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Address to listen on.
    #[arg(long, env = "DONGBO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Workers in this process (0 = API only).
    #[arg(long, env = "DONGBO_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Lease length in milliseconds: a dead worker's jobs are resumed within this time.
    #[arg(long, env = "DONGBO_LEASE_MS", default_value_t = 30_000)]
    pub lease_ms: u64,
    /// Bearer token required on `/api`; without one the server only listens on loopback.
    #[arg(long, env = "DONGBO_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// How long a client may take to send a request's head (e.g. `10s`, `500ms`); a slower one,
    /// or an idle keep-alive connection, is closed.
    #[arg(long, env = "DONGBO_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed.
    #[arg(long, env = "DONGBO_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Event streams (`/api/jobs/{id}/stream`) open at once; one more is answered 503.
    #[arg(long, env = "DONGBO_MAX_STREAMS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,
    /// Outgoing notifications.
    #[command(flatten)]
    notify: NotifyArgs,
    /// Webhooks: the verify token typed in Nhanh's app settings (unset: `/api/webhooks/nhanh` answers 503).
    #[arg(long, env = "NHANH_WEBHOOK_TOKEN", hide_env_values = true)]
    pub nhanh_webhook_token: Option<String>,
    /// Webhooks: the Shopify app's client secret, which signs deliveries (unset: `/api/webhooks/shopify` answers 503).
    #[arg(long, env = "SHOPIFY_WEBHOOK_SECRET", hide_env_values = true)]
    pub shopify_webhook_secret: Option<String>,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
}

/// How the webhook dispatcher of a `serve` or `worker` process coalesces deliveries.
#[derive(Debug, Clone, Args)]
pub struct DispatchArgs {
    /// How long the oldest webhook delivery waits for others before they become jobs together
    /// (e.g. `1s`, `250ms`; `0s` dispatches at the next poll).
    #[arg(long, env = "DONGBO_WEBHOOK_WINDOW", default_value = "1s", value_parser = humantime::parse_duration)]
    pub webhook_window: Duration,
}

impl DispatchArgs {
    /// Starts the dispatcher of this process.
    pub(crate) fn spawn(&self, engine: &Engine, notices: &dongbo_workflows::notices::Notices) -> JoinHandle<()> {
        let config = DispatchConfig { window: self.webhook_window, ..DispatchConfig::default() };
        Dispatcher::new(engine.clone(), notices.clone(), config).spawn()
    }
}

impl ServeArgs {
    /// The connection limits the flags ask for.
    fn limits(&self) -> anyhow::Result<ConnectionLimits> {
        anyhow::ensure!(!self.header_timeout.is_zero(), "--header-timeout must be longer than zero");
        Ok(ConnectionLimits {
            header_timeout: self.header_timeout,
            max_connections: self.max_connections as usize,
            max_streams: self.max_streams as usize,
        })
    }
}

/// `dongbo worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Database URL (`sqlite://file.db` or `postgres://…`).
    #[arg(long, env = "DONGBO_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Workers in this process.
    #[arg(long, env = "DONGBO_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Lease length in milliseconds: a dead worker's jobs are resumed within this time.
    #[arg(long, env = "DONGBO_LEASE_MS", default_value_t = 30_000)]
    pub lease_ms: u64,
    /// Outgoing notifications.
    #[command(flatten)]
    notify: NotifyArgs,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
}

/// How long a supervisor waits before starting a dead worker loop again.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Running workers, each restarted when its loop dies, and the handles that stop them.
pub(crate) struct Workers {
    pool: WorkerPool,
}

impl Workers {
    /// Starts `n` workers on the engine.
    pub(crate) fn start(engine: &Engine, n: usize, lease: Duration) -> Workers {
        Self::start_with_hook(engine, n, lease, None)
    }

    /// Starts `n` workers that report each step to `hook`.
    pub(crate) fn start_with_hook(engine: &Engine, n: usize, lease: Duration, hook: Option<StepHook>) -> Workers {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        let configs = (0..n)
            .map(|_| {
                let mut config = WorkerConfig::new(WorkerId::generate(&host));
                config.lease = lease;
                config.on_step = hook.clone();
                config
            })
            .collect();
        Workers { pool: WorkerPool::start(engine, configs, RESTART_DELAY) }
    }

    /// Their configured and live count, for `/healthz`.
    pub(crate) fn health(&self) -> WorkerHealth {
        self.pool.health()
    }

    /// Stops them after their current step, releasing their leases.
    pub(crate) async fn stop(self) {
        self.pool.stop().await;
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let addr: SocketAddr =
        args.listen.parse().with_context(|| format!("--listen {} is not an address", args.listen))?;
    check_bind(&addr, args.api_token.as_deref()).map_err(anyhow::Error::msg)?;
    let limits = args.limits()?;
    let store = dongbo_workflows::open(&args.db).await.with_context(|| format!("opening {}", redact(&args.db)))?;
    let upstreams = upstreams_for(&store).await?;
    let engine = engine_on(&store, &upstreams);
    let state = AppState::new(engine.clone(), args.api_token.clone())
        .with_notices(upstreams.notices.clone())
        .with_limits(limits)
        .with_nhanh_auth(NhanhAuth::from_vars(|k| std::env::var(k).ok()))
        .with_webhook_secrets(WebhookSecrets {
            nhanh_token: args.nhanh_webhook_token.clone().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
            shopify_secret: args.shopify_webhook_secret.clone().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
        });
    watch_upstreams(&state.metrics, &upstreams);
    let token_checks = spawn_token_checks(&upstreams, &engine);
    let notifier = args.notify.start(&engine, &upstreams.notices)?;
    let workers = Workers::start_with_hook(
        &engine,
        args.workers,
        Duration::from_millis(args.lease_ms),
        Some(state.metrics.step_hook()),
    );
    let state = state.with_workers(workers.health());
    let schedules = spawn_scheduler(&engine);
    let dispatcher = args.dispatch.spawn(&engine, &state.notices);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    eprintln!("dongbo serving on http://{} with {} workers", listener.local_addr()?, args.workers);
    serve_with_dashboard(listener, state, crate::dashboard::router(), stop_signal()).await.context("serving HTTP")?;
    schedules.stop().await;
    dispatcher.abort();
    workers.stop().await;
    if let Some(checks) = token_checks {
        checks.abort();
    }
    if let Some(notifier) = notifier {
        notifier.abort();
    }
    Ok(())
}

/// Checks the Nhanh token now and once a day (expiry, covered depots, depot names), raising the
/// `nhanh_token` notice from 30 days before expiry; nothing when Nhanh is not configured.
fn spawn_token_checks(upstreams: &Upstreams, engine: &Engine) -> Option<JoinHandle<()>> {
    let client = upstreams.nhanh.clone()?;
    Some(spawn_checks(
        client,
        engine.store().db(),
        std::sync::Arc::new(dongbo_engine::SystemClock),
        CHECK_PERIOD,
        upstreams.notices.clone(),
    ))
}

/// The scheduler this process runs beside its workers: it fires the durable schedules' slots
/// (exactly once across every process on the database; see `dongbo_workflows::schedules`).
struct SchedulerTask {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SchedulerTask {
    async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

fn spawn_scheduler(engine: &Engine) -> SchedulerTask {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "dongbo".into());
    let name = format!("{host}:{}", std::process::id());
    let scheduler = dongbo_workflows::schedules::Scheduler::new(engine.clone(), name);
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move { scheduler.run(rx).await });
    SchedulerTask { stop, task }
}

pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.workers > 0, "--workers must be at least 1");
    let store = dongbo_workflows::open(&args.db).await.with_context(|| format!("opening {}", redact(&args.db)))?;
    let upstreams = upstreams_for(&store).await?;
    let engine = engine_on(&store, &upstreams);
    let token_checks = spawn_token_checks(&upstreams, &engine);
    let notifier = args.notify.start(&engine, &upstreams.notices)?;
    let workers = Workers::start(&engine, args.workers, Duration::from_millis(args.lease_ms));
    let schedules = spawn_scheduler(&engine);
    let dispatcher = args.dispatch.spawn(&engine, &upstreams.notices);
    eprintln!("dongbo worker: {} workers on {} (pid {})", args.workers, redact(&args.db), std::process::id());
    stop_signal().await;
    eprintln!("dongbo worker: stopping after the current steps");
    schedules.stop().await;
    dispatcher.abort();
    workers.stop().await;
    if let Some(checks) = token_checks {
        checks.abort();
    }
    if let Some(notifier) = notifier {
        notifier.abort();
    }
    Ok(())
}
