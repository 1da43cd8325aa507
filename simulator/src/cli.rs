//! `dongbo sim`: both servers in the foreground, configured for `eval "$(dongbo sim)"`.

use std::io::Write;

use crate::config::{Plan, SimConfig};
use crate::webhooks::WebhookConfig;
use crate::Simulator;

/// Arguments of `dongbo sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address of the Nhanh server.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// Address of the Shopify server.
    #[arg(long, default_value = "127.0.0.1:8082")]
    pub shopify_listen: String,
    /// Nhanh product rows to generate.
    #[arg(long, default_value_t = 2_000)]
    pub products: usize,
    /// Nhanh customer rows to generate.
    #[arg(long, default_value_t = 5_000)]
    pub customers: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Shopify plan: standard, advanced or plus.
    #[arg(long, default_value = "standard")]
    pub plan: Plan,
    /// Where Nhanh's webhooks go (the URL typed into Nhanh's app settings).
    #[arg(long)]
    pub nhanh_webhook_url: Option<String>,
    /// Where Shopify's webhooks of every topic go (until subscriptions name their own).
    #[arg(long)]
    pub shopify_webhook_url: Option<String>,
    /// Retry waits of both platforms are divided by this (1: real minutes).
    #[arg(long, default_value_t = 1.0)]
    pub webhook_time_scale: f64,
}

impl Default for SimArgs {
    fn default() -> Self {
        SimArgs {
            listen: "127.0.0.1:8081".into(),
            shopify_listen: "127.0.0.1:8082".into(),
            products: 2_000,
            customers: 5_000,
            seed: 42,
            plan: Plan::Standard,
            nhanh_webhook_url: None,
            shopify_webhook_url: None,
            webhook_time_scale: 1.0,
        }
    }
}

/// Quotes a value for a POSIX shell when it holds anything but safe characters.
fn shell_quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:@+=,".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

/// `export NAME=value` lines for the simulator's environment.
pub fn export_lines(env: &[(String, String)]) -> String {
    env.iter().map(|(k, v)| format!("export {k}={}\n", shell_quote(v))).collect()
}

/// Starts both servers, prints the `export` lines to stdout as soon as they listen (everything
/// else goes to stderr), and serves until ctrl-c.
pub async fn run_cli(args: SimArgs) -> std::io::Result<()> {
    if !(args.webhook_time_scale.is_finite() && args.webhook_time_scale > 0.0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "--webhook-time-scale must be a positive number",
        ));
    }
    for url in [&args.nhanh_webhook_url, &args.shopify_webhook_url].into_iter().flatten() {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("webhook URL {url:?} is not http(s)"),
            ));
        }
    }
    let config = SimConfig {
        seed: args.seed,
        products: args.products,
        customers: args.customers,
        plan: args.plan,
        webhooks: WebhookConfig {
            nhanh_url: args.nhanh_webhook_url.clone(),
            shopify_url: args.shopify_webhook_url.clone(),
            time_scale: args.webhook_time_scale,
            ..WebhookConfig::default()
        },
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, &args.listen, &args.shopify_listen).await?;
    let mut out = std::io::stdout().lock();
    out.write_all(export_lines(&sim.env()).as_bytes())?;
    out.flush()?;
    drop(out);
    eprintln!(
        "dongbo sim: Nhanh at {}, Shopify at {} ({} products, {} customers, seed {}, plan {}); ctrl-c to stop",
        sim.nhanh_base_url(),
        sim.shopify_shop_url(),
        args.products,
        args.customers,
        args.seed,
        args.plan
    );
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_lines_quote_only_what_needs_it() {
        let env = vec![("A".to_string(), "http://127.0.0.1:1".to_string()), ("B".to_string(), "it's x".to_string())];
        assert_eq!(export_lines(&env), "export A=http://127.0.0.1:1\nexport B='it'\\''s x'\n");
    }
}
