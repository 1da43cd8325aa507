//! How a batch is cut and decided, per strategy. All three return the same [`BatchDecision`]
//! for the same key range; they differ in who does the work and how the range is chosen.
//!
//! - `memory`: pages of eligible Nhanh key rows in key order (the page's last key group is left
//!   to the next page unless it is the only one), the Shopify rows of the same key range, a
//!   merge of the two in memory. At most one page of each side is held at a time.
//! - `batch`: the key range of the next `batch` Nhanh key rows (counted on the raw key table, by
//!   index), decided in memory like `memory`.
//! - `sql`: the same ranges as `batch`, decided by the database: one join of the two key tables
//!   grouped by key, and per-record candidate counts grouped by record.

use std::collections::{BTreeSet, HashMap};

use dongbo_engine::Db;
use serde::{Deserialize, Serialize};

use super::decide::{self, BatchDecision, Conflict, Mapping, Neighbourhoods, NhanhKeyRow};
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
            Ok(Some((upto.clone(), set_based(db, kind, after, &upto).await?)))
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
    let multi: BTreeSet<i64> = nhanh.iter().filter(|r| r.key_count > 1).map(|r| r.id).collect();
    let mut hoods = Neighbourhoods {
        nhanh: store::nhanh_neighbourhoods(db, kind, &multi.into_iter().collect::<Vec<_>>()).await?,
        shopify: HashMap::new(),
    };
    let lookups = decide::shopify_lookups(&nhanh, &shopify, &hoods);
    hoods.shopify = store::shopify_neighbourhoods(db, kind, &lookups).await?;
    Ok(decide::decide(&nhanh, &shopify, &hoods))
}

async fn set_based(db: &Db, kind: MatchKind, after: &str, upto: &str) -> R<BatchDecision> {
    let considered = store::considered_in_range(db, kind, after, upto).await?;
    let groups = store::key_groups_in_range(db, kind, after, upto).await?;
    let ones: Vec<(&str, i64, &str)> = groups
        .iter()
        .filter(|g| g.nhanh_ids.len() == 1 && g.shopify_ids.len() == 1)
        .map(|g| (g.key.as_str(), g.nhanh_ids[0], g.shopify_ids[0].as_str()))
        .collect();
    let n_ids: BTreeSet<i64> = considered.iter().map(|c| c.nhanh_id).chain(ones.iter().map(|o| o.1)).collect();
    let pn = store::nhanh_partners(db, kind, &n_ids.into_iter().collect::<Vec<_>>()).await?;
    let s_ids: BTreeSet<String> = ones
        .iter()
        .map(|o| o.2.to_owned())
        .chain(considered.iter().filter_map(|c| pn.get(&c.nhanh_id).filter(|p| p.count == 1).map(|p| p.one.clone())))
        .collect();
    let ps = store::shopify_partners(db, kind, &s_ids.into_iter().collect::<Vec<_>>()).await?;
    let sole = |n: i64| pn.get(&n).filter(|p| p.count == 1);
    let paired =
        |n: i64, s: &str| sole(n).is_some_and(|p| p.one == s) && ps.get(s).is_some_and(|p| p.count == 1 && p.one == n);

    let mut out = BatchDecision::default();
    for c in &considered {
        if let Some(p) = sole(c.nhanh_id).filter(|p| paired(c.nhanh_id, &p.one)) {
            out.mappings.push(Mapping { nhanh_id: c.nhanh_id, shopify_id: p.one.clone(), key: p.key.clone() });
        }
    }
    out.considered = considered;
    let mut torn = Vec::new();
    for g in &groups {
        if g.nhanh_ids.len() > 1 || g.shopify_ids.len() > 1 {
            let mut nhanh_ids = g.nhanh_ids.clone();
            nhanh_ids.sort_unstable();
            let shopify_ids: BTreeSet<String> = g.shopify_ids.iter().cloned().collect();
            out.conflicts.push(Conflict {
                key: g.key.clone(),
                nhanh_ids,
                shopify_ids: shopify_ids.into_iter().collect(),
            });
        }
    }
    for &(key, n, s) in &ones {
        if !paired(n, s) {
            torn.push((key, n, s));
        }
    }
    if !torn.is_empty() {
        // Rare: a 1:1 key whose records have other candidates; name them all.
        let n_ids: Vec<i64> = torn.iter().map(|t| t.1).collect();
        let s_ids: Vec<String> = torn.iter().map(|t| t.2.to_owned()).collect();
        let nh = store::nhanh_neighbourhoods(db, kind, &n_ids).await?;
        let sh = store::shopify_neighbourhoods(db, kind, &s_ids).await?;
        for (key, n, s) in torn {
            let shopify_ids: BTreeSet<String> =
                nh.get(&n).into_iter().flatten().flat_map(|(_, h)| h.iter().cloned()).collect();
            let nhanh_ids: BTreeSet<i64> =
                sh.get(s).into_iter().flatten().flat_map(|(_, h)| h.iter().copied()).collect();
            out.conflicts.push(Conflict {
                key: key.to_owned(),
                nhanh_ids: nhanh_ids.into_iter().collect(),
                shopify_ids: shopify_ids.into_iter().collect(),
            });
        }
    }
    Ok(out)
}
