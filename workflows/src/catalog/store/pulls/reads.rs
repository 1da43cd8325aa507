//! Reads of the mirror: what the workflows, the other job families and the tests see. Listings
//! return live rows (not marked removed), ordered by id.

use dongbo_engine::{Db, JobId};
use sqlx::Row;

use super::rows::{
    DepotRow, LocationRow, NhanhCustomerRow, NhanhProductRow, ShopifyCustomerRow, ShopifyProductRow, ShopifyVariantRow,
};
use super::sweep::PullSource;
use crate::catalog::store::dialect::on_db;

/// Runs one parameterless query on either backend and maps each row with `$map` (a closure over
/// `&impl Row`); the SQL must be valid on both.
macro_rules! fetch_all {
    ($db:expr, $sql:expr, |$r:ident| $map:expr) => {
        on_db!($db, |pool, d| {
            let rows = sqlx::query($sql).fetch_all(pool).await?;
            rows.iter().map(|$r| -> Result<_, sqlx::Error> { Ok($map) }).collect::<Result<Vec<_>, _>>()?
        })
    };
}

/// Live Nhanh customers.
pub async fn list_nhanh_customers(db: &Db) -> Result<Vec<NhanhCustomerRow>, sqlx::Error> {
    Ok(fetch_all!(
        db,
        "SELECT id, name, mobile, total_amount, updated_at FROM nhanh_customers WHERE removed_at IS NULL ORDER BY id",
        |r| NhanhCustomerRow {
            id: r.try_get::<i64, _>(0)? as u64,
            name: r.try_get(1)?,
            mobile: r.try_get(2)?,
            total_amount: r.try_get(3)?,
            updated_at: r.try_get(4)?,
        }
    ))
}

/// Live Nhanh products, each with its depot stock (by depot id).
pub async fn list_nhanh_products(db: &Db) -> Result<Vec<NhanhProductRow>, sqlx::Error> {
    let mut products: Vec<NhanhProductRow> = fetch_all!(
        db,
        "SELECT id, parent_id, code, barcode, name, status, price_retail, available, updated_at
         FROM nhanh_products WHERE removed_at IS NULL ORDER BY id",
        |r| NhanhProductRow {
            id: r.try_get::<i64, _>(0)? as u64,
            parent_id: r.try_get(1)?,
            code: r.try_get(2)?,
            barcode: r.try_get(3)?,
            name: r.try_get(4)?,
            status: r.try_get(5)?,
            price_retail: r.try_get(6)?,
            available: r.try_get(7)?,
            updated_at: r.try_get(8)?,
            depots: Vec::new(),
        }
    );
    let mut stock = list_nhanh_product_depots(db).await?.into_iter().peekable();
    for p in &mut products {
        while let Some(&(pid, depot, available)) = stock.peek() {
            if pid > p.id {
                break;
            }
            if pid == p.id {
                p.depots.push((depot, available));
            }
            stock.next();
        }
    }
    Ok(products)
}

/// Every `(product id, depot id, available)`, by product then depot (`None`: not read).
pub async fn list_nhanh_product_depots(db: &Db) -> Result<Vec<(u64, u64, Option<i64>)>, sqlx::Error> {
    Ok(fetch_all!(
        db,
        "SELECT product_id, depot_id, available FROM nhanh_product_depots ORDER BY product_id, depot_id",
        |r| (r.try_get::<i64, _>(0)? as u64, r.try_get::<i64, _>(1)? as u64, r.try_get::<Option<i64>, _>(2)?)
    ))
}

/// Live Shopify products.
pub async fn list_shopify_products(db: &Db) -> Result<Vec<ShopifyProductRow>, sqlx::Error> {
    Ok(fetch_all!(db, "SELECT id, title, updated_at FROM shopify_products WHERE removed_at IS NULL ORDER BY id", |r| {
        ShopifyProductRow { id: r.try_get(0)?, title: r.try_get(1)?, updated_at: r.try_get(2)? }
    }))
}

/// Live Shopify variants.
pub async fn list_shopify_variants(db: &Db) -> Result<Vec<ShopifyVariantRow>, sqlx::Error> {
    Ok(fetch_all!(
        db,
        "SELECT id, product_id, sku, barcode, price, inventory_quantity, inventory_item_id
         FROM shopify_variants WHERE removed_at IS NULL ORDER BY id",
        |r| ShopifyVariantRow {
            id: r.try_get(0)?,
            product_id: r.try_get(1)?,
            sku: r.try_get(2)?,
            barcode: r.try_get(3)?,
            price: r.try_get(4)?,
            inventory_quantity: r.try_get(5)?,
            inventory_item_id: r.try_get(6)?,
        }
    ))
}

/// Live Shopify customers.
pub async fn list_shopify_customers(db: &Db) -> Result<Vec<ShopifyCustomerRow>, sqlx::Error> {
    Ok(fetch_all!(
        db,
        "SELECT id, display_name, email, phone, address_phone, amount_spent, total_spent, updated_at
         FROM shopify_customers WHERE removed_at IS NULL ORDER BY id",
        |r| ShopifyCustomerRow {
            id: r.try_get(0)?,
            display_name: r.try_get(1)?,
            email: r.try_get(2)?,
            phone: r.try_get(3)?,
            address_phone: r.try_get(4)?,
            amount_spent: r.try_get(5)?,
            total_spent: r.try_get(6)?,
            updated_at: r.try_get(7)?,
        }
    ))
}

/// Every Shopify location.
pub async fn list_locations(db: &Db) -> Result<Vec<LocationRow>, sqlx::Error> {
    Ok(fetch_all!(db, "SELECT id, name FROM shopify_locations ORDER BY id", |r| LocationRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?
    }))
}

/// Every Nhanh depot.
pub async fn list_depots(db: &Db) -> Result<Vec<DepotRow>, sqlx::Error> {
    Ok(fetch_all!(db, "SELECT id, name FROM nhanh_depots ORDER BY id", |r| DepotRow {
        id: r.try_get::<i64, _>(0)? as u64,
        name: r.try_get(1)?
    }))
}

/// Every `(Nhanh customer id, E.164 key)`, by id then key.
pub async fn list_nhanh_customer_keys(db: &Db) -> Result<Vec<(u64, String)>, sqlx::Error> {
    Ok(fetch_all!(db, "SELECT customer_id, phone_key FROM nhanh_customer_keys ORDER BY customer_id, phone_key", |r| (
        r.try_get::<i64, _>(0)? as u64,
        r.try_get::<String, _>(1)?
    )))
}

/// Every `(Shopify customer gid, E.164 key)`, by id then key.
pub async fn list_shopify_customer_keys(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    Ok(fetch_all!(
        db,
        "SELECT customer_id, phone_key FROM shopify_customer_keys ORDER BY customer_id, phone_key",
        |r| (r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)
    ))
}

/// Every `(Nhanh product id, sku:/barcode: key)`, by id.
pub async fn list_nhanh_product_keys(db: &Db) -> Result<Vec<(u64, String)>, sqlx::Error> {
    Ok(fetch_all!(db, "SELECT product_id, match_key FROM nhanh_product_keys ORDER BY product_id, match_key", |r| (
        r.try_get::<i64, _>(0)? as u64,
        r.try_get::<String, _>(1)?
    )))
}

/// Every `(Shopify variant gid, sku:/barcode: key)`, by id.
pub async fn list_shopify_variant_keys(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    Ok(fetch_all!(db, "SELECT variant_id, match_key FROM shopify_variant_keys ORDER BY variant_id, match_key", |r| (
        r.try_get::<String, _>(0)?,
        r.try_get::<String, _>(1)?
    )))
}

/// The stored watermark of `source` (unix seconds), if a pull of it completed.
pub async fn watermark(db: &Db, source: PullSource) -> Result<Option<i64>, sqlx::Error> {
    on_db!(db, |pool, d| {
        sqlx::query_scalar("SELECT watermark FROM pull_watermarks WHERE source = $1")
            .bind(source.as_str())
            .fetch_optional(pool)
            .await
    })
}

/// How many live rows of `source` (its first table: products, not variants) a full pull `job`
/// has not seen: what its [`MarkRemoved`](super::MarkRemoved) is about to mark.
pub async fn count_unseen(db: &Db, source: PullSource, job: JobId) -> Result<i64, sqlx::Error> {
    let table = source.tables()[0].0;
    let sql =
        format!("SELECT COUNT(*) FROM {table} WHERE removed_at IS NULL AND (pull_seen IS NULL OR pull_seen <> $1)");
    on_db!(db, |pool, d| sqlx::query_scalar(&sql).bind(d.job(job)).fetch_one(pool).await)
}

/// Row counts of the mirror: live and removed per table, plus locations and depots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogCounts {
    /// Live Nhanh customers.
    pub nhanh_customers: i64,
    /// Nhanh customers marked removed.
    pub nhanh_customers_removed: i64,
    /// Live Nhanh products.
    pub nhanh_products: i64,
    /// Nhanh products marked removed.
    pub nhanh_products_removed: i64,
    /// Live Shopify customers.
    pub shopify_customers: i64,
    /// Shopify customers marked removed.
    pub shopify_customers_removed: i64,
    /// Live Shopify products.
    pub shopify_products: i64,
    /// Shopify products marked removed.
    pub shopify_products_removed: i64,
    /// Live Shopify variants.
    pub shopify_variants: i64,
    /// Shopify variants marked removed.
    pub shopify_variants_removed: i64,
    /// Shopify locations.
    pub locations: i64,
    /// Nhanh depots.
    pub depots: i64,
}

/// Counts the mirror's rows.
pub async fn catalog_counts(db: &Db) -> Result<CatalogCounts, sqlx::Error> {
    const SQL: &str = "SELECT
        (SELECT COUNT(*) FROM nhanh_customers WHERE removed_at IS NULL),
        (SELECT COUNT(*) FROM nhanh_customers WHERE removed_at IS NOT NULL),
        (SELECT COUNT(*) FROM nhanh_products WHERE removed_at IS NULL),
        (SELECT COUNT(*) FROM nhanh_products WHERE removed_at IS NOT NULL),
        (SELECT COUNT(*) FROM shopify_customers WHERE removed_at IS NULL),
        (SELECT COUNT(*) FROM shopify_customers WHERE removed_at IS NOT NULL),
        (SELECT COUNT(*) FROM shopify_products WHERE removed_at IS NULL),
        (SELECT COUNT(*) FROM shopify_products WHERE removed_at IS NOT NULL),
        (SELECT COUNT(*) FROM shopify_variants WHERE removed_at IS NULL),
        (SELECT COUNT(*) FROM shopify_variants WHERE removed_at IS NOT NULL),
        (SELECT COUNT(*) FROM shopify_locations),
        (SELECT COUNT(*) FROM nhanh_depots)";
    let mut all: Vec<CatalogCounts> = fetch_all!(db, SQL, |r| CatalogCounts {
        nhanh_customers: r.try_get(0)?,
        nhanh_customers_removed: r.try_get(1)?,
        nhanh_products: r.try_get(2)?,
        nhanh_products_removed: r.try_get(3)?,
        shopify_customers: r.try_get(4)?,
        shopify_customers_removed: r.try_get(5)?,
        shopify_products: r.try_get(6)?,
        shopify_products_removed: r.try_get(7)?,
        shopify_variants: r.try_get(8)?,
        shopify_variants_removed: r.try_get(9)?,
        locations: r.try_get(10)?,
        depots: r.try_get(11)?,
    });
    Ok(all.pop().unwrap_or_default())
}
