//! The pure matching core: from one batch of key rows (both sides, one key range) and the
//! neighbourhoods of the records that hold several keys, the mappings and conflicts.
//!
//! # The rule
//!
//! Consider only *eligible* records: not removed, not on either side of a `manual` mapping.
//! Write `C(n)` for the Shopify records sharing any key with Nhanh record `n`, and `C'(s)` for the
//! Nhanh records sharing any key with Shopify record `s`. Then:
//!
//! - `n` is mapped to `s` exactly when `C(n) = {s}` and `C'(s) = {n}`: they are each other's only
//!   candidate (whatever else their fields hold, no other record shares any of their keys).
//!   The mapping's key is the smallest key they share; it is decided once, in the batch holding
//!   `n`'s first key, its smallest in byte order (where `n` is *considered*).
//! - A key held on both sides by more than one record on either side is a *conflict*, recorded
//!   with its holders on each side.
//! - A key held by exactly one record on each side whose records are not mapped (one of them has
//!   another candidate through another key) is a conflict too, recorded with `C'(s)` and `C(n)`:
//!   every record the two could belong to.
//!
//! A key held on one side only is neither. Every decision depends on the data only, never on how
//! the keys were cut into batches, so the three strategies agree. Keys are never compared for
//! order here: the database orders them (its collation), the core only tests equality.

use std::collections::{BTreeSet, HashMap, HashSet};

/// A Nhanh record's key in the batch, in the database's key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NhanhKeyRow {
    /// The match key.
    pub key: String,
    /// The Nhanh record.
    pub id: i64,
    /// How many keys the record holds in all.
    pub key_count: i64,
    /// Whether this is the record's first key, the smallest in byte order (where the record is
    /// decided; stored with the keys by the pulls).
    pub first: bool,
    /// The Shopify record its existing (non-manual) mapping points at.
    pub existing: Option<String>,
}

/// A Shopify record's key in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyKeyRow {
    /// The match key.
    pub key: String,
    /// The Shopify record.
    pub id: String,
    /// How many keys the record holds in all.
    pub key_count: i64,
}

/// Every key of some records, each with the eligible records of the other side holding it, in
/// the database's key order (so the first key is the smallest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neighbourhoods {
    /// Nhanh record → its keys with their Shopify holders.
    pub nhanh: HashMap<i64, Vec<(String, Vec<String>)>>,
    /// Shopify record → its keys with their Nhanh holders.
    pub shopify: HashMap<String, Vec<(String, Vec<i64>)>>,
}

/// A decided mapping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mapping {
    /// The Nhanh record.
    pub nhanh_id: i64,
    /// The Shopify record.
    pub shopify_id: String,
    /// The smallest key they share.
    pub key: String,
}

/// A key that cannot be matched, with every candidate on each side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Conflict {
    /// The key.
    pub key: String,
    /// Nhanh candidates, ascending.
    pub nhanh_ids: Vec<i64>,
    /// Shopify candidates, ascending.
    pub shopify_ids: Vec<String>,
}

/// A Nhanh record decided in this batch (its smallest key is in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Considered {
    /// The record.
    pub nhanh_id: i64,
    /// Its existing non-manual mapping's Shopify record.
    pub existing: Option<String>,
}

/// What one batch decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchDecision {
    /// Records decided here (mapped or not).
    pub considered: Vec<Considered>,
    /// Mappings of considered records.
    pub mappings: Vec<Mapping>,
    /// Conflicts of the batch's keys.
    pub conflicts: Vec<Conflict>,
}

/// The multi-key Nhanh records of the batch whose neighbourhood [`decide`] needs: those
/// considered here (their mapping looks at every key they hold) and those holding a key that a
/// Shopify record of the batch holds too (its conflict may look beyond the key). A record whose
/// key in the batch no Shopify record holds, and which is decided in another batch, is not
/// looked at here — in a range of second keys, most of them. Ascending.
pub fn nhanh_lookups(nhanh: &[NhanhKeyRow], shopify: &[ShopifyKeyRow]) -> Vec<i64> {
    let shared: HashSet<&str> = shopify.iter().map(|s| s.key.as_str()).collect();
    let ids: BTreeSet<i64> = nhanh
        .iter()
        .filter(|n| n.key_count > 1 && (n.first || shared.contains(n.key.as_str())))
        .map(|n| n.id)
        .collect();
    ids.into_iter().collect()
}

/// The Shopify records whose neighbourhood [`decide`] needs: the multi-key ones holding a key
/// that a Nhanh record of the batch holds too ([`decide`] looks only at keys Nhanh holds), and
/// the sole candidate of each considered multi-key Nhanh record. Call it after loading the
/// Nhanh neighbourhoods ([`nhanh_lookups`]).
pub fn shopify_lookups(nhanh: &[NhanhKeyRow], shopify: &[ShopifyKeyRow], hoods: &Neighbourhoods) -> Vec<String> {
    let held: HashSet<&str> = nhanh.iter().map(|n| n.key.as_str()).collect();
    let mut ids: BTreeSet<String> =
        shopify.iter().filter(|s| s.key_count > 1 && held.contains(s.key.as_str())).map(|s| s.id.clone()).collect();
    for n in nhanh.iter().filter(|n| n.first && n.key_count > 1) {
        if let Some(hood) = hoods.nhanh.get(&n.id) {
            let c = union(hood);
            if c.len() == 1 {
                ids.extend(c);
            }
        }
    }
    ids.into_iter().collect()
}

/// Decides a batch. `nhanh` is in key order; `shopify` holds the same key range; `hoods` holds
/// every record [`nhanh_lookups`] and [`shopify_lookups`] named.
pub fn decide(nhanh: &[NhanhKeyRow], shopify: &[ShopifyKeyRow], hoods: &Neighbourhoods) -> BatchDecision {
    let mut shop_by_key: HashMap<&str, Vec<&ShopifyKeyRow>> = HashMap::new();
    for s in shopify {
        shop_by_key.entry(s.key.as_str()).or_default().push(s);
    }
    let mut out = BatchDecision::default();
    for group in nhanh.chunk_by(|a, b| a.key == b.key) {
        let key = group[0].key.as_str();
        let shops: &[&ShopifyKeyRow] = shop_by_key.get(key).map_or(&[], Vec::as_slice);
        let ctx = Group { key, nhanh: group, shops, hoods };
        if let Some(c) = ctx.conflict() {
            out.conflicts.push(c);
        }
        for n in group.iter().filter(|n| n.first) {
            out.considered.push(Considered { nhanh_id: n.id, existing: n.existing.clone() });
            if let Some(m) = ctx.mapping_of(n) {
                out.mappings.push(m);
            }
        }
    }
    out
}

/// One key's holders on both sides, with the neighbourhoods to look beyond it.
struct Group<'a> {
    key: &'a str,
    nhanh: &'a [NhanhKeyRow],
    shops: &'a [&'a ShopifyKeyRow],
    hoods: &'a Neighbourhoods,
}

impl Group<'_> {
    /// `C(n)` for a Nhanh record holding this key.
    fn shop_candidates(&self, n: &NhanhKeyRow) -> BTreeSet<String> {
        if n.key_count > 1 {
            self.hoods.nhanh.get(&n.id).map(|h| union(h)).unwrap_or_default()
        } else {
            self.shops.iter().map(|s| s.id.clone()).collect()
        }
    }

    /// `C'(s)` for a Shopify record: from its neighbourhood, or from this key when it holds only
    /// this one.
    fn nhanh_candidates(&self, s: &str) -> BTreeSet<i64> {
        if let Some(h) = self.hoods.shopify.get(s) {
            return h.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
        }
        self.nhanh.iter().map(|n| n.id).collect()
    }

    fn conflict(&self) -> Option<Conflict> {
        if self.shops.is_empty() {
            return None;
        }
        if self.nhanh.len() > 1 || self.shops.len() > 1 {
            let nhanh_ids: BTreeSet<i64> = self.nhanh.iter().map(|n| n.id).collect();
            let shopify_ids: BTreeSet<String> = self.shops.iter().map(|s| s.id.clone()).collect();
            return Some(Conflict {
                key: self.key.to_owned(),
                nhanh_ids: nhanh_ids.into_iter().collect(),
                shopify_ids: shopify_ids.into_iter().collect(),
            });
        }
        let (n, s) = (&self.nhanh[0], self.shops[0]);
        let c_n = self.shop_candidates(n);
        let c_s = self.nhanh_candidates(&s.id);
        if c_n.len() == 1 && c_s.len() == 1 {
            return None;
        }
        Some(Conflict {
            key: self.key.to_owned(),
            nhanh_ids: c_s.into_iter().collect(),
            shopify_ids: c_n.into_iter().collect(),
        })
    }

    /// The mapping of a record considered at this key, if it has one.
    fn mapping_of(&self, n: &NhanhKeyRow) -> Option<Mapping> {
        let c_n = self.shop_candidates(n);
        let [s] = <[String; 1]>::try_from(c_n.into_iter().collect::<Vec<_>>()).ok()?;
        let c_s = self.nhanh_candidates(&s);
        if c_s.len() != 1 || !c_s.contains(&n.id) {
            return None;
        }
        let key = if n.key_count > 1 {
            let hood = self.hoods.nhanh.get(&n.id)?;
            hood.iter().find(|(_, holders)| holders.contains(&s)).map(|(k, _)| k.clone())?
        } else {
            self.key.to_owned()
        };
        Some(Mapping { nhanh_id: n.id, shopify_id: s, key })
    }
}

fn union(hood: &[(String, Vec<String>)]) -> BTreeSet<String> {
    hood.iter().flat_map(|(_, ids)| ids.iter().cloned()).collect()
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
