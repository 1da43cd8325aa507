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

const CONSIDERED: &str = "SELECT x.{nid}, m.{map_s}
  FROM {nk} x LEFT JOIN {map} m ON m.{map_n} = x.{nid}
 WHERE x.{key} > $1::text AND x.{key} <= $2::text AND {eligible_n}
   AND x.{key} = (SELECT MIN(c.{key}) FROM {nk} c WHERE c.{nid} = x.{nid})
 ORDER BY x.{key}, x.{nid}";

/// The eligible Nhanh records whose smallest key is in `after < key <= upto`, with their
/// existing mapping.
pub async fn considered_in_range(db: &Db, kind: MatchKind, after: &str, upto: &str) -> R<Vec<Considered>> {
    let pg = kind.sql(CONSIDERED);
    let raw: Vec<(i64, Option<String>)> = match db {
        Db::Sqlite(pool) => sqlx::query_as(&sqlite(&pg)).bind(after).bind(upto).fetch_all(pool).await?,
        Db::Postgres(pool) => sqlx::query_as(&pg).bind(after).bind(upto).fetch_all(pool).await?,
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
        Db::Postgres(pool) => sqlx::query_as(&kind.sql(GROUPS_PG)).bind(after).bind(upto).fetch_all(pool).await?,
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

const NHANH_PARTNERS: &str = "SELECT x.{nid}, COUNT(DISTINCT y.{sid}), MIN(y.{sid}), MIN(x.{key})
  FROM {nk} x JOIN {sk} y ON y.{key} = x.{key} AND {eligible_s}
 WHERE x.{nid} {ids}
 GROUP BY x.{nid}";

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
                raw = sqlx::query_as(&sql).bind(ids).fetch_all(pool).await?;
            }
        }
    }
    Ok(raw.into_iter().map(|(id, count, one, key)| (id, Partners { count, one, key })).collect())
}

const SHOPIFY_PARTNERS: &str = "SELECT y.{sid}, COUNT(DISTINCT x.{nid}), MIN(x.{nid}), MIN(y.{key})
  FROM {sk} y JOIN {nk} x ON x.{key} = y.{key} AND {eligible_n}
 WHERE y.{sid} {ids}
 GROUP BY y.{sid}";

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
                raw = sqlx::query_as(&sql).bind(ids).fetch_all(pool).await?;
            }
        }
    }
    Ok(raw.into_iter().map(|(id, count, one, key)| (id, Partners { count, one, key })).collect())
}
