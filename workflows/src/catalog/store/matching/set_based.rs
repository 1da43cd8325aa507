//! The `sql` strategy's queries: the join of the two key tables over a range of keys, with
//! eligibility and each record's facts, and, for the few records holding several keys, their
//! candidates over all their keys grouped by record — all in the database. The matching rule is
//! the one of [`crate::matching::decide`].

use std::collections::HashMap;

use dongbo_engine::Db;

use super::backend::{id_rows, range_rows, Bind};
use super::tables::MatchKind;
use super::R;

/// A record's candidates on the other side, grouped in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partners<T> {
    /// How many distinct candidates.
    pub count: i64,
    /// The smallest candidate (the only one when `count` is 1).
    pub one: T,
    /// The smallest key through which it has a candidate.
    pub key: String,
}

/// A Nhanh key row of a range joined to one eligible Shopify holder of its key (or to none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedRow {
    /// The key.
    pub key: String,
    /// The Nhanh record.
    pub nhanh_id: i64,
    /// Whether the key is the record's smallest (where the record is decided).
    pub first: bool,
    /// Whether the record holds other keys.
    pub multi: bool,
    /// The record's existing non-manual mapping.
    pub existing: Option<String>,
    /// An eligible Shopify holder of the key, and whether it holds other keys.
    pub shopify: Option<(String, bool)>,
}

/// One pass over the range's eligible Nhanh key rows in key order, each with its record's
/// facts and joined to the Shopify holders of its key, a holder kept only when eligible.
///
/// The key rows carry their records' facts (migration 0009): whether the key is the record's
/// first and whether the record holds others (`c2`: 0 no other key, 1 this is the first of
/// several, 2 a later one), and whether the Shopify holder holds others (`c5`). Eligibility of
/// a holder is tested on the joined rows, not in the join's `ON`: there PostgreSQL would test
/// it on every Shopify key row first (a semi-join of two whole tables) instead of probing the
/// key's few holders. The range is repeated on the Shopify side (it follows from the equal
/// keys, but PostgreSQL does not carry a range across an equality): with it both sides are
/// range scans of their key indexes, merged in key order; without it PostgreSQL hashed the
/// whole Shopify key table for every batch (30 ms against 65–85 ms a batch at 200,000).
/// A record's existing mapping is read only where it is decided (its first key).
const JOINED: &str = "SELECT x.{key} AS c0, x.{nid} AS c1,
  CASE WHEN x.key_rank > 0 THEN 2 WHEN x.key_count > 1 THEN 1 ELSE 0 END AS c2,
  CASE WHEN x.key_rank = 0 THEN (SELECT m.{map_s} FROM {map} m WHERE m.{map_n} = x.{nid}) END AS c3,
  CASE WHEN {eligible_s} THEN y.{sid} END AS c4,
  CAST(CASE WHEN y.key_count > 1 THEN 1 ELSE 0 END AS BIGINT) AS c5
 FROM {nk} x
 LEFT JOIN {sk} y ON y.{key} = x.{key} AND y.{key} > $1::text AND y.{key} <= $2::text
 WHERE x.{key} > $1::text AND x.{key} <= $2::text AND {eligible_n}
 ORDER BY x.{key}, x.{nid}";

type JoinedRaw = (String, i64, i32, Option<String>, Option<String>, i64);

/// The eligible Nhanh key rows of `after < key <= upto` joined to the eligible Shopify holders
/// of their keys: the join of the two key tables, in key order.
pub async fn joined_rows_in_range(db: &Db, kind: MatchKind, after: &str, upto: &str) -> R<Vec<JoinedRow>> {
    let raw: Vec<JoinedRaw> = range_rows(db, &kind.sql(JOINED), 6, "c0, c1", after, upto).await?;
    Ok(raw
        .into_iter()
        .map(|(key, nhanh_id, others, existing, shopify, s_multi)| JoinedRow {
            key,
            nhanh_id,
            first: others < 2,
            multi: others > 0,
            existing,
            shopify: shopify.map(|s| (s, s_multi == 1)),
        })
        .collect())
}

/// The pairs first (`y`: materialised, so PostgreSQL cannot test eligibility on the whole
/// Shopify key table before the join), then eligibility on just those pairs.
const NHANH_PARTNERS: &str = "WITH y AS MATERIALIZED (
  SELECT x.{nid} AS n, x.{key} AS k, s.{sid} FROM {nk} x JOIN {sk} s ON s.{key} = x.{key} WHERE x.{nid} {ids}
)
SELECT y.n AS c0, COUNT(DISTINCT y.{sid}) AS c1, MIN(y.{sid}) AS c2, MIN(y.k) AS c3 FROM y WHERE {eligible_s}
 GROUP BY y.n";

/// For each Nhanh record of `ids` with a candidate: its eligible Shopify candidates, counted.
pub async fn nhanh_partners(db: &Db, kind: MatchKind, ids: &[i64]) -> R<HashMap<i64, Partners<String>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let raw: Vec<(i64, i64, String, String)> =
        id_rows(db, kind, NHANH_PARTNERS, "bigint", Bind::Ints(ids), 4, "").await?;
    Ok(raw.into_iter().map(|(id, count, one, key)| (id, Partners { count, one, key })).collect())
}

/// As [`NHANH_PARTNERS`], the other way round.
const SHOPIFY_PARTNERS: &str = "WITH x AS MATERIALIZED (
  SELECT y.{sid} AS s, y.{key} AS k, n.{nid} FROM {sk} y JOIN {nk} n ON n.{key} = y.{key} WHERE y.{sid} {ids}
)
SELECT x.s AS c0, COUNT(DISTINCT x.{nid}) AS c1, MIN(x.{nid}) AS c2, MIN(x.k) AS c3 FROM x WHERE {eligible_n}
 GROUP BY x.s";

/// For each Shopify record of `ids` with a candidate: its eligible Nhanh candidates, counted.
pub async fn shopify_partners(db: &Db, kind: MatchKind, ids: &[String]) -> R<HashMap<String, Partners<i64>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let raw: Vec<(String, i64, i64, String)> =
        id_rows(db, kind, SHOPIFY_PARTNERS, "text", Bind::Texts(ids), 4, "").await?;
    Ok(raw.into_iter().map(|(id, count, one, key)| (id, Partners { count, one, key })).collect())
}
