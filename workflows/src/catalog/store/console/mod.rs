//! Catalog SQL for the operator's console: mappings made, changed and removed by hand, mapping
//! statistics, the record lists of both sides with search and filters, the pages a CSV export
//! streams, a job's items from the audit index, and the outbox of outgoing notifications.
//!
//! Every list is paged in the database (keyset: `… WHERE id > $after ORDER BY id LIMIT $n`),
//! never in memory, so an export of any size runs in constant memory a page at a time.
//!
//! A hand-made mapping has `method = 'manual'` and says who made it (`created_by`). Matching never
//! touches it and never pairs either of its records again (see the matching store's
//! `ELIGIBLE_N`/`ELIGIBLE_S`). Unmapping by hand keeps that decision: the Nhanh record stays
//! unpaired (`manual`, no Shopify side, `UNMAPPED`) until someone maps it or deletes the mapping.
//! Each write checks what it needs (both records present, the Shopify record not held by another
//! mapping) inside one transaction that takes the writer's lock first (`BEGIN IMMEDIATE` on
//! SQLite, a transaction-scoped advisory lock per kind on PostgreSQL), so a refused write leaves
//! nothing behind and two operators cannot pair one Shopify record twice.
//!
//! # Layout
//!
//! - `mappings`: reading mappings with their ids, the statistics, and the hand-made writes.
//! - `records`: both sides' products and customers with search, filters and their mapping.
//! - `job_items`: the records a job touched, from the audit index.
//! - `outbox`: the notifications outbox and the notifier's read positions.

mod job_items;
mod mappings;
mod outbox;
mod records;

pub use job_items::{stream_job_items, JobItem};
pub use mappings::{
    delete_mapping, map_by_hand, mapping, mapping_stats, mappings_by_id, mappings_by_nhanh, resolve_conflict,
    unmap_by_hand, ConsoleError, ConsoleMapping, HandMapping, KindStats, MappingFilter,
};
pub use outbox::{
    claim_due, enqueue, mark_delivered, mark_failed, outbox_entries, read_cursor, save_cursor, Cursor, Due, OutboxEntry,
};
pub use records::{records_page, MappedFilter, RecordQuery, RecordRow, Side};

/// Store result.
pub type R<T> = Result<T, sqlx::Error>;

/// `text` as a `LIKE` pattern that matches it anywhere, its wildcards escaped (with `\`).
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_search_matches_its_text_literally() {
        assert_eq!(super::contains_pattern("5%_a\\b"), "%5\\%\\_a\\\\b%");
    }
}
