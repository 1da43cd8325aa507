//! The writes of a match step, applied in the step's transaction.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use super::tables::{placeholders, MatchKind};
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
/// left untouched, state and all; a different one is replaced and becomes `PENDING`; a manual
/// one is never touched), stale non-manual mappings deleted, conflicts upserted by key.
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

const UPSERT_TAIL_SQLITE: &str =
    " ON CONFLICT ({map_n}) DO UPDATE SET {map_s} = excluded.{map_s}, method = excluded.method,
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

const CONFLICTS_TAIL_SQLITE: &str = " ON CONFLICT (kind, match_key) DO UPDATE SET nhanh_ids = excluded.nhanh_ids,
   shopify_ids = excluded.shopify_ids, job_id = excluded.job_id, detected_at = excluded.detected_at";

/// Rows per multi-row `INSERT` on SQLite.
const ROWS_PER_INSERT: usize = 100;

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
                for chunk in self.upserts.chunks(ROWS_PER_INSERT) {
                    let values = vec!["(?, ?, ?, ?, ?, 'PENDING', ?)"; chunk.len()].join(", ");
                    let sql = k.sql(&format!(
                        "INSERT INTO {{map}} ({{map_n}}, {{map_s}}, method, match_key, job_id, state, updated_at) VALUES {values}{UPSERT_TAIL_SQLITE}"
                    ));
                    let mut q = sqlx::query(&sql);
                    for m in chunk {
                        q = q
                            .bind(m.nhanh_id)
                            .bind(&m.shopify_id)
                            .bind(&m.method)
                            .bind(&m.key)
                            .bind(&job)
                            .bind(self.now_ms);
                    }
                    q.execute(&mut *conn).await?;
                }
                for chunk in self.deletes.chunks(ROWS_PER_INSERT) {
                    let sql = k.sql(&format!(
                        "DELETE FROM {{map}} WHERE method <> 'manual' AND {{map_n}} IN ({})",
                        placeholders(chunk.len())
                    ));
                    let mut q = sqlx::query(&sql);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *conn).await?;
                }
                for chunk in self.conflicts.chunks(ROWS_PER_INSERT) {
                    let values = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "INSERT INTO match_conflicts (kind, match_key, nhanh_ids, shopify_ids, job_id, detected_at) VALUES {values}{CONFLICTS_TAIL_SQLITE}"
                    );
                    let mut q = sqlx::query(&sql);
                    for c in chunk {
                        q = q
                            .bind(k.as_str())
                            .bind(&c.key)
                            .bind(json_ids(&c.nhanh_ids))
                            .bind(json_ids(&c.shopify_ids))
                            .bind(&job)
                            .bind(self.now_ms);
                    }
                    q.execute(&mut *conn).await?;
                }
            }
            StoreTx::Postgres(conn) => {
                if !self.upserts.is_empty() {
                    let n: Vec<i64> = self.upserts.iter().map(|m| m.nhanh_id).collect();
                    let s: Vec<&str> = self.upserts.iter().map(|m| m.shopify_id.as_str()).collect();
                    let me: Vec<&str> = self.upserts.iter().map(|m| m.method.as_str()).collect();
                    let ke: Vec<&str> = self.upserts.iter().map(|m| m.key.as_str()).collect();
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
                    sqlx::query(&k.sql("DELETE FROM {map} WHERE method <> 'manual' AND {map_n} = ANY($1::bigint[])"))
                        .bind(&self.deletes)
                        .execute(&mut *conn)
                        .await?;
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

/// Deletes the non-manual mappings whose Nhanh record was removed or holds no key any more
/// (no batch considers such a record, so none can confirm its mapping).
#[derive(Debug, Clone)]
pub struct PruneStaleMappings {
    /// What is matched.
    pub kind: MatchKind,
}

#[async_trait]
impl StepEffects for PruneStaleMappings {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        let sql = self.kind.sql(
            "DELETE FROM {map} WHERE method <> 'manual' AND NOT EXISTS
               (SELECT 1 FROM {nk} x JOIN {nt} r ON r.id = x.{nid} WHERE x.{nid} = {map}.{map_n} AND r.removed_at IS NULL)",
        );
        match tx {
            StoreTx::Sqlite(conn) => {
                sqlx::query(&sql).execute(&mut *conn).await?;
            }
            StoreTx::Postgres(conn) => {
                sqlx::query(&sql).execute(&mut *conn).await?;
            }
        }
        Ok(())
    }
}
