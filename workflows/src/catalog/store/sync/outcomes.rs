//! [`SyncOutcomes`]: a sync step's per-item results, written in the step's transaction.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use super::SyncKind;

/// What a sync step learned about its items, committed with its checkpoint: successes become
/// `SYNCED` (value, time, failure row removed), failures `FAILED` with the reason and a
/// `sync_failures` row (attempts counted).
#[derive(Debug, Clone)]
pub struct SyncOutcomes {
    /// Which mappings.
    pub kind: SyncKind,
    /// The job that pushed.
    pub job_id: JobId,
    /// When (unix ms).
    pub at_ms: i64,
    /// `(mapping id, value pushed)`: the total for a customer, `{location: quantity}` for a
    /// product.
    pub synced: Vec<(i64, serde_json::Value)>,
    /// `(mapping id, reason)`.
    pub failed: Vec<(i64, String)>,
    /// Failure rows to forget: their mapping is gone or lost its Shopify side.
    pub dropped: Vec<i64>,
}

#[async_trait]
impl StepEffects for SyncOutcomes {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        let table = self.kind.table();
        let kind = self.kind.as_str();
        match tx {
            StoreTx::Sqlite(conn) => {
                for id in &self.dropped {
                    sqlx::query("DELETE FROM sync_failures WHERE kind = ? AND mapping_id = ?")
                        .bind(kind)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
                let set_synced = format!(
                    "UPDATE {table} SET state = 'SYNCED', synced_value = ?, synced_at = ?, last_error = NULL, \
                     updated_at = ? WHERE id = ?"
                );
                for (id, value) in &self.synced {
                    let q = sqlx::query(&set_synced);
                    let q = match self.kind {
                        SyncKind::Customer => q.bind(value.as_i64()),
                        SyncKind::Product => q.bind(value.to_string()),
                    };
                    q.bind(self.at_ms).bind(self.at_ms).bind(id).execute(&mut *conn).await?;
                    sqlx::query("DELETE FROM sync_failures WHERE kind = ? AND mapping_id = ?")
                        .bind(kind)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
                let set_failed =
                    format!("UPDATE {table} SET state = 'FAILED', last_error = ?, updated_at = ? WHERE id = ?");
                for (id, reason) in &self.failed {
                    sqlx::query(&set_failed).bind(reason).bind(self.at_ms).bind(id).execute(&mut *conn).await?;
                    sqlx::query(
                        "INSERT INTO sync_failures (kind, mapping_id, reason, job_id, failed_at, attempts) \
                         VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (kind, mapping_id) DO UPDATE SET \
                         reason = excluded.reason, job_id = excluded.job_id, failed_at = excluded.failed_at, \
                         attempts = sync_failures.attempts + 1",
                    )
                    .bind(kind)
                    .bind(id)
                    .bind(reason)
                    .bind(self.job_id.to_string())
                    .bind(self.at_ms)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                if !self.dropped.is_empty() {
                    sqlx::query("DELETE FROM sync_failures WHERE kind = $1 AND mapping_id = ANY($2)")
                        .bind(kind)
                        .bind(&self.dropped)
                        .execute(&mut *conn)
                        .await?;
                }
                if !self.synced.is_empty() {
                    let ids: Vec<i64> = self.synced.iter().map(|(id, _)| *id).collect();
                    match self.kind {
                        SyncKind::Customer => {
                            let values: Vec<Option<i64>> = self.synced.iter().map(|(_, v)| v.as_i64()).collect();
                            sqlx::query(
                                "UPDATE customer_mappings m SET state = 'SYNCED', synced_value = u.v, \
                                 synced_at = $3, last_error = NULL, updated_at = $3 \
                                 FROM unnest($1::bigint[], $2::bigint[]) AS u(id, v) WHERE m.id = u.id",
                            )
                            .bind(&ids)
                            .bind(&values)
                            .bind(self.at_ms)
                            .execute(&mut *conn)
                            .await?;
                        }
                        SyncKind::Product => {
                            let values: Vec<String> = self.synced.iter().map(|(_, v)| v.to_string()).collect();
                            sqlx::query(
                                "UPDATE product_mappings m SET state = 'SYNCED', synced_value = u.v::jsonb, \
                                 synced_at = $3, last_error = NULL, updated_at = $3 \
                                 FROM unnest($1::bigint[], $2::text[]) AS u(id, v) WHERE m.id = u.id",
                            )
                            .bind(&ids)
                            .bind(&values)
                            .bind(self.at_ms)
                            .execute(&mut *conn)
                            .await?;
                        }
                    }
                    sqlx::query("DELETE FROM sync_failures WHERE kind = $1 AND mapping_id = ANY($2)")
                        .bind(kind)
                        .bind(&ids)
                        .execute(&mut *conn)
                        .await?;
                }
                if !self.failed.is_empty() {
                    let ids: Vec<i64> = self.failed.iter().map(|(id, _)| *id).collect();
                    let reasons: Vec<String> = self.failed.iter().map(|(_, r)| r.clone()).collect();
                    sqlx::query(&format!(
                        "UPDATE {table} m SET state = 'FAILED', last_error = u.r, updated_at = $3 \
                         FROM unnest($1::bigint[], $2::text[]) AS u(id, r) WHERE m.id = u.id"
                    ))
                    .bind(&ids)
                    .bind(&reasons)
                    .bind(self.at_ms)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO sync_failures (kind, mapping_id, reason, job_id, failed_at, attempts) \
                         SELECT $1, u.id, u.r, $4, $5, 1 FROM unnest($2::bigint[], $3::text[]) AS u(id, r) \
                         ON CONFLICT (kind, mapping_id) DO UPDATE SET reason = excluded.reason, \
                         job_id = excluded.job_id, failed_at = excluded.failed_at, \
                         attempts = sync_failures.attempts + 1",
                    )
                    .bind(kind)
                    .bind(&ids)
                    .bind(&reasons)
                    .bind(self.job_id.as_uuid())
                    .bind(self.at_ms)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}
