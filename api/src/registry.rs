//! The job types this binary runs.

use dongbo_engine::example::ExampleCount;
use dongbo_engine::{Engine, Registry, SharedStore};
use dongbo_workflows::Upstreams;

/// Every workflow this build knows: the sync job types (with the upstreams configured in the
/// environment) and the engine's example.
pub fn registry(upstreams: &Upstreams) -> Registry {
    let mut r = Registry::new();
    r.register(ExampleCount);
    dongbo_workflows::register_all(&mut r, upstreams);
    r
}

/// [`registry`] plus the job types that request child jobs on `store` (RECONCILE, PIPELINE):
/// what the processes that serve or run scheduled work register.
pub fn registry_on(store: &SharedStore, upstreams: &Upstreams) -> Registry {
    let mut r = registry(upstreams);
    dongbo_workflows::schedules::register(&mut r, store, upstreams);
    r
}

/// The engine of a process that serves or runs scheduled work: [`registry_on`]'s job types, with
/// each parent woken as soon as one of its children ends
/// ([`dongbo_workflows::schedules::wake_parents`]).
pub fn engine_on(store: &SharedStore, upstreams: &Upstreams) -> Engine {
    let engine = Engine::new(store.clone(), registry_on(store, upstreams));
    dongbo_workflows::schedules::wake_parents(&engine);
    engine
}

/// The upstream clients from `NHANH_*` and `SHOPIFY_*`, pacing Nhanh in this process.
pub fn upstreams_from_env() -> anyhow::Result<Upstreams> {
    Upstreams::from_env().map_err(|e| anyhow::anyhow!("upstream configuration: {e}"))
}

/// The upstream clients for processes that run jobs on `store`: Nhanh's token from
/// `NHANH_ACCESS_TOKEN`, else the one stored by `dongbo nhanh authorize` (a stored token that
/// cannot be read is said on stderr and in the log, and Nhanh stays unconfigured). On
/// PostgreSQL, where several `dongbo worker`s may share one Nhanh app, Nhanh's limit is counted in
/// the database for all of them; on SQLite (one process) in this process.
pub async fn upstreams_for(store: &SharedStore) -> anyhow::Result<Upstreams> {
    let db = store.db();
    let (upstreams, unusable) = Upstreams::from_vars_or_store(|k| std::env::var(k).ok(), &db)
        .await
        .map_err(|e| anyhow::anyhow!("upstream configuration: {e}"))?;
    if let Some(why) = unusable {
        tracing::warn!("{why}");
        eprintln!("warning: {why}");
    }
    upstreams.share_nhanh_pacing(&db).map_err(|e| anyhow::anyhow!("upstream configuration: {e}"))
}

/// Publishes the upstream clients' counters (requests, throttles, lock-outs, retries, waits) on
/// `/metrics`.
pub fn watch_upstreams(metrics: &crate::http::Metrics, upstreams: &Upstreams) {
    fn counters(s: dongbo_workflows::connectors::ConnectorStats) -> crate::http::UpstreamCounters {
        crate::http::UpstreamCounters {
            requests: s.requests,
            throttled: s.throttled,
            locked_out: s.locked_out,
            retries: s.retries,
            waited_ms: s.waited_ms,
        }
    }
    if let Some(nhanh) = upstreams.nhanh.clone() {
        metrics.watch_upstream("nhanh", move || counters(nhanh.stats()));
    }
    if let Some(shopify) = upstreams.shopify.clone() {
        metrics.watch_upstream("shopify", move || counters(shopify.stats()));
    }
}
