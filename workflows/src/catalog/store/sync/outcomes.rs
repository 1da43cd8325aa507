//! [`SyncOutcomes`]: a sync step's per-item results, written in the step's transaction.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use super::SyncKind;
use crate::catalog::store::dialect::on_tx;

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
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        let table = self.kind.table();
        let kind = self.kind.as_str();
        let forget = |d_in: &str| format!("DELETE FROM sync_failures WHERE kind = $1 AND mapping_id {d_in}");
        on_tx!(&mut tx, |conn, d| {
            if !self.dropped.is_empty() {
                let sql = forget(&d.in_list(2, "bigint"));
                sqlx::query(&sql).bind(kind).bind(d.list(&self.dropped)).execute(&mut *conn).await?;
            }
            if !self.synced.is_empty() {
                let ids: Vec<i64> = self.synced.iter().map(|(id, _)| *id).collect();
                // A customer's value is the total (a number), a product's `{location: quantity}`
                // (JSON).
                match self.kind {
                    SyncKind::Customer => {
                        let sql = format!(
                            "UPDATE {table} AS m SET state = 'SYNCED', synced_value = t.v, synced_at = $1, \
                             last_error = NULL, updated_at = $1 FROM {} WHERE m.id = t.id",
                            d.rows(2, &[("id", "bigint"), ("v", "bigint")])
                        );
                        let values = self.synced.iter().map(|(_, v)| v.as_i64());
                        let q = d.batch(sqlx::query(&sql).bind(self.at_ms), ids.len()).col(ids.iter().copied());
                        q.col(values).done().execute(&mut *conn).await?;
                    }
                    SyncKind::Product => {
                        let sql = format!(
                            "UPDATE {table} AS m SET state = 'SYNCED', synced_value = {}, synced_at = $1, \
                             last_error = NULL, updated_at = $1 FROM {} WHERE m.id = t.id",
                            d.json("t.v"),
                            d.rows(2, &[("id", "bigint"), ("v", "text")])
                        );
                        let values = self.synced.iter().map(|(_, v)| v.to_string());
                        let q = d.batch(sqlx::query(&sql).bind(self.at_ms), ids.len()).col(ids.iter().copied());
                        q.col(values).done().execute(&mut *conn).await?;
                    }
                }
                sqlx::query(&forget(&d.in_list(2, "bigint"))).bind(kind).bind(d.list(&ids)).execute(&mut *conn).await?;
            }
            if !self.failed.is_empty() {
                let cols = [("id", "bigint"), ("r", "text")];
                let ids = || self.failed.iter().map(|(id, _)| *id);
                let reasons = || self.failed.iter().map(|(_, r)| r.clone());
                let set_failed = format!(
                    "UPDATE {table} AS m SET state = 'FAILED', last_error = t.r, updated_at = $1 FROM {} WHERE m.id = t.id",
                    d.rows(2, &cols)
                );
                d.batch(sqlx::query(&set_failed).bind(self.at_ms), self.failed.len())
                    .col(ids())
                    .col(reasons())
                    .done()
                    .execute(&mut *conn)
                    .await?;
                let record = format!(
                    "INSERT INTO sync_failures (kind, mapping_id, reason, job_id, failed_at, attempts) \
                     SELECT $1, t.id, t.r, $2, $3, 1 FROM {} WHERE true \
                     ON CONFLICT (kind, mapping_id) DO UPDATE SET reason = excluded.reason, \
                     job_id = excluded.job_id, failed_at = excluded.failed_at, \
                     attempts = sync_failures.attempts + 1",
                    d.rows(4, &cols)
                );
                let q = sqlx::query(&record).bind(kind).bind(d.job(self.job_id)).bind(self.at_ms);
                d.batch(q, self.failed.len()).col(ids()).col(reasons()).done().execute(&mut *conn).await?;
            }
        });
        Ok(())
    }
}
