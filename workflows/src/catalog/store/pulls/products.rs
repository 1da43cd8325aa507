//! Product upserts: Nhanh products with their depot stock, Shopify products and variants, each
//! with its product match key.

use async_trait::async_trait;
use dongbo_engine::{EffectError, JobId, StepEffects, StoreTx};

use super::key_tables::{replace_int_keys, replace_text_keys, sqlite_job, NHANH_PRODUCT_KEYS, SHOPIFY_VARIANT_KEYS};
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
        let stock: Vec<(i64, i64, i64)> = rows
            .iter()
            .flat_map(|r| dedup_by_id(&r.depots, |d| d.0).into_iter().map(|&(d, a)| (r.id as i64, d as i64, a)))
            .collect();
        let mut depots: Vec<i64> = stock.iter().map(|s| s.1).collect();
        depots.sort_unstable();
        depots.dedup();
        match &mut tx {
            StoreTx::Sqlite(conn) => {
                let job = sqlite_job(self.job);
                let seen = self.seen_by_full_pull.map(sqlite_job);
                for r in &rows {
                    sqlx::query(
                        "INSERT INTO nhanh_products (id, parent_id, code, barcode, name, status, price_retail, available,
                           updated_at, pulled_by, pull_seen, removed_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
                         ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, code = excluded.code,
                           barcode = excluded.barcode, name = excluded.name, status = excluded.status,
                           price_retail = excluded.price_retail, available = excluded.available,
                           updated_at = excluded.updated_at, pulled_by = excluded.pulled_by,
                           pull_seen = COALESCE(excluded.pull_seen, nhanh_products.pull_seen), removed_at = NULL",
                    )
                    .bind(r.id as i64)
                    .bind(r.parent_id)
                    .bind(&r.code)
                    .bind(&r.barcode)
                    .bind(&r.name)
                    .bind(r.status)
                    .bind(r.price_retail)
                    .bind(r.available)
                    .bind(r.updated_at)
                    .bind(&job)
                    .bind(&seen)
                    .execute(&mut **conn)
                    .await?;
                    sqlx::query("DELETE FROM nhanh_product_depots WHERE product_id = ?")
                        .bind(r.id as i64)
                        .execute(&mut **conn)
                        .await?;
                }
                for (p, d, a) in &stock {
                    sqlx::query("INSERT INTO nhanh_product_depots (product_id, depot_id, available) VALUES (?, ?, ?)")
                        .bind(p)
                        .bind(d)
                        .bind(a)
                        .execute(&mut **conn)
                        .await?;
                }
                for d in &depots {
                    sqlx::query("INSERT OR IGNORE INTO nhanh_depots (id, name) VALUES (?, NULL)")
                        .bind(d)
                        .execute(&mut **conn)
                        .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                sqlx::query(
                    "INSERT INTO nhanh_products (id, parent_id, code, barcode, name, status, price_retail, available,
                       updated_at, pulled_by, pull_seen, removed_at)
                     SELECT t.*, $10, $11::uuid, NULL
                     FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                                 $7::bigint[], $8::bigint[], $9::bigint[])
                       AS t(id, parent_id, code, barcode, name, status, price_retail, available, updated_at)
                     ON CONFLICT (id) DO UPDATE SET parent_id = EXCLUDED.parent_id, code = EXCLUDED.code,
                       barcode = EXCLUDED.barcode, name = EXCLUDED.name, status = EXCLUDED.status,
                       price_retail = EXCLUDED.price_retail, available = EXCLUDED.available,
                       updated_at = EXCLUDED.updated_at, pulled_by = EXCLUDED.pulled_by,
                       pull_seen = COALESCE(EXCLUDED.pull_seen, nhanh_products.pull_seen), removed_at = NULL",
                )
                .bind(&ids)
                .bind(rows.iter().map(|r| r.parent_id).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.code.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.barcode.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.status).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.price_retail).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.available).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
                .bind(self.job.as_uuid())
                .bind(self.seen_by_full_pull.map(|j| j.as_uuid()))
                .execute(&mut **conn)
                .await?;
                sqlx::query("DELETE FROM nhanh_product_depots WHERE product_id = ANY($1::bigint[])")
                    .bind(&ids)
                    .execute(&mut **conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO nhanh_product_depots (product_id, depot_id, available)
                     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[])",
                )
                .bind(stock.iter().map(|s| s.0).collect::<Vec<_>>())
                .bind(stock.iter().map(|s| s.1).collect::<Vec<_>>())
                .bind(stock.iter().map(|s| s.2).collect::<Vec<_>>())
                .execute(&mut **conn)
                .await?;
                sqlx::query(
                    "INSERT INTO nhanh_depots (id, name) SELECT d, NULL FROM UNNEST($1::bigint[]) AS d
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&depots)
                .execute(&mut **conn)
                .await?;
            }
        }
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
        match &mut tx {
            StoreTx::Sqlite(conn) => {
                let job = sqlite_job(self.job);
                let seen = self.seen_by_full_pull.map(sqlite_job);
                for p in &products {
                    sqlx::query(
                        "INSERT INTO shopify_products (id, title, updated_at, pulled_by, pull_seen, removed_at)
                         VALUES (?, ?, ?, ?, ?, NULL)
                         ON CONFLICT (id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at,
                           pulled_by = excluded.pulled_by,
                           pull_seen = COALESCE(excluded.pull_seen, shopify_products.pull_seen), removed_at = NULL",
                    )
                    .bind(&p.id)
                    .bind(&p.title)
                    .bind(&p.updated_at)
                    .bind(&job)
                    .bind(&seen)
                    .execute(&mut **conn)
                    .await?;
                }
                for v in &variants {
                    sqlx::query(
                        "INSERT INTO shopify_variants (id, product_id, sku, barcode, price, inventory_quantity,
                           inventory_item_id, pulled_by, pull_seen, removed_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
                         ON CONFLICT (id) DO UPDATE SET product_id = excluded.product_id, sku = excluded.sku,
                           barcode = excluded.barcode, price = excluded.price,
                           inventory_quantity = excluded.inventory_quantity,
                           inventory_item_id = excluded.inventory_item_id, pulled_by = excluded.pulled_by,
                           pull_seen = COALESCE(excluded.pull_seen, shopify_variants.pull_seen), removed_at = NULL",
                    )
                    .bind(&v.id)
                    .bind(&v.product_id)
                    .bind(&v.sku)
                    .bind(&v.barcode)
                    .bind(&v.price)
                    .bind(v.inventory_quantity)
                    .bind(&v.inventory_item_id)
                    .bind(&job)
                    .bind(&seen)
                    .execute(&mut **conn)
                    .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                if !products.is_empty() {
                    sqlx::query(
                        "INSERT INTO shopify_products (id, title, updated_at, pulled_by, pull_seen, removed_at)
                         SELECT t.*, $4, $5::uuid, NULL FROM UNNEST($1::text[], $2::text[], $3::text[])
                           AS t(id, title, updated_at)
                         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, updated_at = EXCLUDED.updated_at,
                           pulled_by = EXCLUDED.pulled_by,
                           pull_seen = COALESCE(EXCLUDED.pull_seen, shopify_products.pull_seen), removed_at = NULL",
                    )
                    .bind(products.iter().map(|p| p.id.clone()).collect::<Vec<_>>())
                    .bind(products.iter().map(|p| p.title.clone()).collect::<Vec<_>>())
                    .bind(products.iter().map(|p| p.updated_at.clone()).collect::<Vec<_>>())
                    .bind(self.job.as_uuid())
                    .bind(self.seen_by_full_pull.map(|j| j.as_uuid()))
                    .execute(&mut **conn)
                    .await?;
                }
                if !variants.is_empty() {
                    let col =
                        |f: fn(&ShopifyVariantRow) -> Option<String>| variants.iter().map(|v| f(v)).collect::<Vec<_>>();
                    sqlx::query(
                        "INSERT INTO shopify_variants (id, product_id, sku, barcode, price, inventory_quantity,
                           inventory_item_id, pulled_by, pull_seen, removed_at)
                         SELECT t.*, $8, $9::uuid, NULL
                         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
                           AS t(id, product_id, sku, barcode, price, inventory_quantity, inventory_item_id)
                         ON CONFLICT (id) DO UPDATE SET product_id = EXCLUDED.product_id, sku = EXCLUDED.sku,
                           barcode = EXCLUDED.barcode, price = EXCLUDED.price,
                           inventory_quantity = EXCLUDED.inventory_quantity,
                           inventory_item_id = EXCLUDED.inventory_item_id, pulled_by = EXCLUDED.pulled_by,
                           pull_seen = COALESCE(EXCLUDED.pull_seen, shopify_variants.pull_seen), removed_at = NULL",
                    )
                    .bind(variants.iter().map(|v| v.id.clone()).collect::<Vec<_>>())
                    .bind(variants.iter().map(|v| v.product_id.clone()).collect::<Vec<_>>())
                    .bind(col(|v| v.sku.clone()))
                    .bind(col(|v| v.barcode.clone()))
                    .bind(col(|v| v.price.clone()))
                    .bind(variants.iter().map(|v| v.inventory_quantity).collect::<Vec<_>>())
                    .bind(col(|v| v.inventory_item_id.clone()))
                    .bind(self.job.as_uuid())
                    .bind(self.seen_by_full_pull.map(|j| j.as_uuid()))
                    .execute(&mut **conn)
                    .await?;
                }
            }
        }
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
