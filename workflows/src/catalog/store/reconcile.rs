//! SQL of RECONCILE: the mapped items whose two mirrors disagree after fresh pulls.
//!
//! Stock, two ways:
//! - totals: the Nhanh depots that feed Shopify (those in `location_mappings`, or every depot
//!   when none is mapped and the shop has one location, as PRODUCT_SYNC reads them) summed per
//!   product, against the variant's `inventoryQuantity` as the Shopify pull saw it;
//! - per location: each mapped location's sum over its depots against the number dongbo last
//!   set there (the mapping's `synced_value`), which a stock transfer between two depots feeding
//!   different locations changes while the total stays the same. (A transfer between two
//!   locations made in Shopify, whose `inventory_levels/update` deliveries were all lost, is not
//!   seen: the Shopify mirror holds each variant's total, not its levels.)
//!
//! A product missing one of the mapped depots' rows, a feeding depot whose value Nhanh did not
//! send (stored as NULL), or a variant whose quantity was not read, is not compared: a number
//! that was not read is never taken for zero.
//!
//! Total spent: Nhanh's `totalAmount` against the customer's `custom.total_spent` metafield as
//! the Shopify pull saw it (absent on Shopify counts as drift; absent on Nhanh is not compared).

use dongbo_engine::Db;
use sqlx::Row;

use super::dialect::on_db;

type R<T> = Result<T, sqlx::Error>;

/// A mapped product whose stock differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockDrift {
    /// The `product_mappings` id.
    pub mapping_id: i64,
    /// The Nhanh product.
    pub nhanh_product_id: i64,
    /// The Shopify variant.
    pub variant_id: String,
    /// Where: `None` for the product's total, else the Shopify location.
    pub location: Option<String>,
    /// What Nhanh's depots that feed Shopify (or that location) hold.
    pub nhanh: i64,
    /// What Shopify shows in total, or what dongbo last set at that location (`None`: never set
    /// there).
    pub shopify: Option<i64>,
}

/// A mapped customer whose total spent differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendDrift {
    /// The `customer_mappings` id.
    pub mapping_id: i64,
    /// The Nhanh customer.
    pub nhanh_customer_id: i64,
    /// The Shopify customer.
    pub shopify_customer_id: String,
    /// Nhanh's total.
    pub nhanh: i64,
    /// Shopify's metafield value, if it has one.
    pub shopify: Option<String>,
}

const STOCK_SQL: &str = "
    WITH mapped AS (SELECT COUNT(*) AS n FROM location_mappings),
    feeding AS (
        SELECT d.product_id, CAST(SUM(d.available) AS BIGINT) AS available, COUNT(*) AS n,
               COUNT(d.available) AS read_n
        FROM nhanh_product_depots d
        WHERE (SELECT n FROM mapped) = 0 OR d.depot_id IN (SELECT depot_id FROM location_mappings)
        GROUP BY d.product_id
    )
    SELECT CAST(m.id AS BIGINT) AS mapping_id, CAST(m.nhanh_product_id AS BIGINT) AS nhanh_product_id,
           m.shopify_variant_id, CAST(NULL AS TEXT) AS location_id, f.available,
           CAST(v.inventory_quantity AS BIGINT) AS shopify
    FROM product_mappings m
    JOIN nhanh_products p ON p.id = m.nhanh_product_id AND p.removed_at IS NULL
    JOIN feeding f ON f.product_id = m.nhanh_product_id
    JOIN shopify_variants v ON v.id = m.shopify_variant_id AND v.removed_at IS NULL
    WHERE v.inventory_quantity IS NOT NULL AND f.read_n = f.n
      AND ((SELECT n FROM mapped) = 0 OR f.n = (SELECT n FROM mapped))
      AND f.available <> v.inventory_quantity
    ORDER BY m.id";

/// Per mapped location, the products whose depots' sum differs from what dongbo last set there;
/// `{pushed}` is the dialect's read of `m.synced_value` at `pl.location_id`.
fn location_sql(pushed: &str) -> String {
    format!(
        "WITH wanted AS (SELECT location_id, COUNT(*) AS n FROM location_mappings GROUP BY location_id),
        per_location AS (
            SELECT d.product_id, l.location_id, CAST(SUM(d.available) AS BIGINT) AS available, COUNT(*) AS n,
                   COUNT(d.available) AS read_n
            FROM nhanh_product_depots d JOIN location_mappings l ON l.depot_id = d.depot_id
            GROUP BY d.product_id, l.location_id
        )
        SELECT CAST(m.id AS BIGINT) AS mapping_id, CAST(m.nhanh_product_id AS BIGINT) AS nhanh_product_id,
               m.shopify_variant_id, pl.location_id, pl.available, {pushed} AS shopify
        FROM product_mappings m
        JOIN nhanh_products p ON p.id = m.nhanh_product_id AND p.removed_at IS NULL
        JOIN shopify_variants v ON v.id = m.shopify_variant_id AND v.removed_at IS NULL
        JOIN per_location pl ON pl.product_id = m.nhanh_product_id
        JOIN wanted w ON w.location_id = pl.location_id AND w.n = pl.n
        WHERE m.synced_value IS NOT NULL AND pl.read_n = pl.n
          AND ({pushed} IS NULL OR {pushed} <> pl.available)
        ORDER BY m.id, pl.location_id"
    )
}

const SPEND_SQL: &str = "
    SELECT CAST(m.id AS BIGINT) AS mapping_id, CAST(m.nhanh_customer_id AS BIGINT) AS nhanh_customer_id,
           m.shopify_customer_id, CAST(n.total_amount AS BIGINT) AS nhanh, s.total_spent AS shopify
    FROM customer_mappings m
    JOIN nhanh_customers n ON n.id = m.nhanh_customer_id AND n.removed_at IS NULL
    JOIN shopify_customers s ON s.id = m.shopify_customer_id AND s.removed_at IS NULL
    WHERE n.total_amount IS NOT NULL
      AND (s.total_spent IS NULL OR s.total_spent <> CAST(n.total_amount AS TEXT))
    ORDER BY m.id";

/// Mapped products whose Shopify stock differs from Nhanh's, in total or at a mapped location,
/// by mapping id: each product once, its total's difference first when it has one.
pub async fn stock_drift(db: &Db) -> R<Vec<StockDrift>> {
    let mut all = on_db!(db, |pool, d| {
        let mut all = Vec::new();
        for sql in [STOCK_SQL.to_owned(), location_sql(&d.json_int("m.synced_value", "pl.location_id"))] {
            for r in sqlx::query(&sql).fetch_all(pool).await? {
                all.push(StockDrift {
                    mapping_id: r.try_get("mapping_id")?,
                    nhanh_product_id: r.try_get("nhanh_product_id")?,
                    variant_id: r.try_get("shopify_variant_id")?,
                    location: r.try_get("location_id")?,
                    nhanh: r.try_get("available")?,
                    shopify: r.try_get("shopify")?,
                });
            }
        }
        Ok::<_, sqlx::Error>(all)
    })?;
    // Stable: for each mapping, the total's row (pushed first) wins over its locations' rows.
    all.sort_by_key(|d| d.mapping_id);
    all.dedup_by_key(|d| d.mapping_id);
    Ok(all)
}

/// Mapped customers whose Shopify total spent differs from Nhanh's, by mapping id.
pub async fn spend_drift(db: &Db) -> R<Vec<SpendDrift>> {
    on_db!(db, |pool, d| {
        let rows = sqlx::query(SPEND_SQL).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                Ok(SpendDrift {
                    mapping_id: r.try_get("mapping_id")?,
                    nhanh_customer_id: r.try_get("nhanh_customer_id")?,
                    shopify_customer_id: r.try_get("shopify_customer_id")?,
                    nhanh: r.try_get("nhanh")?,
                    shopify: r.try_get("shopify")?,
                })
            })
            .collect()
    })
}
