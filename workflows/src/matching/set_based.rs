//! The `sql` strategy: a range of keys decided by the database. One join of the two key
//! tables (eligibility, each record's smallest key and whether it holds others, its existing
//! mapping) streams in key order; the holders of each key are counted as it passes. A key
//! held 1:1 by two records that hold no other key pairs them at once; records holding several
//! keys, the rare case, get their candidates over all their keys counted per record by the
//! database. The rule is the one of [`super::decide`], so the mappings and conflicts are the
//! same as the other strategies'.

use std::collections::{BTreeSet, HashMap};

use dongbo_engine::Db;

use super::decide::{BatchDecision, Conflict, Considered, Mapping};
use crate::catalog::store::matching::{self as store, JoinedRow, MatchKind, R};

/// The eligible holders of one key of the range.
#[derive(Debug, Default)]
struct KeyHolders {
    key: String,
    /// Nhanh holders, ascending, with whether they hold other keys.
    nhanh: Vec<(i64, bool)>,
    /// Shopify holders, ascending, with whether they hold other keys.
    shopify: Vec<(String, bool)>,
}

impl KeyHolders {
    fn one_to_one(&self) -> Option<(i64, &str)> {
        match (&self.nhanh[..], &self.shopify[..]) {
            ([(n, _)], [(s, _)]) => Some((*n, s.as_str())),
            _ => None,
        }
    }

    fn multi(&self) -> bool {
        self.nhanh.iter().any(|h| h.1) || self.shopify.iter().any(|h| h.1)
    }
}

/// The joined rows (in key order) grouped by key, and the rows of the records decided here
/// (at their smallest key, which is in the range).
fn gather(rows: Vec<JoinedRow>) -> (Vec<KeyHolders>, Vec<JoinedRow>) {
    let mut keys: Vec<KeyHolders> = Vec::new();
    let mut records = Vec::new();
    for row in rows {
        if keys.last().is_none_or(|k| k.key != row.key) {
            keys.push(KeyHolders { key: row.key.clone(), ..KeyHolders::default() });
        }
        let Some(k) = keys.last_mut() else { continue };
        if k.nhanh.last().is_none_or(|(n, _)| *n != row.nhanh_id) {
            k.nhanh.push((row.nhanh_id, row.multi));
            if row.first {
                records.push(row.clone());
            }
        }
        if let Some(s) = row.shopify {
            k.shopify.push(s);
        }
    }
    for k in &mut keys {
        // A key held by several records on both sides joins each pair: one row per pair.
        k.shopify.sort_unstable();
        k.shopify.dedup();
    }
    (keys, records)
}

/// Decides the keys `after < key <= upto`.
pub async fn decide_range(db: &Db, kind: MatchKind, after: &str, upto: &str) -> R<BatchDecision> {
    let (keys, records) = gather(store::joined_rows_in_range(db, kind, after, upto).await?);
    let by_key: HashMap<&str, &KeyHolders> = keys.iter().map(|k| (k.key.as_str(), k)).collect();
    // Whose candidates must be counted over all their keys: records decided here that hold
    // other keys, and both holders of a 1:1 key when either holds other keys.
    let torn_pairs: Vec<(i64, &str)> = keys.iter().filter(|k| k.multi()).filter_map(KeyHolders::one_to_one).collect();
    let n_ids: BTreeSet<i64> =
        records.iter().filter(|r| r.multi).map(|r| r.nhanh_id).chain(torn_pairs.iter().map(|p| p.0)).collect();
    let pn = store::nhanh_partners(db, kind, &n_ids.into_iter().collect::<Vec<_>>()).await?;
    let s_ids: BTreeSet<String> = torn_pairs
        .iter()
        .map(|p| p.1.to_owned())
        .chain(pn.values().filter(|p| p.count == 1).map(|p| p.one.clone()))
        .collect();
    let ps = store::shopify_partners(db, kind, &s_ids.into_iter().collect::<Vec<_>>()).await?;
    let sole = |n: i64| pn.get(&n).filter(|p| p.count == 1);
    let paired =
        |n: i64, s: &str| sole(n).is_some_and(|p| p.one == s) && ps.get(s).is_some_and(|p| p.count == 1 && p.one == n);

    let mut out = BatchDecision::default();
    for r in &records {
        let mapping = if r.multi {
            sole(r.nhanh_id).filter(|p| paired(r.nhanh_id, &p.one)).map(|p| (p.one.clone(), p.key.clone()))
        } else {
            let k = by_key.get(r.key.as_str());
            match k.and_then(|k| k.one_to_one().map(|pair| (k, pair))) {
                Some((k, (n, s))) if !k.multi() || paired(n, s) => Some((s.to_owned(), r.key.clone())),
                _ => None,
            }
        };
        if let Some((shopify_id, key)) = mapping {
            out.mappings.push(Mapping { nhanh_id: r.nhanh_id, shopify_id, key });
        }
        out.considered.push(Considered { nhanh_id: r.nhanh_id, existing: r.existing.clone() });
    }
    let mut torn = Vec::new();
    for k in keys.iter().filter(|k| !k.shopify.is_empty()) {
        match k.one_to_one() {
            None => out.conflicts.push(Conflict {
                key: k.key.clone(),
                nhanh_ids: k.nhanh.iter().map(|h| h.0).collect(),
                shopify_ids: k.shopify.iter().map(|h| h.0.clone()).collect(),
            }),
            Some((n, s)) if k.multi() && !paired(n, s) => torn.push((k.key.as_str(), n, s)),
            Some(_) => {}
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
