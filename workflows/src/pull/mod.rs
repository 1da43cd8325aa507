//! The four pull workflows: mirror both stores into the catalog, resumably.

use dongbo_engine::Registry;

use crate::setup::Upstreams;

/// Registers the pull job types.
pub fn register(_registry: &mut Registry, _upstreams: &Upstreams) {}
