//! Product upserts: Nhanh products with their depot stock, Shopify products and variants, each
//! with its product match key.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use crate::catalog::store::dialect::on_tx;

use super::key_tables::{replace_int_keys, replace_text_keys, NHANH_PRODUCT_KEYS, SHOPIFY_VARIANT_KEYS};
use super::rows::{dedup_by_id, product_match_keys, NhanhProductRow, ShopifyProductRow, ShopifyVariantRow};

/// Upserts Nhanh products by id, replaces their per-depot stock (`nhanh_product_depots`) and their
/// match key (`nhanh_product_keys`: [`product_match_keys`](super::product_match_keys)`(code,
/// barcode)`), and records every depot named in the stock in `nhanh_depots` (a depot already
/// there keeps its name). `pulled_by`, `pull_seen` and `removed_at` as for
/// [`UpsertNhanhCustomers`](super::UpsertNhanhCustomers).
#[derive(Debug, Clone)]
pub struct UpsertNhanhProducts {
    /// The job writing the rows.
    pub job: JobId,
    /// The rows, with their depots; a repeated id writes its last row.
    pub rows: Vec<NhanhProductRow>,
    /// The full pull that saw these rows, if this is one.
    pub seen_by_full_pull: Option<JobId>,
}

#[async_trait]
impl StepEffects for UpsertNhanhProducts {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        let rows = dedup_by_id(&self.rows, |r| r.id);
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id as i64).collect();
        let stock: Vec<(i64, i64, Option<i64>)> = rows
            .iter()
            .flat_map(|r| dedup_by_id(&r.depots, |d| d.0).into_iter().map(|&(d, a)| (r.id as i64, d as i64, a)))
            .collect();
        let mut depots: Vec<i64> = stock.iter().map(|s| s.1).collect();
        depots.sort_unstable();
        depots.dedup();
        on_tx!(&mut tx, |conn, d| {
            let cols = [
                ("id", "bigint"),
                ("parent_id", "bigint"),
                ("code", "text"),
                ("barcode", "text"),
                ("name", "text"),
                ("status", "bigint"),
                ("price_retail", "bigint"),
                ("available", "bigint"),
                ("updated_at", "bigint"),
            ];
            let upsert = format!(
                "INSERT INTO nhanh_products (id, parent_id, code, barcode, name, status, price_retail, available,
                   updated_at, pulled_by, pull_seen, removed_at)
                 SELECT t.*, $1, $2, NULL FROM {} WHERE true
                 ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, code = excluded.code,
                   barcode = excluded.barcode, name = excluded.name, status = excluded.status,
                   price_retail = excluded.price_retail, available = excluded.available,
                   updated_at = excluded.updated_at, pulled_by = excluded.pulled_by,
                   pull_seen = COALESCE(excluded.pull_seen, nhanh_products.pull_seen), removed_at = NULL",
                d.rows(3, &cols)
            );
            let q = sqlx::query(&upsert).bind(d.job(self.job)).bind(self.seen_by_full_pull.map(|j| d.job(j)));
            d.batch(q, rows.len())
                .col(ids.iter().copied())
                .col(rows.iter().map(|r| r.parent_id))
                .col(rows.iter().map(|r| r.code.clone()))
                .col(rows.iter().map(|r| r.barcode.clone()))
                .col(rows.iter().map(|r| r.name.clone()))
                .col(rows.iter().map(|r| r.status))
                .col(rows.iter().map(|r| r.price_retail))
                .col(rows.iter().map(|r| r.available))
                .col(rows.iter().map(|r| r.updated_at))
                .done()
                .execute(&mut *conn)
                .await?;
            let unstock = format!("DELETE FROM nhanh_product_depots WHERE product_id {}", d.in_list(1, "bigint"));
            sqlx::query(&unstock).bind(d.list(&ids)).execute(&mut *conn).await?;
            if !stock.is_empty() {
                let cols = [("product_id", "bigint"), ("depot_id", "bigint"), ("available", "bigint")];
                let insert = format!(
                    "INSERT INTO nhanh_product_depots (product_id, depot_id, available) SELECT * FROM {}",
                    d.rows(1, &cols)
                );
                d.batch(sqlx::query(&insert), stock.len())
                    .col(stock.iter().map(|s| s.0))
                    .col(stock.iter().map(|s| s.1))
                    .col(stock.iter().map(|s| s.2))
                    .done()
                    .execute(&mut *conn)
                    .await?;
                let depot = format!(
                    "INSERT INTO nhanh_depots (id, name) SELECT t.id, NULL FROM {} WHERE true ON CONFLICT (id) DO NOTHING",
                    d.rows(1, &[("id", "bigint")])
                );
                d.batch(sqlx::query(&depot), depots.len())
                    .col(depots.iter().copied())
                    .done()
                    .execute(&mut *conn)
                    .await?;
            }
        });
        let keys: Vec<(i64, String)> = rows
            .iter()
            .flat_map(|r| {
                product_match_keys(r.code.as_deref(), r.barcode.as_deref()).into_iter().map(move |k| (r.id as i64, k))
            })
            .collect();
        replace_int_keys(&mut tx, NHANH_PRODUCT_KEYS, &ids, &keys).await?;
        Ok(())
    }
}

/// Upserts Shopify products and variants by gid and replaces each variant's match key
/// (`shopify_variant_keys`: [`product_match_keys`](super::product_match_keys)`(sku, barcode)`).
/// Products and variants are independent lists so that a bulk export, whose variants may follow
/// their product in a later chunk, can be ingested in chunks. `pulled_by`, `pull_seen` and
/// `removed_at` as for [`UpsertNhanhCustomers`](super::UpsertNhanhCustomers).
#[derive(Debug, Clone)]
pub struct UpsertShopifyProducts {
    /// The job writing the rows.
    pub job: JobId,
    /// Products; a repeated id writes its last row.
    pub products: Vec<ShopifyProductRow>,
    /// Variants (of these or of earlier products); a repeated id writes its last row.
    pub variants: Vec<ShopifyVariantRow>,
    /// The full pull that saw these rows, if this is one.
    pub seen_by_full_pull: Option<JobId>,
}

#[async_trait]
impl StepEffects for UpsertShopifyProducts {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        let products = dedup_by_id(&self.products, |r| r.id.clone());
        let variants = dedup_by_id(&self.variants, |r| r.id.clone());
        on_tx!(&mut tx, |conn, d| {
            if !products.is_empty() {
                let cols = [("id", "text"), ("title", "text"), ("updated_at", "text")];
                let upsert = format!(
                    "INSERT INTO shopify_products (id, title, updated_at, pulled_by, pull_seen, removed_at)
                     SELECT t.*, $1, $2, NULL FROM {} WHERE true
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at,
                       pulled_by = excluded.pulled_by,
                       pull_seen = COALESCE(excluded.pull_seen, shopify_products.pull_seen), removed_at = NULL",
                    d.rows(3, &cols)
                );
                let q = sqlx::query(&upsert).bind(d.job(self.job)).bind(self.seen_by_full_pull.map(|j| d.job(j)));
                d.batch(q, products.len())
                    .col(products.iter().map(|p| p.id.clone()))
                    .col(products.iter().map(|p| p.title.clone()))
                    .col(products.iter().map(|p| p.updated_at.clone()))
                    .done()
                    .execute(&mut *conn)
                    .await?;
            }
            if !variants.is_empty() {
                let cols = [
                    ("id", "text"),
                    ("product_id", "text"),
                    ("sku", "text"),
                    ("barcode", "text"),
                    ("price", "text"),
                    ("inventory_quantity", "bigint"),
                    ("inventory_item_id", "text"),
                ];
                let upsert = format!(
                    "INSERT INTO shopify_variants (id, product_id, sku, barcode, price, inventory_quantity,
                       inventory_item_id, pulled_by, pull_seen, removed_at)
                     SELECT t.*, $1, $2, NULL FROM {} WHERE true
                     ON CONFLICT (id) DO UPDATE SET product_id = excluded.product_id, sku = excluded.sku,
                       barcode = excluded.barcode, price = excluded.price,
                       inventory_quantity = excluded.inventory_quantity,
                       inventory_item_id = excluded.inventory_item_id, pulled_by = excluded.pulled_by,
                       pull_seen = COALESCE(excluded.pull_seen, shopify_variants.pull_seen), removed_at = NULL",
                    d.rows(3, &cols)
                );
                let col = |f: fn(&ShopifyVariantRow) -> Option<String>| variants.iter().map(move |v| f(v));
                let q = sqlx::query(&upsert).bind(d.job(self.job)).bind(self.seen_by_full_pull.map(|j| d.job(j)));
                d.batch(q, variants.len())
                    .col(variants.iter().map(|v| v.id.clone()))
                    .col(variants.iter().map(|v| v.product_id.clone()))
                    .col(col(|v| v.sku.clone()))
                    .col(col(|v| v.barcode.clone()))
                    .col(col(|v| v.price.clone()))
                    .col(variants.iter().map(|v| v.inventory_quantity))
                    .col(col(|v| v.inventory_item_id.clone()))
                    .done()
                    .execute(&mut *conn)
                    .await?;
            }
        });
        let ids: Vec<String> = variants.iter().map(|v| v.id.clone()).collect();
        let keys: Vec<(String, String)> = variants
            .iter()
            .flat_map(|v| {
                product_match_keys(v.sku.as_deref(), v.barcode.as_deref()).into_iter().map(move |k| (v.id.clone(), k))
            })
            .collect();
        if !ids.is_empty() {
            replace_text_keys(&mut tx, SHOPIFY_VARIANT_KEYS, &ids, &keys).await?;
        }
        Ok(())
    }
}
