//! Replacing a batch of records' match keys, on both backends: delete the records' keys, insert
//! the new ones. Table and column names are constants of this module, never input.

use std::collections::{BTreeMap, BTreeSet};

use dongbo_engine::StoreTx;
use serde::Serialize;

use crate::catalog::store::dialect::on_tx;

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
    I: Clone + Ord + Serialize + Send + Sync + 'static,
    Vec<I>: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let rows = ranked(keys);
    on_tx!(tx, |conn, d| {
        let delete = format!("DELETE FROM {} WHERE {} {}", t.table, t.id, d.in_list(1, pg_type));
        sqlx::query(&delete).bind(d.list(ids)).execute(&mut *conn).await?;
        if !rows.is_empty() {
            let cols = [("id", pg_type), ("k", "text"), ("c", "int"), ("r", "int")];
            let insert = format!(
                "INSERT INTO {} ({}, {}, key_count, key_rank) SELECT * FROM {} WHERE true ON CONFLICT DO NOTHING",
                t.table,
                t.id,
                t.key,
                d.rows(1, &cols)
            );
            d.batch(sqlx::query(&insert), rows.len())
                .col(rows.iter().map(|r| r.0.clone()))
                .col::<String>(rows.iter().map(|r| r.1.clone()))
                .col::<i32>(rows.iter().map(|r| r.2))
                .col::<i32>(rows.iter().map(|r| r.3))
                .done()
                .execute(&mut *conn)
                .await?;
        }
    });
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
