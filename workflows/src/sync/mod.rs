//! Pushing Nhanh stock and total spent to Shopify, and re-driving failed items.

use dongbo_engine::Registry;

use crate::setup::Upstreams;

/// Registers the sync job types.
pub fn register(_registry: &mut Registry, _upstreams: &Upstreams) {}
