//! The pulls' pure decisions: bulk or paged, the incremental watermark, bulk chunk bounds, the
//! Shopify search term of an incremental pull, and how connector failures become step errors.

use std::ops::Range;

use chrono::{TimeZone, Utc};
use dongbo_engine::StepError;
use serde::{Deserialize, Serialize};

use crate::connectors::ConnectorError;

/// How a Shopify pull reads the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShopifyMode {
    /// Bulk export for a full pull of more records than the threshold, else pages.
    #[default]
    Auto,
    /// Always a bulk export (an incremental pull still pages: a bulk query has no filter here).
    Bulk,
    /// Always pages.
    Paged,
}

/// Whether a Shopify pull uses a bulk export. Incremental pulls always page (they fetch few
/// rows); `auto` exports when the store holds more than `threshold` records.
pub fn use_bulk(mode: ShopifyMode, incremental: bool, count: u64, threshold: u64) -> bool {
    !incremental
        && match mode {
            ShopifyMode::Bulk => true,
            ShopifyMode::Paged => false,
            ShopifyMode::Auto => count > threshold,
        }
}

/// The watermark a pull that started at `started_at` (unix seconds) leaves for the next
/// incremental pull: its start time minus `overlap_secs`.
///
/// Why the start time and not the largest `updatedAt` seen: the pull reads by id, not by time,
/// so a row changed *during* the pull, on a page already read, carries an `updatedAt` later than
/// the start but may be earlier than the largest stamp seen on later pages; starting the next
/// pull at the start time fetches it, starting at the largest stamp could miss it. The overlap
/// absorbs clock skew between this host and the upstream and stamps written late in a commit.
/// The price is refetching the few rows changed within the overlap: upserts are idempotent.
pub fn watermark(started_at: i64, overlap_secs: i64) -> i64 {
    started_at.saturating_sub(overlap_secs.max(0))
}

/// The lines a bulk ingest step takes: `[offset, offset + chunk)` clipped to `len`.
pub fn chunk(offset: usize, len: usize, chunk: usize) -> Range<usize> {
    let start = offset.min(len);
    start..start.saturating_add(chunk.max(1)).min(len)
}

/// The Shopify search term of an incremental pull: rows updated at or after `since` (unix s).
pub fn updated_since_query(since: i64) -> String {
    let at = Utc.timestamp_opt(since, 0).single().unwrap_or_default();
    format!("updated_at:>='{}'", at.format("%Y-%m-%dT%H:%M:%SZ"))
}

/// A connector failure as a step error: transient stays transient with the upstream's wait;
/// permanent and malformed replies fail the step (and the job) with the reason.
pub fn step_error(e: ConnectorError) -> StepError {
    match e {
        ConnectorError::Transient { .. } => {
            let retry_after = e.retry_after();
            StepError::Transient { message: e.to_string(), retry_after }
        }
        other => StepError::permanent(other.to_string()),
    }
}

/// A catalog read failure: the database may come back, so the step is retried.
pub fn db_error(what: &str, e: sqlx::Error) -> StepError {
    StepError::transient(format!("{what}: database: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_is_for_large_full_pulls_unless_forced() {
        let check = |mode, incremental, count, expect: bool| {
            assert_eq!(use_bulk(mode, incremental, count, 10_000), expect, "{mode:?} {incremental} {count}")
        };
        check(ShopifyMode::Auto, false, 10_000, false);
        check(ShopifyMode::Auto, false, 10_001, true);
        check(ShopifyMode::Auto, true, 1_000_000, false);
        check(ShopifyMode::Bulk, false, 1, true);
        check(ShopifyMode::Bulk, true, 1, false);
        check(ShopifyMode::Paged, false, 1_000_000, false);
    }

    #[test]
    fn the_watermark_is_the_start_minus_the_overlap() {
        assert_eq!(watermark(1_000, 300), 700);
        assert_eq!(watermark(1_000, -5), 1_000);
        assert_eq!(watermark(i64::MIN, 1), i64::MIN);
    }

    #[test]
    fn chunks_cover_the_file_once() {
        let check = |offset, len, size, expect: Range<usize>| assert_eq!(chunk(offset, len, size), expect);
        check(0, 5, 2, 0..2);
        check(4, 5, 2, 4..5);
        check(5, 5, 2, 5..5);
        check(9, 5, 2, 5..5);
        check(0, 5, 0, 0..1);
    }

    #[test]
    fn an_incremental_search_names_the_watermark_in_utc() {
        assert_eq!(updated_since_query(0), "updated_at:>='1970-01-01T00:00:00Z'");
        assert_eq!(updated_since_query(1_759_276_800), "updated_at:>='2025-10-01T00:00:00Z'");
    }

    #[test]
    fn connector_failures_keep_their_class_and_the_upstream_wait() {
        let wait = Some(std::time::Duration::from_secs(3));
        let t = step_error(ConnectorError::Transient { reason: "HTTP 503".into(), retry_after: wait });
        assert_eq!(
            t,
            StepError::Transient { message: "transient upstream failure: HTTP 503".into(), retry_after: wait }
        );
        let m = step_error(ConnectorError::malformed("customer/list reply: data[3].id: invalid"));
        assert_eq!(m, StepError::permanent("malformed upstream reply: customer/list reply: data[3].id: invalid"));
    }
}
