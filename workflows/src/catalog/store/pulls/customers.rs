//! Customer upserts: Nhanh customers and Shopify customers, each with its phone keys.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use crate::catalog::store::dialect::on_tx;

use super::key_tables::{replace_int_keys, replace_text_keys, NHANH_CUSTOMER_KEYS, SHOPIFY_CUSTOMER_KEYS};
use super::rows::{dedup_by_id, nhanh_customer_keys, shopify_customer_keys, NhanhCustomerRow, ShopifyCustomerRow};

/// Upserts Nhanh customers by id and replaces their phone keys (`nhanh_customer_keys`, every
/// number of `mobile`). `pulled_by` becomes `job`; `removed_at` is cleared. With
/// `seen_by_full_pull: Some(full)` each row's `pull_seen` becomes `full` (the full pull's own job
/// id, so its final [`MarkRemoved`](super::MarkRemoved) spares it); with `None` (an incremental
/// pull, or a test filling the catalog) `pull_seen` is left as it was.
#[derive(Debug, Clone)]
pub struct UpsertNhanhCustomers {
    /// The job writing the rows.
    pub job: JobId,
    /// The rows; a repeated id writes its last row.
    pub rows: Vec<NhanhCustomerRow>,
    /// The full pull that saw these rows, if this is one.
    pub seen_by_full_pull: Option<JobId>,
}

#[async_trait]
impl StepEffects for UpsertNhanhCustomers {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        let rows = dedup_by_id(&self.rows, |r| r.id);
        if rows.is_empty() {
            return Ok(());
        }
        on_tx!(&mut tx, |conn, d| {
            let cols = [
                ("id", "bigint"),
                ("name", "text"),
                ("mobile", "text"),
                ("total_amount", "bigint"),
                ("updated_at", "bigint"),
            ];
            let upsert = format!(
                "INSERT INTO nhanh_customers (id, name, mobile, total_amount, updated_at, pulled_by, pull_seen, removed_at)
                 SELECT t.*, $1, $2, NULL FROM {} WHERE true
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, mobile = excluded.mobile,
                   total_amount = excluded.total_amount, updated_at = excluded.updated_at,
                   pulled_by = excluded.pulled_by,
                   pull_seen = COALESCE(excluded.pull_seen, nhanh_customers.pull_seen), removed_at = NULL",
                d.rows(3, &cols)
            );
            let q = sqlx::query(&upsert).bind(d.job(self.job)).bind(self.seen_by_full_pull.map(|j| d.job(j)));
            d.batch(q, rows.len())
                .col(rows.iter().map(|r| r.id as i64))
                .col(rows.iter().map(|r| r.name.clone()))
                .col(rows.iter().map(|r| r.mobile.clone()))
                .col(rows.iter().map(|r| r.total_amount))
                .col(rows.iter().map(|r| r.updated_at))
                .done()
                .execute(&mut *conn)
                .await?;
        });
        let ids: Vec<i64> = rows.iter().map(|r| r.id as i64).collect();
        let keys: Vec<(i64, String)> = rows
            .iter()
            .flat_map(|r| nhanh_customer_keys(r.mobile.as_deref()).into_iter().map(move |k| (r.id as i64, k)))
            .collect();
        replace_int_keys(&mut tx, NHANH_CUSTOMER_KEYS, &ids, &keys).await?;
        Ok(())
    }
}

/// Upserts Shopify customers by gid and replaces their phone keys (`shopify_customer_keys`, from
/// `defaultPhoneNumber` and `defaultAddress.phone`). `pulled_by`, `pull_seen` and `removed_at` as
/// for [`UpsertNhanhCustomers`].
#[derive(Debug, Clone)]
pub struct UpsertShopifyCustomers {
    /// The job writing the rows.
    pub job: JobId,
    /// The rows; a repeated id writes its last row.
    pub rows: Vec<ShopifyCustomerRow>,
    /// The full pull that saw these rows, if this is one.
    pub seen_by_full_pull: Option<JobId>,
}

#[async_trait]
impl StepEffects for UpsertShopifyCustomers {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        let rows = dedup_by_id(&self.rows, |r| r.id.clone());
        if rows.is_empty() {
            return Ok(());
        }
        on_tx!(&mut tx, |conn, d| {
            let cols =
                ["id", "display_name", "email", "phone", "address_phone", "amount_spent", "total_spent", "updated_at"]
                    .map(|c| (c, "text"));
            let upsert = format!(
                "INSERT INTO shopify_customers (id, display_name, email, phone, address_phone, amount_spent,
                   total_spent, updated_at, pulled_by, pull_seen, removed_at)
                 SELECT t.*, $1, $2, NULL FROM {} WHERE true
                 ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, email = excluded.email,
                   phone = excluded.phone, address_phone = excluded.address_phone,
                   amount_spent = excluded.amount_spent, total_spent = excluded.total_spent,
                   updated_at = excluded.updated_at, pulled_by = excluded.pulled_by,
                   pull_seen = COALESCE(excluded.pull_seen, shopify_customers.pull_seen), removed_at = NULL",
                d.rows(3, &cols)
            );
            let col = |f: fn(&ShopifyCustomerRow) -> Option<String>| rows.iter().map(move |r| f(r));
            let q = sqlx::query(&upsert).bind(d.job(self.job)).bind(self.seen_by_full_pull.map(|j| d.job(j)));
            d.batch(q, rows.len())
                .col(rows.iter().map(|r| r.id.clone()))
                .col(col(|r| r.display_name.clone()))
                .col(col(|r| r.email.clone()))
                .col(col(|r| r.phone.clone()))
                .col(col(|r| r.address_phone.clone()))
                .col(col(|r| r.amount_spent.clone()))
                .col(col(|r| r.total_spent.clone()))
                .col(col(|r| r.updated_at.clone()))
                .done()
                .execute(&mut *conn)
                .await?;
        });
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let keys: Vec<(String, String)> = rows
            .iter()
            .flat_map(|r| {
                shopify_customer_keys(r.phone.as_deref(), r.address_phone.as_deref())
                    .into_iter()
                    .map(move |k| (r.id.clone(), k))
            })
            .collect();
        replace_text_keys(&mut tx, SHOPIFY_CUSTOMER_KEYS, &ids, &keys).await?;
        Ok(())
    }
}
