//! How a batch is cut and decided, per strategy. All three return the same [`BatchDecision`]
//! for the same key range; they differ in who does the work and how the range is chosen.
//!
//! - `memory`: pages of eligible Nhanh key rows in key order (the page's last key group is left
//!   to the next page unless it is the only one), the Shopify rows of the same key range, a
//!   merge of the two in memory. At most one page of each side is held at a time.
//! - `batch`: the key range of the next `batch` Nhanh key rows (counted on the raw key table, by
//!   index), decided in memory like `memory`.
//! - `sql`: the same ranges as `batch`, decided by the database ([`set_based`]): one join of
//!   the two key tables with eligibility and each record's facts, and — only for records
//!   holding several keys, the rare case — their candidates counted per record.

use std::collections::HashMap;

use dongbo_engine::Db;
use serde::{Deserialize, Serialize};

use super::decide::{self, BatchDecision, Neighbourhoods, NhanhKeyRow};
use super::set_based;
use crate::catalog::store::matching::{self as store, MatchKind, R};

/// How AUTO_MATCH_CUSTOMERS works through the keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Streaming merge of sorted key pages in memory.
    #[default]
    Memory,
    /// Set-based, in the database.
    Sql,
    /// Chunked by key range.
    Batch,
}

impl Strategy {
    /// The name as the input spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Memory => "memory",
            Strategy::Sql => "sql",
            Strategy::Batch => "batch",
        }
    }
}

/// The next batch after `after`: its inclusive upper key and its decision, or `None` when no
/// key is left.
pub async fn next_batch(
    db: &Db,
    kind: MatchKind,
    strategy: Strategy,
    after: &str,
    size: i64,
) -> R<Option<(String, BatchDecision)>> {
    match strategy {
        Strategy::Memory => memory(db, kind, after, size).await,
        Strategy::Batch => {
            let Some(upto) = store::next_boundary(db, kind, after, size).await? else { return Ok(None) };
            let rows = store::nhanh_rows(db, kind, after, Some(&upto), 0).await?;
            Ok(Some((upto.clone(), in_memory(db, kind, after, &upto, rows).await?)))
        }
        Strategy::Sql => {
            let Some(upto) = store::next_boundary(db, kind, after, size).await? else { return Ok(None) };
            Ok(Some((upto.clone(), set_based::decide_range(db, kind, after, &upto).await?)))
        }
    }
}

async fn memory(db: &Db, kind: MatchKind, after: &str, page: i64) -> R<Option<(String, BatchDecision)>> {
    let mut rows = store::nhanh_rows(db, kind, after, None, page).await?;
    let Some(last) = rows.last().map(|r| r.key.clone()) else { return Ok(None) };
    if rows.len() as i64 >= page {
        if rows[0].key == last {
            // One key fills the page: take its whole group.
            rows = store::nhanh_rows(db, kind, after, Some(&last), 0).await?;
        } else {
            // The last group may continue on the next page: leave it to that page.
            while rows.last().is_some_and(|r| r.key == last) {
                rows.pop();
            }
        }
    }
    let upto = rows.last().map(|r| r.key.clone()).unwrap_or(last);
    Ok(Some((upto.clone(), in_memory(db, kind, after, &upto, rows).await?)))
}

async fn in_memory(db: &Db, kind: MatchKind, after: &str, upto: &str, nhanh: Vec<NhanhKeyRow>) -> R<BatchDecision> {
    let shopify = store::shopify_rows(db, kind, after, upto).await?;
    let mut hoods = Neighbourhoods {
        nhanh: store::nhanh_neighbourhoods(db, kind, &decide::nhanh_lookups(&nhanh, &shopify)).await?,
        shopify: HashMap::new(),
    };
    let lookups = decide::shopify_lookups(&nhanh, &shopify, &hoods);
    hoods.shopify = store::shopify_neighbourhoods(db, kind, &lookups).await?;
    Ok(decide::decide(&nhanh, &shopify, &hoods))
}
