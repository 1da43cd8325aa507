//! The `sql` strategy's queries: the join of the two key tables grouped by key (the conflicts
//! and 1:1 keys of a range) and grouped by record (each record's candidates), all in the
//! database. The matching rule is the one of [`crate::matching::decide`].

use std::collections::HashMap;

use dongbo_engine::Db;

use super::tables::{placeholders, sqlite, MatchKind};
use super::R;
use crate::matching::decide::Considered;

/// SQLite `IN` lists are cut to this many ids.
const IN_CHUNK: usize = 500;

/// The eligible holders of one key present on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGroup {
    /// The key.
    pub key: String,
    /// Nhanh holders.
    pub nhanh_ids: Vec<i64>,
    /// Shopify holders.
    pub shopify_ids: Vec<String>,
}

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

/// The range's rows (`r`), then the smallest key of just those records (`a`), one grouped pass
/// instead of a correlated subquery per row.
const CONSIDERED: &str = "WITH r AS (
  SELECT x.{key} AS k, x.{nid} AS id FROM {nk} x
   WHERE x.{key} > $1::text AND x.{key} <= $2::text AND {eligible_n}
), a AS (
  SELECT c.{nid} AS id, MIN(c.{key}) AS lo FROM {nk} c WHERE c.{nid} IN (SELECT r.id FROM r) GROUP BY c.{nid}
)
SELECT r.id, m.{map_s}
  FROM r JOIN a ON a.id = r.id AND a.lo = r.k LEFT JOIN {map} m ON m.{map_n} = r.id
 ORDER BY r.k, r.id";

/// The eligible Nhanh records whose smallest key is in `after < key <= upto`, with their
/// existing mapping.
pub async fn considered_in_range(db: &Db, kind: MatchKind, after: &str, upto: &str) -> R<Vec<Considered>> {
    let pg = kind.sql(CONSIDERED);
    let raw: Vec<(i64, Option<String>)> = match db {
        Db::Sqlite(pool) => sqlx::query_as(&sqlite(&pg)).bind(after).bind(upto).fetch_all(pool).await?,
        Db::Postgres(pool) => sqlx::query_as(&pg).persistent(false).bind(after).bind(upto).fetch_all(pool).await?,
    };
    Ok(raw.into_iter().map(|(nhanh_id, existing)| Considered { nhanh_id, existing }).collect())
}

const GROUPS_SQLITE: &str = "SELECT x.{key}, group_concat(DISTINCT x.{nid}), group_concat(DISTINCT y.{sid})
  FROM {nk} x JOIN {sk} y ON y.{key} = x.{key}
 WHERE x.{key} > ?1 AND x.{key} <= ?2 AND {eligible_n} AND {eligible_s}
 GROUP BY x.{key}";

const GROUPS_PG: &str = "SELECT x.{key}, string_agg(DISTINCT x.{nid}::text, ','), string_agg(DISTINCT y.{sid}, ',')
  FROM {nk} x JOIN {sk} y ON y.{key} = x.{key}
 WHERE x.{key} > $1::text AND x.{key} <= $2::text AND {eligible_n} AND {eligible_s}
 GROUP BY x.{key}";

/// The keys of `after < key <= upto` held by eligible records on both sides, with the holders:
/// one join of the two key tables, grouped by key.
pub async fn key_groups_in_range(db: &Db, kind: MatchKind, after: &str, upto: &str) -> R<Vec<KeyGroup>> {
    let raw: Vec<(String, String, String)> = match db {
        Db::Sqlite(pool) => sqlx::query_as(&kind.sql(GROUPS_SQLITE)).bind(after).bind(upto).fetch_all(pool).await?,
        Db::Postgres(pool) => {
            sqlx::query_as(&kind.sql(GROUPS_PG)).persistent(false).bind(after).bind(upto).fetch_all(pool).await?
        }
    };
    raw.into_iter()
        .map(|(key, n, s)| {
            let nhanh_ids = n
                .split(',')
                .map(|id| id.parse::<i64>().map_err(|e| sqlx::Error::Decode(Box::new(e))))
                .collect::<R<Vec<i64>>>()?;
            let shopify_ids = s.split(',').map(str::to_owned).collect();
            Ok(KeyGroup { key, nhanh_ids, shopify_ids })
        })
        .collect()
}

/// The pairs first (`y`: materialised, so PostgreSQL cannot test eligibility on the whole
/// Shopify key table before the join), then eligibility on just those pairs.
const NHANH_PARTNERS: &str = "WITH y AS MATERIALIZED (
  SELECT x.{nid} AS n, x.{key} AS k, s.{sid} FROM {nk} x JOIN {sk} s ON s.{key} = x.{key} WHERE x.{nid} {ids}
)
SELECT y.n, COUNT(DISTINCT y.{sid}), MIN(y.{sid}), MIN(y.k) FROM y WHERE {eligible_s} GROUP BY y.n";

/// For each Nhanh record of `ids` with a candidate: its eligible Shopify candidates, counted.
pub async fn nhanh_partners(db: &Db, kind: MatchKind, ids: &[i64]) -> R<HashMap<i64, Partners<String>>> {
    let mut raw: Vec<(i64, i64, String, String)> = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            for chunk in ids.chunks(IN_CHUNK) {
                let sql = kind.sql(&NHANH_PARTNERS.replace("{ids}", &format!("IN ({})", placeholders(chunk.len()))));
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                raw.extend(q.fetch_all(pool).await?);
            }
        }
        Db::Postgres(pool) => {
            if !ids.is_empty() {
                let sql = kind.sql(&NHANH_PARTNERS.replace("{ids}", "= ANY($1::bigint[])"));
                raw = sqlx::query_as(&sql).persistent(false).bind(ids).fetch_all(pool).await?;
            }
        }
    }
    Ok(raw.into_iter().map(|(id, count, one, key)| (id, Partners { count, one, key })).collect())
}

/// As [`NHANH_PARTNERS`], the other way round.
const SHOPIFY_PARTNERS: &str = "WITH x AS MATERIALIZED (
  SELECT y.{sid} AS s, y.{key} AS k, n.{nid} FROM {sk} y JOIN {nk} n ON n.{key} = y.{key} WHERE y.{sid} {ids}
)
SELECT x.s, COUNT(DISTINCT x.{nid}), MIN(x.{nid}), MIN(x.k) FROM x WHERE {eligible_n} GROUP BY x.s";

/// For each Shopify record of `ids` with a candidate: its eligible Nhanh candidates, counted.
pub async fn shopify_partners(db: &Db, kind: MatchKind, ids: &[String]) -> R<HashMap<String, Partners<i64>>> {
    let mut raw: Vec<(String, i64, i64, String)> = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            for chunk in ids.chunks(IN_CHUNK) {
                let sql = kind.sql(&SHOPIFY_PARTNERS.replace("{ids}", &format!("IN ({})", placeholders(chunk.len()))));
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                raw.extend(q.fetch_all(pool).await?);
            }
        }
        Db::Postgres(pool) => {
            if !ids.is_empty() {
                let sql = kind.sql(&SHOPIFY_PARTNERS.replace("{ids}", "= ANY($1::text[])"));
                raw = sqlx::query_as(&sql).persistent(false).bind(ids).fetch_all(pool).await?;
            }
        }
    }
    Ok(raw.into_iter().map(|(id, count, one, key)| (id, Partners { count, one, key })).collect())
}
