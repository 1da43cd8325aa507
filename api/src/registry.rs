//! The job types this binary runs.

use dongbo_engine::example::ExampleCount;
use dongbo_engine::Registry;
use dongbo_workflows::Upstreams;

/// Every workflow this build knows: the sync job types (with the upstreams configured in the
/// environment) and the engine's example.
pub fn registry(upstreams: &Upstreams) -> Registry {
    let mut r = Registry::new();
    r.register(ExampleCount);
    dongbo_workflows::register_all(&mut r, upstreams);
    r
}

/// The upstream clients from `NHANH_*` and `SHOPIFY_*`.
pub fn upstreams_from_env() -> anyhow::Result<Upstreams> {
    Upstreams::from_env().map_err(|e| anyhow::anyhow!("upstream configuration: {e}"))
}
