//! Reads for matching: key rows of a range, neighbourhoods, batch boundaries, the job's total.
//!
//! A record's key count and whether a key is its first are stored on its key rows (written by
//! the pulls, migration 0009); its existing mapping is a correlated lookup on the primary key,
//! one per row of the range: the range is a few thousand rows, and a join would read the whole
//! table to find them.

use std::collections::HashMap;

use dongbo_engine::Db;

use super::backend::{id_rows, range_rows, read_count, read_rows, Bind};
use super::tables::MatchKind;
use super::R;
use crate::catalog::store::dialect::on_db;
use crate::catalog::store::postgres_pool;
use crate::matching::decide::{NhanhKeyRow, ShopifyKeyRow};

/// The eligible Nhanh key rows of a range, with the record's key count, whether the key is its
/// smallest, and its existing mapping.
const NHANH_ROWS: &str = "SELECT x.{key} AS c0, x.{nid} AS c1, CAST(x.key_count AS BIGINT) AS c2,
  CAST(CASE WHEN x.key_rank = 0 THEN 1 ELSE 0 END AS BIGINT) AS c3,
  (SELECT m.{map_s} FROM {map} m WHERE m.{map_n} = x.{nid}) AS c4
 FROM {nk} x
 WHERE x.{key} > $1::text AND {range} AND {eligible_n}
 ORDER BY x.{key}, x.{nid}{limit}";

type NhanhRaw = (String, i64, i64, i64, Option<String>);

/// The eligible Nhanh key rows with `after < key <= upto` (or, without `upto`, the first `limit`
/// rows after `after`), in key order, with each record's key count, whether the key is its
/// smallest, and its existing mapping.
pub async fn nhanh_rows(db: &Db, kind: MatchKind, after: &str, upto: Option<&str>, limit: i64) -> R<Vec<NhanhKeyRow>> {
    let pg = match upto {
        Some(_) => kind.sql(&NHANH_ROWS.replace("{range}", "x.{key} <= $2::text").replace("{limit}", "")),
        None => kind.sql(&NHANH_ROWS.replace("{range}", "1 = 1").replace("{limit}", " LIMIT $2::bigint")),
    };
    let bind = match upto {
        Some(upto) => Bind::Range(after, upto),
        None => Bind::First(after, limit),
    };
    let raw: Vec<NhanhRaw> = read_rows(db, &pg, 5, "c0, c1", bind).await?;
    Ok(raw
        .into_iter()
        .map(|(key, id, key_count, first, existing)| NhanhKeyRow { key, id, key_count, first: first == 1, existing })
        .collect())
}

const SHOPIFY_ROWS: &str = "SELECT y.{key} AS c0, y.{sid} AS c1, CAST(y.key_count AS BIGINT) AS c2
 FROM {sk} y WHERE y.{key} > $1::text AND y.{key} <= $2::text AND {eligible_s}";

/// The eligible Shopify key rows with `after < key <= upto`, with each record's key count.
pub async fn shopify_rows(db: &Db, kind: MatchKind, after: &str, upto: &str) -> R<Vec<ShopifyKeyRow>> {
    let raw: Vec<(String, String, i64)> = range_rows(db, &kind.sql(SHOPIFY_ROWS), 3, "", after, upto).await?;
    Ok(raw.into_iter().map(|(key, id, key_count)| ShopifyKeyRow { key, id, key_count }).collect())
}

/// The pairs first (`y`: materialised, so PostgreSQL cannot test eligibility on the whole
/// other key table before the join), then a holder kept only when eligible.
const NHANH_HOODS: &str = "WITH y AS MATERIALIZED (
  SELECT x.{nid} AS n, x.{key} AS k, s.{sid} FROM {nk} x LEFT JOIN {sk} s ON s.{key} = x.{key} WHERE x.{nid} {ids}
)
SELECT y.n AS c0, y.k AS c1, CASE WHEN {eligible_s} THEN y.{sid} END AS c2 FROM y ORDER BY y.n, y.k";

/// Every key of the Nhanh records `ids`, in key order, with the eligible Shopify records
/// holding it.
pub async fn nhanh_neighbourhoods(
    db: &Db,
    kind: MatchKind,
    ids: &[i64],
) -> R<HashMap<i64, Vec<(String, Vec<String>)>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String, Option<String>)> =
        id_rows(db, kind, NHANH_HOODS, "bigint", Bind::Ints(ids), 3, "c0, c1").await?;
    Ok(group(rows))
}

/// As [`NHANH_HOODS`], the other way round.
const SHOPIFY_HOODS: &str = "WITH x AS MATERIALIZED (
  SELECT y.{sid} AS s, y.{key} AS k, n.{nid} FROM {sk} y LEFT JOIN {nk} n ON n.{key} = y.{key} WHERE y.{sid} {ids}
)
SELECT x.s AS c0, x.k AS c1, CASE WHEN {eligible_n} THEN x.{nid} END AS c2 FROM x ORDER BY x.s, x.k";

/// Every key of the Shopify records `ids`, in key order, with the eligible Nhanh records
/// holding it.
pub async fn shopify_neighbourhoods(
    db: &Db,
    kind: MatchKind,
    ids: &[String],
) -> R<HashMap<String, Vec<(String, Vec<i64>)>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, Option<i64>)> =
        id_rows(db, kind, SHOPIFY_HOODS, "text", Bind::Texts(ids), 3, "c0, c1").await?;
    Ok(group(rows))
}

/// Rows `(record, key, holder)` in record-then-key order → record → `[(key, holders)]`.
fn group<I: std::hash::Hash + Eq, H>(rows: Vec<(I, String, Option<H>)>) -> HashMap<I, Vec<(String, Vec<H>)>> {
    let mut out: HashMap<I, Vec<(String, Vec<H>)>> = HashMap::new();
    for (id, key, holder) in rows {
        let keys = out.entry(id).or_default();
        if keys.last().is_none_or(|(k, _)| *k != key) {
            keys.push((key, Vec::new()));
        }
        if let (Some(h), Some((_, holders))) = (holder, keys.last_mut()) {
            holders.push(h);
        }
    }
    out
}

/// How many eligible Nhanh records hold at least one key: the job's `total`. Counted as the
/// key rows that are their records' first (one per record holding a key; a removed record
/// holds none), not by a `DISTINCT` over the key table.
pub async fn count_candidates(db: &Db, kind: MatchKind) -> R<i64> {
    read_count(db, &kind.sql("SELECT COUNT(*) FROM {nk} x WHERE x.key_rank = 0 AND {eligible_n}")).await
}

/// On PostgreSQL, analyses the tables matching reads that hold rows but were never analysed
/// (`reltuples` is -1 until the first `ANALYZE`): a catalog filled in one go, faster than
/// autovacuum's next round, would otherwise be planned from default estimates, which turn each
/// batch's lookups of a few hundred records into scans of whole tables. An empty table is left
/// alone: analysed empty, it would be planned as empty while the job fills it, whereas never
/// analysed its estimate follows its size. A no-op on SQLite and once analysed.
pub async fn analyse_new_tables(db: &Db, kind: MatchKind) -> R<()> {
    let Some(pool) = postgres_pool(db) else { return Ok(()) };
    let tables: Vec<String> = kind.tables().iter().map(|t| t.to_string()).collect();
    let never: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
          WHERE c.relname = ANY($1) AND c.relkind = 'r' AND c.reltuples < 0 AND pg_table_is_visible(c.oid)
            AND pg_relation_size(c.oid) > 0",
    )
    .bind(&tables)
    .fetch_all(&pool)
    .await?;
    if !never.is_empty() {
        // The names come from `MatchKind`, never from input.
        sqlx::query(&format!("ANALYZE {}", never.join(", "))).execute(&pool).await?;
    }
    Ok(())
}

/// The upper bound of the next batch of `batch` Nhanh key rows after `after` (inclusive, so a
/// key's holders are never split), or `None` when no key is left.
pub async fn next_boundary(db: &Db, kind: MatchKind, after: &str, batch: i64) -> R<Option<String>> {
    let nth = kind.sql("SELECT {key} FROM {nk} WHERE {key} > $1::text ORDER BY {key} LIMIT 1 OFFSET $2::bigint");
    let last = kind.sql("SELECT MAX({key}) FROM {nk} WHERE {key} > $1::text");
    let offset = (batch - 1).max(0);
    // PostgreSQL plans each statement afresh (see `backend`); SQLite keeps it prepared.
    on_db!(db, |pool, d| {
        let b: Option<String> = sqlx::query_scalar(&d.params(&nth))
            .persistent(!d.postgres())
            .bind(after)
            .bind(offset)
            .fetch_optional(pool)
            .await?;
        match b {
            Some(b) => Ok(Some(b)),
            None => sqlx::query_scalar(&d.params(&last)).persistent(!d.postgres()).bind(after).fetch_one(pool).await,
        }
    })
}
