//! Auto-matching: products by SKU (barcode as fallback), customers by Vietnamese phone.
//!
//! A Nhanh record and a Shopify record are mapped when they are each other's only candidate
//! through their match keys; a key shared by several records is a conflict, recorded with its
//! candidates and never matched. The exact rule is in [`decide`].
//!
//! # Layout
//!
//! - [`decide`]: the pure core, from one batch of key rows to mappings and conflicts.
//! - [`strategy`]: how a batch is cut and decided (`memory`, `batch`, `sql`).
//! - [`set_based`]: the `sql` strategy's decision, made by the database.
//! - [`read_ahead`]: the next batch read and decided while the engine commits the last.
//! - [`workflow`]: the AUTO_MATCH_PRODUCTS / AUTO_MATCH_CUSTOMERS job types: one workflow,
//!   [`AutoMatch`], whose kind is a field ([`PRODUCTS`] and [`CUSTOMERS`] bind them to their input).
//!
//! The SQL is in [`crate::catalog::store::matching`].

pub mod decide;
pub mod read_ahead;
pub mod set_based;
pub mod strategy;
pub mod workflow;

use dongbo_engine::Registry;

pub use strategy::Strategy;
pub use workflow::{AutoMatch, MatchInput, MatchState};

use crate::catalog::store::matching::MatchKind;
use crate::jobs::{self, JobType};

/// `AUTO_MATCH_PRODUCTS` with its input (what its triggers request).
pub const PRODUCTS: JobType<MatchInput> = JobType::new(jobs::AUTO_MATCH_PRODUCTS);
/// `AUTO_MATCH_CUSTOMERS` with its input.
pub const CUSTOMERS: JobType<MatchInput> = JobType::new(jobs::AUTO_MATCH_CUSTOMERS);

/// Registers the match job types.
pub fn register(registry: &mut Registry) {
    registry.register(AutoMatch::new(MatchKind::Products));
    registry.register(AutoMatch::new(MatchKind::Customers));
}
