//! Customer upserts: Nhanh customers and Shopify customers, each with its phone keys.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use super::key_tables::{replace_int_keys, replace_text_keys, sqlite_job, NHANH_CUSTOMER_KEYS, SHOPIFY_CUSTOMER_KEYS};
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
        match &mut tx {
            StoreTx::Sqlite(conn) => {
                let job = sqlite_job(self.job);
                let seen = self.seen_by_full_pull.map(sqlite_job);
                for r in &rows {
                    sqlx::query(
                        "INSERT INTO nhanh_customers (id, name, mobile, total_amount, updated_at, pulled_by, pull_seen, removed_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, mobile = excluded.mobile,
                           total_amount = excluded.total_amount, updated_at = excluded.updated_at,
                           pulled_by = excluded.pulled_by,
                           pull_seen = COALESCE(excluded.pull_seen, nhanh_customers.pull_seen), removed_at = NULL",
                    )
                    .bind(r.id as i64)
                    .bind(&r.name)
                    .bind(&r.mobile)
                    .bind(r.total_amount)
                    .bind(r.updated_at)
                    .bind(&job)
                    .bind(&seen)
                    .execute(&mut **conn)
                    .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                sqlx::query(
                    "INSERT INTO nhanh_customers (id, name, mobile, total_amount, updated_at, pulled_by, pull_seen, removed_at)
                     SELECT t.id, t.name, t.mobile, t.total_amount, t.updated_at, $6, $7::uuid, NULL
                     FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
                       AS t(id, name, mobile, total_amount, updated_at)
                     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, mobile = EXCLUDED.mobile,
                       total_amount = EXCLUDED.total_amount, updated_at = EXCLUDED.updated_at,
                       pulled_by = EXCLUDED.pulled_by,
                       pull_seen = COALESCE(EXCLUDED.pull_seen, nhanh_customers.pull_seen), removed_at = NULL",
                )
                .bind(rows.iter().map(|r| r.id as i64).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.mobile.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.total_amount).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
                .bind(self.job.as_uuid())
                .bind(self.seen_by_full_pull.map(|j| j.as_uuid()))
                .execute(&mut **conn)
                .await?;
            }
        }
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
        match &mut tx {
            StoreTx::Sqlite(conn) => {
                let job = sqlite_job(self.job);
                let seen = self.seen_by_full_pull.map(sqlite_job);
                for r in &rows {
                    sqlx::query(
                        "INSERT INTO shopify_customers (id, display_name, email, phone, address_phone, amount_spent,
                           total_spent, updated_at, pulled_by, pull_seen, removed_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
                         ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, email = excluded.email,
                           phone = excluded.phone, address_phone = excluded.address_phone,
                           amount_spent = excluded.amount_spent, total_spent = excluded.total_spent,
                           updated_at = excluded.updated_at, pulled_by = excluded.pulled_by,
                           pull_seen = COALESCE(excluded.pull_seen, shopify_customers.pull_seen), removed_at = NULL",
                    )
                    .bind(&r.id)
                    .bind(&r.display_name)
                    .bind(&r.email)
                    .bind(&r.phone)
                    .bind(&r.address_phone)
                    .bind(&r.amount_spent)
                    .bind(&r.total_spent)
                    .bind(&r.updated_at)
                    .bind(&job)
                    .bind(&seen)
                    .execute(&mut **conn)
                    .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                let col = |f: fn(&ShopifyCustomerRow) -> Option<String>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
                sqlx::query(
                    "INSERT INTO shopify_customers (id, display_name, email, phone, address_phone, amount_spent,
                       total_spent, updated_at, pulled_by, pull_seen, removed_at)
                     SELECT t.*, $9, $10::uuid, NULL
                     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                       AS t(id, display_name, email, phone, address_phone, amount_spent, total_spent, updated_at)
                     ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, email = EXCLUDED.email,
                       phone = EXCLUDED.phone, address_phone = EXCLUDED.address_phone,
                       amount_spent = EXCLUDED.amount_spent, total_spent = EXCLUDED.total_spent,
                       updated_at = EXCLUDED.updated_at, pulled_by = EXCLUDED.pulled_by,
                       pull_seen = COALESCE(EXCLUDED.pull_seen, shopify_customers.pull_seen), removed_at = NULL",
                )
                .bind(rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>())
                .bind(col(|r| r.display_name.clone()))
                .bind(col(|r| r.email.clone()))
                .bind(col(|r| r.phone.clone()))
                .bind(col(|r| r.address_phone.clone()))
                .bind(col(|r| r.amount_spent.clone()))
                .bind(col(|r| r.total_spent.clone()))
                .bind(col(|r| r.updated_at.clone()))
                .bind(self.job.as_uuid())
                .bind(self.seen_by_full_pull.map(|j| j.as_uuid()))
                .execute(&mut **conn)
                .await?;
            }
        }
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
