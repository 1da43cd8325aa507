//! Catalog SQL for the matching workflows: reading both sides' match keys by key range with
//! what the matching core needs (eligibility, key counts, existing mappings, neighbourhoods),
//! the set-based decision queries of the `sql` strategy, and the writes of a match step
//! (mappings, conflicts) as [`StepEffects`](dongbo_engine::StepEffects).
//!
//! *Eligible* records: `removed_at IS NULL` and on neither side of a `manual` mapping. Keys are
//! ordered and compared by the database (its collation); ranges are `after < key <= upto`.
//!
//! # Layout
//!
//! - `tables`: [`MatchKind`] and the SQL text per kind and backend.
//! - `reads`: key rows, neighbourhoods, boundaries, counts, listings.
//! - `set_based`: the `sql` strategy's join-and-group queries.
//! - `writes`: [`MatchWrites`], [`ClearConflicts`], [`PruneStaleMappings`].

mod reads;
mod set_based;
mod tables;
mod writes;

pub use reads::{
    bare_key_join, count_candidates, list_conflicts, list_mappings, next_boundary, nhanh_neighbourhoods, nhanh_rows,
    shopify_neighbourhoods, shopify_rows, stale_mapping_count, ConflictRow, MappingRow,
};
pub use set_based::{considered_in_range, key_groups_in_range, nhanh_partners, shopify_partners, KeyGroup, Partners};
pub use tables::MatchKind;
pub use writes::{ClearConflicts, MappingWrite, MatchWrites, PruneStaleMappings};

/// Store result.
pub type R<T> = Result<T, sqlx::Error>;
