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
//! - `tables`: [`MatchKind`] and the SQL text per kind.
//! - `backend`: how reads run on each backend (PostgreSQL plan settings, SQLite rows as JSON),
//!   the one place where the two differ beyond spelling.
//! - `reads`: key rows, neighbourhoods, boundaries, the job's total.
//! - `set_based`: the `sql` strategy's join-and-group queries.
//! - `writes`: [`MatchWrites`], [`ClearConflicts`], [`PruneStaleMappings`].
//! - `listings`: mappings, conflicts, the stale-mapping count, the benchmark's baseline join.

mod backend;
mod listings;
mod reads;
mod set_based;
mod tables;
mod writes;

pub use listings::{
    bare_key_join, conflicts_page, forget_matches, key_join_written, list_conflicts, list_mappings, mappings_page,
    settle, stale_mappings, ConflictRow, JoinFloor, MappingRow,
};
pub use reads::{
    analyse_new_tables, count_candidates, next_boundary, nhanh_neighbourhoods, nhanh_rows, shopify_neighbourhoods,
    shopify_rows,
};
pub use set_based::{joined_rows_in_range, nhanh_partners, shopify_partners, JoinedRow, Partners};
pub use tables::MatchKind;
pub use writes::{ClearConflicts, MappingWrite, MatchWrites, PruneStaleMappings};

/// Store result.
pub type R<T> = Result<T, sqlx::Error>;
