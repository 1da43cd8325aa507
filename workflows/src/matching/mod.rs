//! Auto-matching: products by SKU (barcode as fallback), customers by Vietnamese phone.

use dongbo_engine::Registry;

/// Registers the match job types.
pub fn register(_registry: &mut Registry) {}
