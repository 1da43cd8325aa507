//! The writes of a match step, applied in the step's transaction.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use super::listings::STALE;
use super::tables::{sqlite, MatchKind};
use crate::matching::decide::Conflict;

/// A mapping to create or repoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingWrite {
    /// The Nhanh record.
    pub nhanh_id: i64,
    /// The Shopify record.
    pub shopify_id: String,
    /// `sku`, `barcode` or `phone`.
    pub method: String,
    /// The key (`sku:…`, `barcode:…`, or an E.164 number).
    pub key: String,
}

/// One batch's writes: mappings upserted by Nhanh id (a mapping to the same Shopify record is
/// left untouched, state and all; a different one is replaced and becomes `PENDING`, and the
/// sync failures recorded against its old pairing go; a manual one is never touched), stale
/// non-manual mappings deleted with their sync failures, conflicts upserted by key.
#[derive(Debug, Clone)]
pub struct MatchWrites {
    /// What is matched.
    pub kind: MatchKind,
    /// The match job.
    pub job: JobId,
    /// Now, unix milliseconds.
    pub now_ms: i64,
    /// Mappings to create or repoint.
    pub upserts: Vec<MappingWrite>,
    /// Nhanh records whose non-manual mapping no longer holds.
    pub deletes: Vec<i64>,
    /// Conflicts found.
    pub conflicts: Vec<Conflict>,
}

/// The mappings as one JSON parameter (`[[nhanh, shopify, method, key], …]`), read with
/// `json_each`: one statement for a whole batch (`WHERE true` lets SQLite tell the upsert's
/// `ON CONFLICT` from a join's `ON`).
const UPSERT_SQLITE: &str = "INSERT INTO {map} ({map_n}, {map_s}, method, match_key, job_id, state, updated_at)
 SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, ?2, 'PENDING', ?3 FROM json_each(?1) j WHERE true
 ON CONFLICT ({map_n}) DO UPDATE SET {map_s} = excluded.{map_s}, method = excluded.method,
   match_key = excluded.match_key, job_id = excluded.job_id, state = 'PENDING', last_error = NULL,
   synced_value = NULL, synced_at = NULL, updated_at = excluded.updated_at
 WHERE {map}.method <> 'manual' AND {map}.{map_s} IS NOT excluded.{map_s}";

const UPSERT_PG: &str = "INSERT INTO {map} ({map_n}, {map_s}, method, match_key, job_id, state, updated_at)
 SELECT t.n, t.s, t.m, t.k, $5::uuid, 'PENDING', $6::bigint
   FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[]) AS t(n, s, m, k)
 ON CONFLICT ({map_n}) DO UPDATE SET {map_s} = EXCLUDED.{map_s}, method = EXCLUDED.method,
   match_key = EXCLUDED.match_key, job_id = EXCLUDED.job_id, state = 'PENDING', last_error = NULL,
   synced_value = NULL, synced_at = NULL, updated_at = EXCLUDED.updated_at
 WHERE {map}.method <> 'manual' AND {map}.{map_s} IS DISTINCT FROM EXCLUDED.{map_s}";

const CONFLICTS_PG: &str = "INSERT INTO match_conflicts (kind, match_key, nhanh_ids, shopify_ids, job_id, detected_at)
 SELECT $1, t.k, t.n::jsonb, t.s::jsonb, $5::uuid, $6::bigint
   FROM UNNEST($2::text[], $3::text[], $4::text[]) AS t(k, n, s)
 ON CONFLICT (kind, match_key) DO UPDATE SET nhanh_ids = EXCLUDED.nhanh_ids, shopify_ids = EXCLUDED.shopify_ids,
   job_id = EXCLUDED.job_id, detected_at = EXCLUDED.detected_at";

/// The conflicts as one JSON parameter (`[[key, [nhanh…], [shopify…]], …]`).
const CONFLICTS_SQLITE: &str =
    "INSERT INTO match_conflicts (kind, match_key, nhanh_ids, shopify_ids, job_id, detected_at)
 SELECT ?2, j.value ->> 0, j.value -> 1, j.value -> 2, ?3, ?4 FROM json_each(?1) j WHERE true
 ON CONFLICT (kind, match_key) DO UPDATE SET nhanh_ids = excluded.nhanh_ids,
   shopify_ids = excluded.shopify_ids, job_id = excluded.job_id, detected_at = excluded.detected_at";

/// The statement that deletes the sync failures recorded against the mappings `m` of `kind`
/// meeting `condition` (one parameter, the ids; a failure names its mapping by id).
fn failures_of(kind: MatchKind, condition: &str) -> String {
    kind.sql(&format!(
        "DELETE FROM sync_failures WHERE kind = '{}' AND mapping_id IN (SELECT m.id FROM {{map}} AS m WHERE {condition})",
        kind.as_str()
    ))
}

/// The statements that delete the mappings `m` of `kind` meeting `condition` (one parameter,
/// the ids): first their sync failures (a deleted mapping has nothing left to retry), then the
/// mappings.
fn deleting(kind: MatchKind, condition: &str) -> [String; 2] {
    [failures_of(kind, condition), kind.sql(&format!("DELETE FROM {{map}} AS m WHERE {condition}"))]
}

/// Of the mappings `m` whose Nhanh ids are the parameter, those a batch repoints: every
/// upserted mapping that exists already is one (an unchanged mapping is not upserted), and a
/// manual one is never touched. Their failures are looked for only when the kind has any
/// ([`ANY_FAILURE`]): the lookup costs a probe per upserted mapping, and failures are rare.
const REPOINTED_SQLITE: &str = "m.method <> 'manual' AND m.{map_n} IN (SELECT j.value ->> 0 FROM json_each(?1) j)";
const REPOINTED_PG: &str = "m.method <> 'manual' AND m.{map_n} = ANY($1::bigint[])";

/// Whether any sync failure of a kind (the parameter) is recorded.
const ANY_FAILURE: &str = "SELECT EXISTS (SELECT 1 FROM sync_failures WHERE kind = $1)";

fn json_ids<T: serde::Serialize>(ids: &[T]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

#[async_trait]
impl StepEffects for MatchWrites {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        let k = self.kind;
        match tx {
            StoreTx::Sqlite(conn) => {
                let job = self.job.to_string();
                if !self.upserts.is_empty() {
                    let rows: Vec<(i64, &str, &str, &str)> = self
                        .upserts
                        .iter()
                        .map(|m| (m.nhanh_id, m.shopify_id.as_str(), m.method.as_str(), m.key.as_str()))
                        .collect();
                    let rows = json_ids(&rows);
                    if sqlx::query_scalar(&sqlite(ANY_FAILURE)).bind(k.as_str()).fetch_one(&mut *conn).await? {
                        sqlx::query(&failures_of(k, REPOINTED_SQLITE)).bind(&rows).execute(&mut *conn).await?;
                    }
                    sqlx::query(&k.sql(UPSERT_SQLITE))
                        .bind(rows)
                        .bind(&job)
                        .bind(self.now_ms)
                        .execute(&mut *conn)
                        .await?;
                }
                if !self.deletes.is_empty() {
                    for sql in deleting(k, "m.method <> 'manual' AND m.{map_n} IN (SELECT value FROM json_each(?1))") {
                        sqlx::query(&sql).bind(json_ids(&self.deletes)).execute(&mut *conn).await?;
                    }
                }
                if !self.conflicts.is_empty() {
                    let rows: Vec<(&str, &[i64], &[String])> =
                        self.conflicts.iter().map(|c| (c.key.as_str(), &c.nhanh_ids[..], &c.shopify_ids[..])).collect();
                    sqlx::query(CONFLICTS_SQLITE)
                        .bind(json_ids(&rows))
                        .bind(k.as_str())
                        .bind(&job)
                        .bind(self.now_ms)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                if !self.upserts.is_empty() {
                    let n: Vec<i64> = self.upserts.iter().map(|m| m.nhanh_id).collect();
                    let s: Vec<&str> = self.upserts.iter().map(|m| m.shopify_id.as_str()).collect();
                    let me: Vec<&str> = self.upserts.iter().map(|m| m.method.as_str()).collect();
                    let ke: Vec<&str> = self.upserts.iter().map(|m| m.key.as_str()).collect();
                    if sqlx::query_scalar(ANY_FAILURE).bind(k.as_str()).fetch_one(&mut *conn).await? {
                        sqlx::query(&failures_of(k, REPOINTED_PG)).bind(&n).execute(&mut *conn).await?;
                    }
                    sqlx::query(&k.sql(UPSERT_PG))
                        .bind(&n)
                        .bind(&s)
                        .bind(&me)
                        .bind(&ke)
                        .bind(self.job.as_uuid())
                        .bind(self.now_ms)
                        .execute(&mut *conn)
                        .await?;
                }
                if !self.deletes.is_empty() {
                    for sql in deleting(k, "m.method <> 'manual' AND m.{map_n} = ANY($1::bigint[])") {
                        sqlx::query(&sql).bind(&self.deletes).execute(&mut *conn).await?;
                    }
                }
                if !self.conflicts.is_empty() {
                    let keys: Vec<&str> = self.conflicts.iter().map(|c| c.key.as_str()).collect();
                    let n: Vec<String> = self.conflicts.iter().map(|c| json_ids(&c.nhanh_ids)).collect();
                    let s: Vec<String> = self.conflicts.iter().map(|c| json_ids(&c.shopify_ids)).collect();
                    sqlx::query(CONFLICTS_PG)
                        .bind(k.as_str())
                        .bind(&keys)
                        .bind(&n)
                        .bind(&s)
                        .bind(self.job.as_uuid())
                        .bind(self.now_ms)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// Forgets the conflicts of `kind` (a new match run records them afresh).
#[derive(Debug, Clone)]
pub struct ClearConflicts {
    /// What is matched.
    pub kind: MatchKind,
}

#[async_trait]
impl StepEffects for ClearConflicts {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        match tx {
            StoreTx::Sqlite(conn) => {
                sqlx::query("DELETE FROM match_conflicts WHERE kind = ?")
                    .bind(self.kind.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
            StoreTx::Postgres(conn) => {
                sqlx::query("DELETE FROM match_conflicts WHERE kind = $1")
                    .bind(self.kind.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Deletes the non-manual mappings of `nhanh_ids` (found by
/// [`stale_mappings`](super::stale_mappings)) that are still stale when the step commits: their
/// Nhanh record was removed or holds no key any more, so no batch considered it and none could
/// confirm its mapping.
#[derive(Debug, Clone)]
pub struct PruneStaleMappings {
    /// What is matched.
    pub kind: MatchKind,
    /// The Nhanh records whose mappings were stale when the step read them.
    pub nhanh_ids: Vec<i64>,
}

#[async_trait]
impl StepEffects for PruneStaleMappings {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        if self.nhanh_ids.is_empty() {
            return Ok(());
        }
        let sql = |ids: &str| deleting(self.kind, &format!("m.{{map_n}} {ids} AND {STALE}"));
        match tx {
            StoreTx::Sqlite(conn) => {
                for sql in sql("IN (SELECT value FROM json_each(?1))") {
                    sqlx::query(&sql).bind(json_ids(&self.nhanh_ids)).execute(&mut *conn).await?;
                }
            }
            StoreTx::Postgres(conn) => {
                for sql in sql("= ANY($1::bigint[])") {
                    sqlx::query(&sql).bind(&self.nhanh_ids).execute(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }
}
