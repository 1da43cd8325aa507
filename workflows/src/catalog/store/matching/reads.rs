//! Reads for matching: key rows of a range, neighbourhoods, batch boundaries, counts, listings.

use std::collections::HashMap;

use dongbo_engine::Db;

use super::tables::{placeholders, sqlite, MatchKind};
use super::R;
use crate::matching::decide::{NhanhKeyRow, ShopifyKeyRow};

/// SQLite `IN` lists are cut to this many ids.
const IN_CHUNK: usize = 500;

/// The range's rows first (`r`), then one grouped pass over the keys of just those records
/// (`a`: key count and smallest key), instead of two correlated subqueries per row.
const NHANH_ROWS: &str = "WITH r AS (
  SELECT x.{key} AS k, x.{nid} AS id FROM {nk} x
   WHERE x.{key} > $1::text AND {range} AND {eligible_n}
   ORDER BY x.{key}, x.{nid}{limit}
), a AS (
  SELECT c.{nid} AS id, COUNT(*) AS n, MIN(c.{key}) AS lo FROM {nk} c
   WHERE c.{nid} IN (SELECT r.id FROM r) GROUP BY c.{nid}
)
SELECT r.k, r.id, a.n, CASE WHEN r.k = a.lo THEN 1 ELSE 0 END, m.{map_s}
  FROM r JOIN a ON a.id = r.id LEFT JOIN {map} m ON m.{map_n} = r.id
 ORDER BY r.k, r.id";

/// The eligible Nhanh key rows with `after < key <= upto` (or, without `upto`, the first `limit`
/// rows after `after`), in key order, with each record's key count, whether the key is its
/// smallest, and its existing mapping.
pub async fn nhanh_rows(db: &Db, kind: MatchKind, after: &str, upto: Option<&str>, limit: i64) -> R<Vec<NhanhKeyRow>> {
    type Raw = (String, i64, i64, i32, Option<String>);
    let pg = match upto {
        Some(_) => kind.sql(&NHANH_ROWS.replace("{range}", "x.{key} <= $2::text").replace("{limit}", "")),
        None => kind.sql(&NHANH_ROWS.replace("{range}", "1 = 1").replace("{limit}", " LIMIT $2::bigint")),
    };
    let raw: Vec<Raw> = match (db, upto) {
        (Db::Sqlite(pool), Some(u)) => sqlx::query_as(&sqlite(&pg)).bind(after).bind(u).fetch_all(pool).await?,
        (Db::Sqlite(pool), None) => sqlx::query_as(&sqlite(&pg)).bind(after).bind(limit).fetch_all(pool).await?,
        (Db::Postgres(pool), Some(u)) => {
            sqlx::query_as(&pg).persistent(false).bind(after).bind(u).fetch_all(pool).await?
        }
        (Db::Postgres(pool), None) => {
            sqlx::query_as(&pg).persistent(false).bind(after).bind(limit).fetch_all(pool).await?
        }
    };
    Ok(raw
        .into_iter()
        .map(|(key, id, key_count, first, existing)| NhanhKeyRow { key, id, key_count, first: first == 1, existing })
        .collect())
}

const SHOPIFY_ROWS: &str = "WITH r AS (
  SELECT y.{key} AS k, y.{sid} AS id FROM {sk} y
   WHERE y.{key} > $1::text AND y.{key} <= $2::text AND {eligible_s}
), a AS (
  SELECT c.{sid} AS id, COUNT(*) AS n FROM {sk} c WHERE c.{sid} IN (SELECT r.id FROM r) GROUP BY c.{sid}
)
SELECT r.k, r.id, a.n FROM r JOIN a ON a.id = r.id";

/// The eligible Shopify key rows with `after < key <= upto`, with each record's key count.
pub async fn shopify_rows(db: &Db, kind: MatchKind, after: &str, upto: &str) -> R<Vec<ShopifyKeyRow>> {
    let pg = kind.sql(SHOPIFY_ROWS);
    let decode = |key, id, key_count| ShopifyKeyRow { key, id, key_count };
    Ok(match db {
        Db::Sqlite(pool) => sqlx::query_as::<_, (String, String, i64)>(&sqlite(&pg))
            .bind(after)
            .bind(upto)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|(k, i, c)| decode(k, i, c))
            .collect(),
        Db::Postgres(pool) => sqlx::query_as::<_, (String, String, i64)>(&pg)
            .persistent(false)
            .bind(after)
            .bind(upto)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|(k, i, c)| decode(k, i, c))
            .collect(),
    })
}

/// The pairs first (`x`: materialised, so PostgreSQL cannot test eligibility on the whole
/// other key table before the join), then a holder kept only when eligible.
const NHANH_HOODS: &str = "WITH y AS MATERIALIZED (
  SELECT x.{nid} AS n, x.{key} AS k, s.{sid} FROM {nk} x LEFT JOIN {sk} s ON s.{key} = x.{key} WHERE x.{nid} {ids}
)
SELECT y.n, y.k, CASE WHEN {eligible_s} THEN y.{sid} END FROM y ORDER BY y.n, y.k";

/// Every key of the Nhanh records `ids`, in key order, with the eligible Shopify records
/// holding it.
pub async fn nhanh_neighbourhoods(
    db: &Db,
    kind: MatchKind,
    ids: &[i64],
) -> R<HashMap<i64, Vec<(String, Vec<String>)>>> {
    let mut rows: Vec<(i64, String, Option<String>)> = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            for chunk in ids.chunks(IN_CHUNK) {
                let sql = kind.sql(&NHANH_HOODS.replace("{ids}", &format!("IN ({})", placeholders(chunk.len()))));
                let mut q = sqlx::query_as::<_, (i64, String, Option<String>)>(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                rows.extend(q.fetch_all(pool).await?);
            }
        }
        Db::Postgres(pool) => {
            if !ids.is_empty() {
                let sql = kind.sql(&NHANH_HOODS.replace("{ids}", "= ANY($1::bigint[])"));
                rows = sqlx::query_as(&sql).persistent(false).bind(ids).fetch_all(pool).await?;
            }
        }
    }
    Ok(group(rows))
}

/// As [`NHANH_HOODS`], the other way round.
const SHOPIFY_HOODS: &str = "WITH x AS MATERIALIZED (
  SELECT y.{sid} AS s, y.{key} AS k, n.{nid} FROM {sk} y LEFT JOIN {nk} n ON n.{key} = y.{key} WHERE y.{sid} {ids}
)
SELECT x.s, x.k, CASE WHEN {eligible_n} THEN x.{nid} END FROM x ORDER BY x.s, x.k";

/// Every key of the Shopify records `ids`, in key order, with the eligible Nhanh records
/// holding it.
pub async fn shopify_neighbourhoods(
    db: &Db,
    kind: MatchKind,
    ids: &[String],
) -> R<HashMap<String, Vec<(String, Vec<i64>)>>> {
    let mut rows: Vec<(String, String, Option<i64>)> = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            for chunk in ids.chunks(IN_CHUNK) {
                let sql = kind.sql(&SHOPIFY_HOODS.replace("{ids}", &format!("IN ({})", placeholders(chunk.len()))));
                let mut q = sqlx::query_as::<_, (String, String, Option<i64>)>(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                rows.extend(q.fetch_all(pool).await?);
            }
        }
        Db::Postgres(pool) => {
            if !ids.is_empty() {
                let sql = kind.sql(&SHOPIFY_HOODS.replace("{ids}", "= ANY($1::text[])"));
                rows = sqlx::query_as(&sql).persistent(false).bind(ids).fetch_all(pool).await?;
            }
        }
    }
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

/// How many eligible Nhanh records hold at least one key: the job's `total`.
pub async fn count_candidates(db: &Db, kind: MatchKind) -> R<i64> {
    let pg = kind.sql("SELECT COUNT(DISTINCT x.{nid}) FROM {nk} x WHERE {eligible_n}");
    match db {
        Db::Sqlite(pool) => sqlx::query_scalar(&pg).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(&pg).fetch_one(pool).await,
    }
}

/// The upper bound of the next batch of `batch` Nhanh key rows after `after` (inclusive, so a
/// key's holders are never split), or `None` when no key is left.
pub async fn next_boundary(db: &Db, kind: MatchKind, after: &str, batch: i64) -> R<Option<String>> {
    let nth = kind.sql("SELECT {key} FROM {nk} WHERE {key} > $1::text ORDER BY {key} LIMIT 1 OFFSET $2::bigint");
    let last = kind.sql("SELECT MAX({key}) FROM {nk} WHERE {key} > $1::text");
    let offset = (batch - 1).max(0);
    match db {
        Db::Sqlite(pool) => {
            let b: Option<String> =
                sqlx::query_scalar(&sqlite(&nth)).bind(after).bind(offset).fetch_optional(pool).await?;
            match b {
                Some(b) => Ok(Some(b)),
                None => sqlx::query_scalar(&sqlite(&last)).bind(after).fetch_one(pool).await,
            }
        }
        Db::Postgres(pool) => {
            let b: Option<String> =
                sqlx::query_scalar(&nth).persistent(false).bind(after).bind(offset).fetch_optional(pool).await?;
            match b {
                Some(b) => Ok(Some(b)),
                None => sqlx::query_scalar(&last).persistent(false).bind(after).fetch_one(pool).await,
            }
        }
    }
}

/// Non-manual mappings whose Nhanh record is removed or holds no key (what
/// [`PruneStaleMappings`](super::PruneStaleMappings) deletes).
pub async fn stale_mapping_count(db: &Db, kind: MatchKind) -> R<i64> {
    let pg = kind.sql(
        "SELECT COUNT(*) FROM {map} m WHERE m.method <> 'manual' AND NOT EXISTS
           (SELECT 1 FROM {nk} x JOIN {nt} r ON r.id = x.{nid} WHERE x.{nid} = m.{map_n} AND r.removed_at IS NULL)",
    );
    match db {
        Db::Sqlite(pool) => sqlx::query_scalar(&pg).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(&pg).fetch_one(pool).await,
    }
}

/// A mapping as stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MappingRow {
    /// The Nhanh record.
    pub nhanh_id: i64,
    /// The Shopify record.
    pub shopify_id: Option<String>,
    /// `sku`, `barcode`, `phone` or `manual`.
    pub method: String,
    /// The key it was matched on.
    pub match_key: Option<String>,
    /// The job that made it.
    pub job_id: Option<String>,
    /// `PENDING`, `SYNCED`, `FAILED`.
    pub state: String,
}

/// Every mapping of `kind`, by Nhanh id.
pub async fn list_mappings(db: &Db, kind: MatchKind) -> R<Vec<MappingRow>> {
    let sql =
        kind.sql("SELECT {map_n}, {map_s}, method, match_key, CAST(job_id AS TEXT), state FROM {map} ORDER BY {map_n}");
    type Raw = (i64, Option<String>, String, Option<String>, Option<String>, String);
    let raw: Vec<Raw> = match db {
        Db::Sqlite(pool) => sqlx::query_as(&sql).fetch_all(pool).await?,
        Db::Postgres(pool) => sqlx::query_as(&sql).fetch_all(pool).await?,
    };
    Ok(raw
        .into_iter()
        .map(|(nhanh_id, shopify_id, method, match_key, job_id, state)| MappingRow {
            nhanh_id,
            shopify_id,
            method,
            match_key,
            job_id,
            state,
        })
        .collect())
}

/// A recorded conflict.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConflictRow {
    /// The key.
    pub key: String,
    /// Nhanh candidates.
    pub nhanh_ids: Vec<i64>,
    /// Shopify candidates.
    pub shopify_ids: Vec<String>,
    /// The job that found it.
    pub job_id: String,
}

/// Every conflict of `kind`, by key.
pub async fn list_conflicts(db: &Db, kind: MatchKind) -> R<Vec<ConflictRow>> {
    let raw: Vec<(String, String, String, String)> = match db {
        Db::Sqlite(pool) => sqlx::query_as(
            "SELECT match_key, nhanh_ids, shopify_ids, job_id FROM match_conflicts WHERE kind = ? ORDER BY match_key",
        )
        .bind(kind.as_str())
        .fetch_all(pool)
        .await?,
        Db::Postgres(pool) => {
            sqlx::query_as(
                "SELECT match_key, nhanh_ids::text, shopify_ids::text, job_id::text FROM match_conflicts
                  WHERE kind = $1 ORDER BY match_key COLLATE \"C\"",
            )
            .bind(kind.as_str())
            .fetch_all(pool)
            .await?
        }
    };
    raw.into_iter()
        .map(|(key, n, s, job_id)| {
            let bad = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
            Ok(ConflictRow {
                key,
                nhanh_ids: serde_json::from_str(&n).map_err(bad)?,
                shopify_ids: serde_json::from_str(&s).map_err(bad)?,
                job_id,
            })
        })
        .collect()
}

/// The baseline the benchmark measures matching against: one bare join of the two key tables,
/// every row fetched. Returns the number of rows.
pub async fn bare_key_join(db: &Db, kind: MatchKind) -> R<i64> {
    use futures::TryStreamExt;
    let sql = kind.sql("SELECT x.{nid}, y.{sid}, x.{key} FROM {nk} x JOIN {sk} y ON y.{key} = x.{key}");
    let mut n = 0i64;
    match db {
        Db::Sqlite(pool) => {
            let mut rows = sqlx::query_as::<_, (i64, String, String)>(&sql).fetch(pool);
            while rows.try_next().await?.is_some() {
                n += 1;
            }
        }
        Db::Postgres(pool) => {
            let mut rows = sqlx::query_as::<_, (i64, String, String)>(&sql).fetch(pool);
            while rows.try_next().await?.is_some() {
                n += 1;
            }
        }
    }
    Ok(n)
}
