//! Listings of what matching wrote (mappings, conflicts), the stale mappings the prune step
//! deletes, and the benchmark's baseline join.

use dongbo_engine::{Db, JobId};

use super::tables::MatchKind;
use super::R;
use crate::catalog::store::dialect::on_db;

/// `m` (a mapping) is stale: its Nhanh record is removed or holds no key any more — it has no
/// key row, since a removed record keeps none (see `ELIGIBLE_N`).
pub(super) const STALE: &str = "m.method <> 'manual' AND NOT EXISTS (SELECT 1 FROM {nk} x WHERE x.{nid} = m.{map_n})";

/// The Nhanh records of the non-manual mappings that are stale (what
/// [`PruneStaleMappings`](super::PruneStaleMappings) deletes): one pass over the mappings, so
/// that the prune step deletes just these instead of passing over them all again.
pub async fn stale_mappings(db: &Db, kind: MatchKind) -> R<Vec<i64>> {
    let sql = kind.sql(&format!("SELECT m.{{map_n}} FROM {{map}} m WHERE {STALE} ORDER BY m.{{map_n}}"));
    on_db!(db, |pool, d| sqlx::query_scalar(&sql).fetch_all(pool).await)
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
    mappings_page(db, kind, None, i64::MAX).await
}

/// The mappings of `kind` by Nhanh id: at most `limit` of those after the Nhanh id `after`.
pub async fn mappings_page(db: &Db, kind: MatchKind, after: Option<i64>, limit: i64) -> R<Vec<MappingRow>> {
    let sql = kind.sql(
        "SELECT {map_n}, {map_s}, method, match_key, CAST(job_id AS TEXT), state FROM {map}
          WHERE {map_n} > $1 ORDER BY {map_n} LIMIT $2",
    );
    type Raw = (i64, Option<String>, String, Option<String>, Option<String>, String);
    let after = after.unwrap_or(i64::MIN);
    let raw: Vec<Raw> = on_db!(db, |pool, d| sqlx::query_as(&sql).bind(after).bind(limit).fetch_all(pool).await?);
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
    conflicts_page(db, kind, None, i64::MAX).await
}

/// The conflicts of `kind` by key (byte order on both stores): at most `limit` of those after
/// the key `after`.
pub async fn conflicts_page(db: &Db, kind: MatchKind, after: Option<&str>, limit: i64) -> R<Vec<ConflictRow>> {
    let raw: Vec<(String, String, String, String)> = on_db!(db, |pool, d| {
        let key = d.bytewise("match_key");
        let sql = format!(
            "SELECT match_key, CAST(nhanh_ids AS TEXT), CAST(shopify_ids AS TEXT), CAST(job_id AS TEXT)
               FROM match_conflicts WHERE kind = $1 AND (CAST($2 AS TEXT) IS NULL OR {key} > $2)
              ORDER BY {key} LIMIT $3"
        );
        sqlx::query_as(&sql).bind(kind.as_str()).bind(after).bind(limit).fetch_all(pool).await?
    });
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
    on_db!(db, |pool, d| {
        let mut rows = sqlx::query_as::<_, (i64, String, String)>(&sql).fetch(pool);
        while rows.try_next().await?.is_some() {
            n += 1;
        }
    });
    Ok(n)
}

/// The job the floor's audit rows are filed under: no job has this id (the nil UUID).
fn floor_job() -> JobId {
    JobId::from(uuid::Uuid::nil())
}

/// Settles a catalog written in seconds as the hours after real pulls do: SQLite's write-ahead
/// log folded into the database file, PostgreSQL's planner statistics gathered (autovacuum's
/// work). For the benchmark, before it measures.
pub async fn settle(db: &Db) -> R<()> {
    on_db!(db, |pool, d| {
        let sql = if d.postgres() { "ANALYZE" } else { "PRAGMA wal_checkpoint(TRUNCATE)" };
        sqlx::query(sql).execute(pool).await?;
    });
    Ok(())
}

/// Forgets every mapping and conflict of `kind`, so that the next match writes them all again,
/// as a first match does. For the benchmark only, on a scratch database (it runs a match
/// several times and counts the median): PostgreSQL's mapping table is truncated, as the
/// floor's table is, so no run finds the dead rows of the one before in its indexes.
pub async fn forget_matches(db: &Db, kind: MatchKind) -> R<()> {
    let map = kind.sql("{map}");
    on_db!(db, |pool, d| {
        let empty = if d.postgres() { "TRUNCATE" } else { "DELETE FROM" };
        sqlx::query(&format!("{empty} {map}")).execute(pool).await?;
        sqlx::query("DELETE FROM match_conflicts WHERE kind = $1").bind(kind.as_str()).execute(pool).await?;
        let settle = if d.postgres() { format!("ANALYZE {map}") } else { "PRAGMA wal_checkpoint(TRUNCATE)".into() };
        sqlx::query(&settle).execute(pool).await?;
    });
    Ok(())
}

/// Where [`key_join_written`] writes the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinFloor {
    /// A copy of the mapping table: same columns, same indexes (`{map}_join_floor`).
    MappingCopy,
    /// The least any store of mappings needs: a table keyed by the Nhanh id alone, holding the
    /// Shopify id and the key, no other index (`{map}_join_keyed`).
    KeyedOnly,
    /// The floor of any job that stores its decisions: [`JoinFloor::KeyedOnly`], plus one row
    /// per mapping written in the engine's audit index (`event_entities`, under a made-up job
    /// and position, removed before the next run), as a match step files each mapping it
    /// writes.
    KeyedWithAudit,
    /// [`JoinFloor::KeyedWithAudit`] with the matching rule applied in the database: only the
    /// pairs of records that are each other's sole candidate are written ([`DECIDED`]). What the
    /// cheapest job that decides, all in SQL and without its engine, must do; for the benchmark's
    /// information (eligibility aside, as in the other floors: no record is mapped by hand).
    DecidedWithAudit,
}

/// The matching rule in SQL, for [`JoinFloor::DecidedWithAudit`], into `{table}` (`n`, `s`, `k`):
/// first the pairs of a key held by one record a side, each holding no other key (most of a
/// catalog: a join and two probes of the key indexes per row); then, for the other records, their
/// candidates over all their keys counted (window counts over the distinct linked pairs, no
/// self-join for a planner to misjudge), a pair written when each is the other's only one.
const DECIDED: [&str; 2] = [
    "INSERT INTO {table} (n, s, k)
     SELECT x.{nid}, y.{sid}, x.{key} FROM {nk} x JOIN {sk} y ON y.{key} = x.{key}
      WHERE x.key_count = 1 AND y.key_count = 1
        AND NOT EXISTS (SELECT 1 FROM {nk} x2 WHERE x2.{key} = x.{key} AND x2.{nid} <> x.{nid})
        AND NOT EXISTS (SELECT 1 FROM {sk} y2 WHERE y2.{key} = y.{key} AND y2.{sid} <> y.{sid})
     ON CONFLICT (n) DO NOTHING",
    "INSERT INTO {table} (n, s, k)
     WITH shared AS (
       SELECT {key} AS k FROM {nk} GROUP BY {key} HAVING COUNT(*) > 1
       UNION SELECT {key} FROM {sk} GROUP BY {key} HAVING COUNT(*) > 1),
     rest AS (
       SELECT x.{nid} AS n, y.{sid} AS s FROM {nk} x JOIN {sk} y ON y.{key} = x.{key}
        WHERE x.key_count > 1 OR y.key_count > 1 OR x.{key} IN (SELECT k FROM shared)),
     pairs AS (
       SELECT x.{nid} AS n, y.{sid} AS s, x.{key} AS k FROM {nk} x JOIN {sk} y ON y.{key} = x.{key}
        WHERE x.{nid} IN (SELECT n FROM rest)
       UNION
       SELECT x.{nid}, y.{sid}, x.{key} FROM {nk} x JOIN {sk} y ON y.{key} = x.{key}
        WHERE y.{sid} IN (SELECT s FROM rest)),
     linked AS (SELECT n, s, MIN(k) AS k FROM pairs GROUP BY n, s)
     SELECT n, s, k FROM (
       SELECT n, s, k, COUNT(*) OVER (PARTITION BY n) AS of_n, COUNT(*) OVER (PARTITION BY s) AS of_s FROM linked
     ) c WHERE of_n = 1 AND of_s = 1
     ON CONFLICT (n) DO NOTHING",
];

/// The floor of a job that must write what it decides: the same bare join, its rows written
/// in one statement into `floor`'s table, emptied first, a key pair per Nhanh record (the
/// first one wins). For the benchmark only, on a scratch database: it creates the table.
/// Returns the rows written and how long the insert took (not the table's creation or
/// emptying).
pub async fn key_join_written(db: &Db, kind: MatchKind, floor: JoinFloor) -> R<(u64, std::time::Duration)> {
    let (table, columns, values, unique) = match floor {
        JoinFloor::MappingCopy => (
            kind.sql("{map}_join_floor"),
            kind.sql("{map_n}, {map_s}, method, match_key, job_id, state, updated_at"),
            kind.sql("x.{nid}, y.{sid}, 'join', x.{key}, NULL, 'PENDING', 0"),
            kind.sql("{map_n}"),
        ),
        JoinFloor::KeyedOnly | JoinFloor::KeyedWithAudit | JoinFloor::DecidedWithAudit => {
            (kind.sql("{map}_join_keyed"), "n, s, k".into(), kind.sql("x.{nid}, y.{sid}, x.{key}"), "n".into())
        }
    };
    let entity = match kind {
        MatchKind::Customers => "nhanh_customer",
        MatchKind::Products => "nhanh_product",
    };
    let inserts: Vec<String> = match floor {
        JoinFloor::DecidedWithAudit => DECIDED.iter().map(|sql| kind.sql(&sql.replace("{table}", &table))).collect(),
        _ => vec![kind.sql(&format!(
            "INSERT INTO {table} ({columns}) SELECT {values} FROM {{nk}} x JOIN {{sk}} y ON y.{{key}} = x.{{key}} WHERE true
             ON CONFLICT ({unique}) DO NOTHING"
        ))],
    };
    let map = kind.sql("{map}");
    on_db!(db, |pool, d| {
        let mut conn = pool.acquire().await?;
        // The floor's table, made once per scratch database: a copy of the mapping table's
        // definition (its DDL read from each backend's own catalog) or the keyed-only table.
        let ddl: Vec<String> = match (floor, d.postgres()) {
            (JoinFloor::MappingCopy, true) => {
                vec![format!("CREATE TABLE IF NOT EXISTS {table} (LIKE {map} INCLUDING ALL)")]
            }
            (JoinFloor::MappingCopy, false) => sqlx::query_scalar::<_, String>(
                "SELECT sql FROM sqlite_master WHERE tbl_name = $1 AND sql IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = $2) ORDER BY type DESC",
            )
            .bind(&map)
            .bind(&table)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|statement| statement.replace(&map, &table))
            .collect(),
            // SQLite's `INTEGER PRIMARY KEY` is the rowid itself: no index beside the table.
            (JoinFloor::KeyedOnly | JoinFloor::KeyedWithAudit | JoinFloor::DecidedWithAudit, pg) => {
                let id = if pg { "BIGINT" } else { "INTEGER" };
                vec![format!("CREATE TABLE IF NOT EXISTS {table} (n {id} PRIMARY KEY, s TEXT, k TEXT)")]
            }
        };
        for statement in ddl {
            sqlx::query(&statement).execute(&mut *conn).await?;
        }
        let empty = if d.postgres() { "TRUNCATE" } else { "DELETE FROM" };
        sqlx::query(&format!("{empty} {table}")).execute(&mut *conn).await?;
        let job = || d.job(floor_job());
        let audit = matches!(floor, JoinFloor::KeyedWithAudit | JoinFloor::DecidedWithAudit);
        let t = std::time::Instant::now();
        let mut rows = 0;
        for insert in &inserts {
            rows += sqlx::query(insert).execute(&mut *conn).await?.rows_affected();
        }
        if audit {
            // One audit row per mapping written, as the engine files a step's touched records.
            sqlx::query(&format!(
                "INSERT INTO event_entities (position, job_id, entity_key, action)
                 SELECT 0, $1, '{entity}:' || CAST(n AS TEXT), 'mapped:created' FROM {table}"
            ))
            .bind(job())
            .execute(&mut *conn)
            .await?;
        }
        let took = t.elapsed();
        if audit {
            // Gone again, so that what is measured next does not find them in the index.
            sqlx::query("DELETE FROM event_entities WHERE job_id = $1").bind(job()).execute(&mut *conn).await?;
        }
        Ok((rows, took))
    })
}
