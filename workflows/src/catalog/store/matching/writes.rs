//! The writes of a match step, applied in the step's transaction.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use super::listings::STALE;
use super::tables::MatchKind;
use crate::catalog::store::dialect::on_tx;
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

/// One batch's writes: mappings of records that had none inserted; mappings upserted by Nhanh
/// id (a mapping to the same Shopify record is left untouched, state and all; a different one
/// is replaced and becomes `PENDING`, and the sync failures recorded against its old pairing go;
/// a manual one is never touched), stale non-manual mappings deleted with their sync failures,
/// conflicts upserted by key.
///
/// Why two statements for mappings: on PostgreSQL an upsert inserts speculatively, which costs
/// about 40 % more a row than a plain insert (11 batches of 18,200 mappings in `psql`: 0.97 s
/// against 0.70 s; `ON CONFLICT DO NOTHING` costs the same as the upsert), and most of a first
/// match's mappings are new. A record goes to `inserts` when the batch read no mapping of it;
/// if one appears before the step commits (a mapping made by hand meanwhile), the insert fails
/// on the Nhanh id's unique key, the step fails with it and runs again on a fresh read, which
/// finds the record no longer eligible: the mapping made by hand stays, as with an upsert.
#[derive(Debug, Clone)]
pub struct MatchWrites {
    /// What is matched.
    pub kind: MatchKind,
    /// The match job.
    pub job: JobId,
    /// Now, unix milliseconds.
    pub now_ms: i64,
    /// Mappings of records the batch read no mapping of.
    pub inserts: Vec<MappingWrite>,
    /// Mappings to repoint (the record's mapping names another Shopify record).
    pub upserts: Vec<MappingWrite>,
    /// Nhanh records whose non-manual mapping no longer holds.
    pub deletes: Vec<i64>,
    /// Conflicts found.
    pub conflicts: Vec<Conflict>,
}

/// The new mappings as a batch `t(n, s, m, k)` from parameter 3: one statement for a whole batch.
const INSERT: &str = "INSERT INTO {map} ({map_n}, {map_s}, method, match_key, job_id, state, updated_at)
 SELECT t.n, t.s, t.m, t.k, $1, 'PENDING', $2 FROM {rows}";

/// As [`INSERT`], for mappings that may exist already.
const UPSERT: &str = "INSERT INTO {map} ({map_n}, {map_s}, method, match_key, job_id, state, updated_at)
 SELECT t.n, t.s, t.m, t.k, $1, 'PENDING', $2 FROM {rows} WHERE true
 ON CONFLICT ({map_n}) DO UPDATE SET {map_s} = excluded.{map_s}, method = excluded.method,
   match_key = excluded.match_key, job_id = excluded.job_id, state = 'PENDING', last_error = NULL,
   synced_value = NULL, synced_at = NULL, updated_at = excluded.updated_at
 WHERE {map}.method <> 'manual' AND {map}.{map_s} IS DISTINCT FROM excluded.{map_s}";

/// The conflicts as a batch `t(k, n, s)` from parameter 4, the candidates as JSON text.
const CONFLICTS: &str = "INSERT INTO match_conflicts (kind, match_key, nhanh_ids, shopify_ids, job_id, detected_at)
 SELECT $1, t.k, {n}, {s}, $2, $3 FROM {rows} WHERE true
 ON CONFLICT (kind, match_key) DO UPDATE SET nhanh_ids = excluded.nhanh_ids, shopify_ids = excluded.shopify_ids,
   job_id = excluded.job_id, detected_at = excluded.detected_at";

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

/// Of the mappings `m` whose Nhanh ids are the parameter (`ids_in`), those a batch repoints:
/// every upserted mapping that exists already is one (an unchanged mapping is not upserted), and
/// a manual one is never touched. Their failures are looked for only when the kind has any
/// ([`ANY_FAILURE`]): the lookup costs a probe per upserted mapping, and failures are rare.
fn repointed(ids_in: &str) -> String {
    format!("m.method <> 'manual' AND m.{{map_n}} {ids_in}")
}

/// Whether any sync failure of a kind (the parameter) is recorded.
const ANY_FAILURE: &str = "SELECT EXISTS (SELECT 1 FROM sync_failures WHERE kind = $1)";

/// A list as JSON text.
fn json_text<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

#[async_trait]
impl StepEffects for MatchWrites {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        let k = self.kind;
        on_tx!(&mut tx, |conn, d| {
            let ids_in = d.in_list(1, "bigint");
            // A repointed mapping's failures name its old pairing; a new one has none.
            for (statement, mappings, repoints) in [(INSERT, &self.inserts, false), (UPSERT, &self.upserts, true)] {
                if mappings.is_empty() {
                    continue;
                }
                let n: Vec<i64> = mappings.iter().map(|m| m.nhanh_id).collect();
                if repoints && sqlx::query_scalar(ANY_FAILURE).bind(k.as_str()).fetch_one(&mut *conn).await? {
                    sqlx::query(&failures_of(k, &repointed(&ids_in))).bind(d.list(&n)).execute(&mut *conn).await?;
                }
                let cols = [("n", "bigint"), ("s", "text"), ("m", "text"), ("k", "text")];
                let sql = k.sql(&statement.replace("{rows}", &d.rows(3, &cols)));
                d.batch(sqlx::query(&sql).bind(d.job(self.job)).bind(self.now_ms), n.len())
                    .col(n.iter().copied())
                    .col(mappings.iter().map(|m| m.shopify_id.as_str()))
                    .col(mappings.iter().map(|m| m.method.as_str()))
                    .col(mappings.iter().map(|m| m.key.as_str()))
                    .done()
                    .execute(&mut *conn)
                    .await?;
            }
            if !self.deletes.is_empty() {
                for sql in deleting(k, &format!("m.method <> 'manual' AND m.{{map_n}} {ids_in}")) {
                    sqlx::query(&sql).bind(d.list(&self.deletes)).execute(&mut *conn).await?;
                }
            }
            if !self.conflicts.is_empty() {
                let cols = [("k", "text"), ("n", "text"), ("s", "text")];
                let sql = CONFLICTS
                    .replace("{rows}", &d.rows(4, &cols))
                    .replace("{n}", &d.json("t.n"))
                    .replace("{s}", &d.json("t.s"));
                let q = sqlx::query(&sql).bind(k.as_str()).bind(d.job(self.job)).bind(self.now_ms);
                d.batch(q, self.conflicts.len())
                    .col(self.conflicts.iter().map(|c| c.key.as_str()))
                    .col(self.conflicts.iter().map(|c| json_text(&c.nhanh_ids)))
                    .col(self.conflicts.iter().map(|c| json_text(&c.shopify_ids)))
                    .done()
                    .execute(&mut *conn)
                    .await?;
            }
        });
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
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        on_tx!(&mut tx, |conn, d| {
            sqlx::query("DELETE FROM match_conflicts WHERE kind = $1")
                .bind(self.kind.as_str())
                .execute(&mut *conn)
                .await?;
        });
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
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        if self.nhanh_ids.is_empty() {
            return Ok(());
        }
        on_tx!(&mut tx, |conn, d| {
            for sql in deleting(self.kind, &format!("m.{{map_n}} {} AND {STALE}", d.in_list(1, "bigint"))) {
                sqlx::query(&sql).bind(d.list(&self.nhanh_ids)).execute(&mut *conn).await?;
            }
        });
        Ok(())
    }
}
