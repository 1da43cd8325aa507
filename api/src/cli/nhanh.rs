//! `dongbo nhanh authorize` and `dongbo nhanh check`: getting the Nhanh access token through
//! Nhanh's OAuth, and asking Nhanh where it stands.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use dongbo_engine::{Engine, SystemClock};
use dongbo_workflows::catalog::store::credentials::load_token;
use dongbo_workflows::nhanh_token::oauth::{begin, RETURN_PATH, STATE_TTL};
use dongbo_workflows::nhanh_token::standing::date;
use dongbo_workflows::nhanh_token::watch::{check_once, CheckOutcome};
use dongbo_workflows::Upstreams;

use super::admin::redact;
use super::{stop_signal, DEFAULT_DB};
use crate::http::nhanh_auth::{return_routes, NhanhAuth};
use crate::http::{check_bind, AppState};
use crate::registry::{registry, upstreams_for};

/// `dongbo nhanh …`.
#[derive(Debug, Args)]
pub struct NhanhArgs {
    #[command(subcommand)]
    command: NhanhCommand,
}

#[derive(Debug, Subcommand)]
enum NhanhCommand {
    /// Runs Nhanh's OAuth: prints Nhanh's login link, serves the return link until Nhanh sends
    /// the browser back, and stores the token encrypted with DONGBO_SECRET_KEY.
    Authorize(AuthorizeArgs),
    /// Asks Nhanh now (app/checkaccesstoken, business/depot) where the token in use stands,
    /// stores the answer and prints it.
    Check(CheckArgs),
}

/// `dongbo nhanh authorize`.
#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// Database URL (`sqlite://file.db` or `postgres://…`).
    #[arg(long, env = "DONGBO_DB", default_value = DEFAULT_DB)]
    db: String,
    /// Where to serve the return link while waiting for Nhanh.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: String,
    /// Where the browser reaches dongbo, when not `http://<listen>` (e.g. a running
    /// `dongbo serve` behind a proxy, which then completes the authorisation itself).
    #[arg(long, env = "DONGBO_PUBLIC_URL")]
    public_url: Option<String>,
}

/// `dongbo nhanh check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Database URL (`sqlite://file.db` or `postgres://…`).
    #[arg(long, env = "DONGBO_DB", default_value = DEFAULT_DB)]
    db: String,
}

/// Runs `dongbo nhanh …`.
pub async fn run(args: NhanhArgs) -> anyhow::Result<()> {
    match args.command {
        NhanhCommand::Authorize(a) => authorize(a).await,
        NhanhCommand::Check(a) => check(a).await,
    }
}

async fn authorize(args: AuthorizeArgs) -> anyhow::Result<()> {
    let addr: SocketAddr =
        args.listen.parse().with_context(|| format!("--listen {} is not an address", args.listen))?;
    check_bind(&addr, None).map_err(anyhow::Error::msg)?;
    let auth = NhanhAuth::from_vars(|k| std::env::var(k).ok());
    let cfg = auth.config().map_err(|why| anyhow::anyhow!("{why}"))?.clone();
    let store = dongbo_workflows::open(&args.db).await.with_context(|| format!("opening {}", redact(&args.db)))?;
    let db = store.db();
    let before = load_token(&db).await.context("reading the stored token")?.map(|t| t.sealed);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{}", listener.local_addr().map_or(addr, |a| a)));
    let auth = auth.with_public_url(public_url.clone());
    let now = chrono::Utc::now().timestamp();
    let link = begin(&db, &cfg, &public_url, now).await?;
    println!("Open this link in a browser, log in at Nhanh and grant the app:\n\n  {}\n", link.url);
    eprintln!(
        "Waiting for Nhanh to send the browser back to {public_url}{RETURN_PATH}/… (at most {} minutes; Ctrl-C stops).",
        STATE_TTL.as_secs() / 60
    );
    let mut stored = auth.stored();
    let engine = Engine::new(store.clone(), registry(&Upstreams::default()));
    let state = AppState::new(engine, None).with_nhanh_auth(auth);
    let app = return_routes().with_state(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The return may come here, or to a `dongbo serve` at --public-url: watch the store as well.
    let deadline = tokio::time::sleep(STATE_TTL);
    tokio::pin!(deadline);
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut poll = tokio::time::interval(Duration::from_secs(2));
    let outcome = loop {
        tokio::select! {
            _ = stored.changed() => break Ok(()),
            _ = poll.tick() => {
                let now = load_token(&db).await.context("reading the stored token")?.map(|t| t.sealed);
                if now.is_some() && now != before {
                    break Ok(());
                }
            }
            _ = &mut deadline => break Err(anyhow::anyhow!("Nhanh did not send the browser back within 10 minutes: nothing was stored")),
            _ = &mut stop => break Err(anyhow::anyhow!("stopped: nothing was stored")),
        }
    };
    server.abort();
    outcome?;
    let token = load_token(&db).await?.context("the token vanished from the store")?;
    let expiry = token
        .expires_at
        .map_or_else(|| "Nhanh did not say when it expires".to_owned(), |at| format!("expires on {}", date(at)));
    println!("Stored the Nhanh access token for business {}, encrypted ({expiry}).", token.business_id);
    if std::env::var("NHANH_ACCESS_TOKEN").is_ok_and(|v| !v.is_empty()) {
        println!("Note: NHANH_ACCESS_TOKEN is set and wins over the stored token: unset it to use this one.");
    }
    println!("Restart `dongbo serve` and `dongbo worker` processes started before now to use it.");
    Ok(())
}

async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let store = dongbo_workflows::open(&args.db).await.with_context(|| format!("opening {}", redact(&args.db)))?;
    let upstreams = upstreams_for(&store).await?;
    let client = upstreams.nhanh().map_err(anyhow::Error::msg)?;
    let now = dongbo_engine::Clock::now(&SystemClock).timestamp();
    match check_once(client.as_ref(), &store.db(), now).await {
        CheckOutcome::Checked { standing, depot_ids } => {
            let warning = standing.warning();
            let expires = match standing {
                dongbo_workflows::nhanh_token::Standing::Valid { expires_at }
                | dongbo_workflows::nhanh_token::Standing::ExpiringSoon { expires_at, .. }
                | dongbo_workflows::nhanh_token::Standing::Expired { expires_at } => date(expires_at),
            };
            let depots = depot_ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
            println!("The Nhanh access token expires on {expires}; it covers depots: {depots}.");
            if let Some(w) = warning {
                println!("warning: {w}");
            }
            Ok(())
        }
        outcome @ CheckOutcome::Refused { .. } => {
            anyhow::bail!("{}", outcome.warning().map(|(_, w)| w).unwrap_or_default())
        }
        CheckOutcome::Unknown { reason } => anyhow::bail!("could not check the Nhanh token: {reason}"),
    }
}
