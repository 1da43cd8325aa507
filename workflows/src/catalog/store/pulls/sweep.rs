//! The end of a pull: marking what a full pull did not see as removed, storing the watermark, and
//! committing several effects in one step.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use crate::catalog::store::dialect::{on_db, on_tx};

/// What a pull mirrors: names the tables it sweeps and its row in `pull_watermarks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullSource {
    /// `nhanh_customers` (keys: `nhanh_customer_keys`).
    NhanhCustomers,
    /// `nhanh_products` (keys: `nhanh_product_keys`).
    NhanhProducts,
    /// `shopify_customers` (keys: `shopify_customer_keys`).
    ShopifyCustomers,
    /// `shopify_products` and `shopify_variants` (keys: `shopify_variant_keys`).
    ShopifyProducts,
}

impl PullSource {
    /// The source's name in `pull_watermarks`, e.g. `nhanh_customers`.
    pub fn as_str(self) -> &'static str {
        match self {
            PullSource::NhanhCustomers => "nhanh_customers",
            PullSource::NhanhProducts => "nhanh_products",
            PullSource::ShopifyCustomers => "shopify_customers",
            PullSource::ShopifyProducts => "shopify_products",
        }
    }

    /// `(mirror table, key table, key table's id column)` swept by a full pull of this source.
    pub(super) fn tables(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            PullSource::NhanhCustomers => &[("nhanh_customers", "nhanh_customer_keys", "customer_id")],
            PullSource::NhanhProducts => &[("nhanh_products", "nhanh_product_keys", "product_id")],
            PullSource::ShopifyCustomers => &[("shopify_customers", "shopify_customer_keys", "customer_id")],
            PullSource::ShopifyProducts => {
                &[("shopify_products", "", ""), ("shopify_variants", "shopify_variant_keys", "variant_id")]
            }
        }
    }
}

/// A full pull's final write: every live row of `source` whose `pull_seen` is not `job` (the
/// pull did not see it) gets `removed_at = at_ms`, and its match keys are deleted so matching
/// cannot pair it. Rows are kept (mappings and the audit trail may name them); a later pull
/// that sees the record again clears `removed_at` and writes its keys back.
#[derive(Debug, Clone)]
pub struct MarkRemoved {
    /// What was pulled.
    pub source: PullSource,
    /// The full pull (the value it wrote to `pull_seen`).
    pub job: JobId,
    /// When, unix milliseconds.
    pub at_ms: i64,
}

#[async_trait]
impl StepEffects for MarkRemoved {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        for &(table, keys, key_id) in self.source.tables() {
            let unkey = (!keys.is_empty()).then(|| {
                format!("DELETE FROM {keys} WHERE {key_id} IN (SELECT id FROM {table} WHERE removed_at IS NOT NULL)")
            });
            let mark =
                format!("UPDATE {table} SET removed_at = $1 WHERE removed_at IS NULL AND (pull_seen IS NULL OR pull_seen <> $2)");
            on_tx!(&mut tx, |conn, d| {
                sqlx::query(&mark).bind(self.at_ms).bind(d.job(self.job)).execute(&mut *conn).await?;
                if let Some(unkey) = &unkey {
                    sqlx::query(unkey).execute(&mut *conn).await?;
                }
            });
        }
        Ok(())
    }
}

/// Stores `watermark` (unix seconds) as the last completed pull's watermark of `source`; the
/// next incremental pull asks for rows updated at or after it.
#[derive(Debug, Clone)]
pub struct SetWatermark {
    /// What was pulled.
    pub source: PullSource,
    /// Unix seconds.
    pub watermark: i64,
    /// The pull that completed.
    pub job: JobId,
}

#[async_trait]
impl StepEffects for SetWatermark {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        on_tx!(&mut tx, |conn, d| {
            sqlx::query(
                "INSERT INTO pull_watermarks (source, watermark, job_id) VALUES ($1, $2, $3)
                 ON CONFLICT (source) DO UPDATE SET watermark = excluded.watermark, job_id = excluded.job_id",
            )
            .bind(self.source.as_str())
            .bind(self.watermark)
            .bind(d.job(self.job))
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }
}

/// Several effects committed by one step, applied in order in the same transaction.
#[derive(Default)]
pub struct EffectsList(pub Vec<Box<dyn StepEffects>>);

impl EffectsList {
    /// Adds an effect.
    pub fn push(mut self, effect: impl StepEffects + 'static) -> Self {
        self.0.push(Box::new(effect));
        self
    }
}

#[async_trait]
impl StepEffects for EffectsList {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        for effect in &self.0 {
            on_tx!(&mut tx, |conn, d| effect.apply(d.tx(conn)).await?);
        }
        Ok(())
    }
}

/// Applies `effects` in a transaction of their own, outside any job step: for tests that fill the
/// catalog and for tools. Workflows never call this; they return effects with their step so they
/// commit with its event.
pub async fn apply_outside_step(db: &dongbo_engine::Db, effects: &dyn StepEffects) -> Result<(), EffectError> {
    on_db!(db, |pool, d| {
        let mut tx = pool.begin().await?;
        effects.apply(d.tx(&mut tx)).await?;
        tx.commit().await?;
    });
    Ok(())
}
