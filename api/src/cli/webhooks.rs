//! `dongbo webhooks register|list|reinstalled`: the Shopify subscriptions, what to type in Nhanh's
//! app settings, and letting pushes resume after the Shopify app was reinstalled.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::admin::redact;
use super::DEFAULT_DB;
use crate::registry::upstreams_from_env;
use dongbo_workflows::notices::Notices;
use dongbo_workflows::webhooks::{self as hooks, nhanh, shopify};

/// `dongbo webhooks`.
#[derive(Debug, Args)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    command: WebhooksCommand,
}

#[derive(Debug, Subcommand)]
enum WebhooksCommand {
    /// Creates or updates the Shopify subscriptions (SHOPIFY_SHOP_URL, SHOPIFY_ACCESS_TOKEN) so
    /// every topic dongbo follows is delivered to PUBLIC_URL/api/webhooks/shopify, and prints
    /// what to enter in Nhanh's app settings.
    Register {
        /// Where Nhanh and Shopify reach this dongbo, e.g. `https://dongbo.example.vn`.
        #[arg(long)]
        public_url: String,
    },
    /// Lists the Shopify subscriptions.
    List,
    /// Lets pushes to Shopify resume after the app was reinstalled (they stop when Shopify says
    /// the app was uninstalled).
    Reinstalled {
        /// Database URL (`sqlite://file.db` or `postgres://…`).
        #[arg(long, env = "DONGBO_DB", default_value = DEFAULT_DB)]
        db: String,
    },
}

/// Runs `dongbo webhooks …`.
pub async fn run(args: WebhooksArgs) -> anyhow::Result<()> {
    match args.command {
        WebhooksCommand::Register { public_url } => register(&public_url).await,
        WebhooksCommand::List => list().await,
        WebhooksCommand::Reinstalled { db } => reinstalled(&db).await,
    }
}

/// `https://host[:port][/prefix]` without a trailing slash, or why not.
fn public_base(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url.trim()).with_context(|| format!("--public-url {url} is not a URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        bail!("--public-url must be an http(s) URL with a host, not {url}");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        bail!("--public-url must not carry a query or a fragment");
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

async fn register(public_url: &str) -> anyhow::Result<()> {
    let base = public_base(public_url)?;
    if base.starts_with("http://") {
        eprintln!("warning: Shopify delivers webhooks only to https:// addresses");
    }
    let upstreams = upstreams_from_env()?;
    let shopify_uri = format!("{base}/api/webhooks/shopify");
    match upstreams.shopify.as_ref() {
        Some(client) => {
            let done = client
                .register_webhooks(&shopify::TOPICS, &shopify_uri)
                .await
                .context("registering the Shopify subscriptions")?;
            println!("Shopify: every topic delivers to {shopify_uri}");
            for (s, what) in done {
                println!("  {:<24} {:<9} {}", s.topic, what, s.id);
            }
            if std::env::var("SHOPIFY_WEBHOOK_SECRET").map(|s| s.trim().is_empty()).unwrap_or(true) {
                println!("  Set SHOPIFY_WEBHOOK_SECRET to the app's client secret where dongbo serves: it checks each delivery's HMAC.");
            }
        }
        None => {
            println!("Shopify: not configured (SHOPIFY_SHOP_URL, SHOPIFY_ACCESS_TOKEN): no subscription was made.\n")
        }
    }
    println!();
    println!("Nhanh: in the app's settings (nhanh.vn → Apps → your app → Edit → Webhooks), enter:");
    println!("  Turn on webhooks:  yes");
    println!("  Webhooks URL:      {base}/api/webhooks/nhanh");
    println!("  Events:            {}", nhanh::EVENTS.join(", "));
    match std::env::var("NHANH_WEBHOOK_TOKEN").ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        Some(token) => println!("  Verify token:      {token}   (NHANH_WEBHOOK_TOKEN)"),
        None => {
            let token = uuid::Uuid::new_v4().simple().to_string();
            println!("  Verify token:      {token}");
            println!("  …and set NHANH_WEBHOOK_TOKEN={token} where dongbo serves (it is not set here).");
        }
    }
    Ok(())
}

async fn list() -> anyhow::Result<()> {
    let upstreams = upstreams_from_env()?;
    let client = upstreams.shopify().map_err(anyhow::Error::msg)?;
    let subs = client.webhook_subscriptions().await.context("listing the Shopify subscriptions")?;
    if subs.is_empty() {
        println!("no Shopify webhook subscriptions (run `dongbo webhooks register --public-url URL`)");
    }
    for s in subs {
        println!("{:<24} {:<5} {}  {}", s.topic, s.format, s.uri, s.id);
    }
    Ok(())
}

async fn reinstalled(db: &str) -> anyhow::Result<()> {
    let store = dongbo_workflows::open(db).await.with_context(|| format!("opening {}", redact(db)))?;
    let was = hooks::reinstalled(&store.db(), &Notices::new()).await.context("clearing the flag")?;
    println!(
        "{}",
        if was {
            "pushes to Shopify may resume (the uninstalled flag is cleared; running processes see it within a second)"
        } else {
            "pushes to Shopify were not stopped"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_a_base_without_trailing_slash() {
        assert_eq!(public_base("https://dongbo.example.vn/").unwrap(), "https://dongbo.example.vn");
        assert_eq!(public_base("https://x.vn/sync/").unwrap(), "https://x.vn/sync");
        assert!(public_base("ftp://x.vn").is_err());
        assert!(public_base("https://x.vn/?a=1").is_err());
        assert!(public_base("not a url").is_err());
    }
}
