//! Wiring: registering every job type with the upstream clients ([`crate::upstreams`]).

use dongbo_engine::Registry;

pub use crate::upstreams::Upstreams;

/// Registers every sync-domain job type.
pub fn register_all(registry: &mut Registry, upstreams: &Upstreams) {
    crate::pull::register(registry, upstreams);
    crate::matching::register(registry);
    crate::sync::register(registry, upstreams);
}
