//! Replacing a batch of records' match keys, on both backends: delete the records' keys, insert
//! the new ones. Table and column names are constants of this module, never input.

use std::collections::{BTreeMap, BTreeSet};

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

/// Replaces the keys of the records `ids` with `keys`; `pg_type` is the id column's type. Each
/// key row carries its record's facts that matching reads: how many distinct keys the record
/// holds (`key_count`) and the key's place among them in byte order (`key_rank`, 0 for the
/// first) — facts of the record alone, so they are exact as long as every write of a record's
/// keys goes through here.
async fn replace_keys<I>(
    tx: &mut StoreTx<'_>,
    t: KeyTable,
    ids: &[I],
    keys: &[(I, String)],
    pg_type: &str,
) -> Result<(), sqlx::Error>
where
    I: Clone + Ord + Send + Sync + 'static,
    I: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    I: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + sqlx::postgres::PgHasArrayType,
{
    let rows = ranked(keys);
    match tx {
        StoreTx::Sqlite(conn) => {
            let delete = format!("DELETE FROM {} WHERE {} = ?", t.table, t.id);
            for id in ids {
                sqlx::query(&delete).bind(id.clone()).execute(&mut **conn).await?;
            }
            let insert = format!(
                "INSERT OR IGNORE INTO {} ({}, {}, key_count, key_rank) VALUES (?, ?, ?, ?)",
                t.table, t.id, t.key
            );
            for (id, key, count, rank) in rows {
                sqlx::query(&insert).bind(id).bind(key).bind(count).bind(rank).execute(&mut **conn).await?;
            }
        }
        StoreTx::Postgres(conn) => {
            let delete = format!("DELETE FROM {} WHERE {} = ANY($1::{pg_type}[])", t.table, t.id);
            sqlx::query(&delete).bind(ids.to_vec()).execute(&mut **conn).await?;
            let insert = format!(
                "INSERT INTO {} ({}, {}, key_count, key_rank)
                 SELECT * FROM UNNEST($1::{pg_type}[], $2::text[], $3::int[], $4::int[]) ON CONFLICT DO NOTHING",
                t.table, t.id, t.key
            );
            let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (id, key, count, rank) in rows {
                columns.0.push(id);
                columns.1.push(key);
                columns.2.push(count);
                columns.3.push(rank);
            }
            sqlx::query(&insert)
                .bind(columns.0)
                .bind(columns.1)
                .bind(columns.2)
                .bind(columns.3)
                .execute(&mut **conn)
                .await?;
        }
    }
    Ok(())
}

/// `keys` without repeats, each with its record's key count and its rank among the record's
/// keys in byte order.
fn ranked<I: Clone + Ord>(keys: &[(I, String)]) -> Vec<(I, String, i32, i32)> {
    let mut by_record: BTreeMap<&I, BTreeSet<&str>> = BTreeMap::new();
    for (id, key) in keys {
        by_record.entry(id).or_default().insert(key);
    }
    let mut rows = Vec::with_capacity(keys.len());
    for (id, keys) in by_record {
        let count = i32::try_from(keys.len()).unwrap_or(i32::MAX);
        for (rank, key) in keys.into_iter().enumerate() {
            rows.push((id.clone(), key.to_owned(), count, i32::try_from(rank).unwrap_or(i32::MAX)));
        }
    }
    rows
}

/// The stored form of a job id in the catalog's `pulled_by` / `pull_seen` columns on SQLite.
pub(super) fn sqlite_job(job: dongbo_engine::JobId) -> String {
    job.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_key_row_carries_its_records_key_count_and_its_rank_in_byte_order() {
        let keys =
            [(2, "b".to_owned()), (1, "z".into()), (2, "a".into()), (1, "z".into()), (2, "B".into()), (3, "x".into())];
        let rows = super::ranked(&keys);
        let expect = [(1, "z", 1, 0), (2, "B", 3, 0), (2, "a", 3, 1), (2, "b", 3, 2), (3, "x", 1, 0)];
        let got: Vec<_> = rows.iter().map(|(i, k, c, r)| (*i, k.as_str(), *c, *r)).collect();
        assert_eq!(got, expect);
    }
}
