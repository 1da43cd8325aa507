//! `dongbo migrate` and `dongbo prune`.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::DEFAULT_DB;
use crate::registry::{registry, upstreams_from_env};

/// `dongbo migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Database URL (`sqlite://file.db` or `postgres://…`).
    #[arg(long, env = "DONGBO_DB", default_value = DEFAULT_DB)]
    db: String,
}

/// `dongbo prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Database URL.
    #[arg(long, env = "DONGBO_DB", default_value = DEFAULT_DB)]
    db: String,
    /// Age of the finished jobs whose events go, e.g. `30d`, `12h`.
    #[arg(long, value_parser = humantime::parse_duration)]
    older_than: Duration,
    /// Jobs per delete batch.
    #[arg(long, default_value_t = 500)]
    batch: i64,
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    dongbo_workflows::open(&args.db).await.with_context(|| format!("migrating {}", redact(&args.db)))?;
    println!("schema of {} is up to date", redact(&args.db));
    Ok(())
}

pub async fn prune(args: PruneArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let store = dongbo_workflows::open(&args.db).await.with_context(|| format!("opening {}", redact(&args.db)))?;
    let engine = dongbo_engine::Engine::new(store, registry(&upstreams_from_env()?));
    let n = engine.prune(args.older_than, args.batch).await.context("pruning events")?;
    println!("pruned {n} events of jobs finished more than {} ago", humantime::format_duration(args.older_than));
    Ok(())
}

/// A database URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    fn check(url: &str, expect: &str) {
        assert_eq!(redact(url), expect);
    }

    #[test]
    fn passwords_never_appear_in_database_urls_shown_to_people() {
        check("postgres://u:secret@h:5432/db", "postgres://u:***@h:5432/db");
        check("postgres://u@h/db", "postgres://u@h/db");
        check("sqlite://dongbo.db", "sqlite://dongbo.db");
    }
}
