//! The outgoing notifications of `dongbo serve` and `dongbo worker` (`DONGBO_NOTIFY_URL`,
//! `DONGBO_NOTIFY_SECRET`): a [`Notifier`] task when a URL is set.

use anyhow::Context;
use clap::Args;
use dongbo_engine::Engine;
use dongbo_workflows::notices::Notices;
use dongbo_workflows::notify::{Notifier, NotifyConfig};
use tokio::task::JoinHandle;

/// Where notifications go.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// Receiver of the signed notifications (job failed, job recovered, Nhanh token expiring);
    /// unset = none sent.
    #[arg(long, env = "DONGBO_NOTIFY_URL")]
    notify_url: Option<String>,
    /// HMAC-SHA256 key of `X-Dongbo-Signature` (required with a URL).
    #[arg(long, env = "DONGBO_NOTIFY_SECRET", hide_env_values = true)]
    notify_secret: Option<String>,
}

impl NotifyArgs {
    /// Starts the notifier over `engine`'s log and `notices`, if a URL is set.
    pub(crate) fn start(&self, engine: &Engine, notices: &Notices) -> anyhow::Result<Option<JoinHandle<()>>> {
        let config = NotifyConfig::from_parts(self.notify_url.as_deref(), self.notify_secret.as_deref())
            .context("notification settings")?;
        Ok(config.map(|config| {
            tracing::info!(url = %config.url, "sending notifications");
            Notifier::new(config, engine.store().clone(), notices.clone(), engine.clock().clone()).spawn()
        }))
    }
}
