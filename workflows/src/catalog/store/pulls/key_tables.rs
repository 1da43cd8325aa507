//! Replacing a batch of records' match keys, on both backends: delete the records' keys, insert
//! the new ones. Table and column names are constants of this module, never input.

use dongbo_engine::StoreTx;

/// A key table: `(id column, key column)` rows.
#[derive(Debug, Clone, Copy)]
pub(super) struct KeyTable {
    pub table: &'static str,
    pub id: &'static str,
    pub key: &'static str,
}

pub(super) const NHANH_CUSTOMER_KEYS: KeyTable =
    KeyTable { table: "nhanh_customer_keys", id: "customer_id", key: "phone_key" };
pub(super) const SHOPIFY_CUSTOMER_KEYS: KeyTable =
    KeyTable { table: "shopify_customer_keys", id: "customer_id", key: "phone_key" };
pub(super) const NHANH_PRODUCT_KEYS: KeyTable =
    KeyTable { table: "nhanh_product_keys", id: "product_id", key: "match_key" };
pub(super) const SHOPIFY_VARIANT_KEYS: KeyTable =
    KeyTable { table: "shopify_variant_keys", id: "variant_id", key: "match_key" };

/// Replaces the keys of the records `ids` (integer ids) with `keys`.
pub(super) async fn replace_int_keys(
    tx: &mut StoreTx<'_>,
    t: KeyTable,
    ids: &[i64],
    keys: &[(i64, String)],
) -> Result<(), sqlx::Error> {
    replace_keys(tx, t, ids, keys, "bigint").await
}

/// Replaces the keys of the records `ids` (gid ids) with `keys`.
pub(super) async fn replace_text_keys(
    tx: &mut StoreTx<'_>,
    t: KeyTable,
    ids: &[String],
    keys: &[(String, String)],
) -> Result<(), sqlx::Error> {
    replace_keys(tx, t, ids, keys, "text").await
}

/// Replaces the keys of the records `ids` with `keys`; `pg_type` is the id column's type.
async fn replace_keys<I>(
    tx: &mut StoreTx<'_>,
    t: KeyTable,
    ids: &[I],
    keys: &[(I, String)],
    pg_type: &str,
) -> Result<(), sqlx::Error>
where
    I: Clone + Send + Sync + 'static,
    I: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    I: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + sqlx::postgres::PgHasArrayType,
{
    match tx {
        StoreTx::Sqlite(conn) => {
            let delete = format!("DELETE FROM {} WHERE {} = ?", t.table, t.id);
            for id in ids {
                sqlx::query(&delete).bind(id.clone()).execute(&mut **conn).await?;
            }
            let insert = format!("INSERT OR IGNORE INTO {} ({}, {}) VALUES (?, ?)", t.table, t.id, t.key);
            for (id, key) in keys {
                sqlx::query(&insert).bind(id.clone()).bind(key).execute(&mut **conn).await?;
            }
        }
        StoreTx::Postgres(conn) => {
            let delete = format!("DELETE FROM {} WHERE {} = ANY($1::{pg_type}[])", t.table, t.id);
            sqlx::query(&delete).bind(ids.to_vec()).execute(&mut **conn).await?;
            let insert = format!(
                "INSERT INTO {} ({}, {}) SELECT * FROM UNNEST($1::{pg_type}[], $2::text[]) ON CONFLICT DO NOTHING",
                t.table, t.id, t.key
            );
            let (a, b): (Vec<I>, Vec<String>) = keys.iter().cloned().unzip();
            sqlx::query(&insert).bind(a).bind(b).execute(&mut **conn).await?;
        }
    }
    Ok(())
}

/// The stored form of a job id in the catalog's `pulled_by` / `pull_seen` columns on SQLite.
pub(super) fn sqlite_job(job: dongbo_engine::JobId) -> String {
    job.to_string()
}
