//! SQL of RECONCILE: the mapped items whose two mirrors disagree after fresh pulls.
//!
//! Stock, two ways:
//! - totals: the Nhanh depots that feed Shopify (those in `location_mappings`, or every depot
//!   when none is mapped and the shop has one location, as PRODUCT_SYNC reads them) summed per
//!   product, against the variant's `inventoryQuantity` as the Shopify pull saw it;
//! - per location, against Shopify: each mapped location's sum over its depots against the
//!   level Shopify holds there, as this reconcile read it (`shopify_inventory_levels`, filled by
//!   its levels export): a stock transfer between two Nhanh depots feeding different locations,
//!   or between two Shopify locations made by hand in Shopify, changes two levels and leaves the
//!   total as it was, so only this comparison sees it;
//! - per location, against dongbo's own record: the same sum against the number dongbo last set
//!   there (the mapping's `synced_value`), for a level the export did not carry.
//!
//! A product missing one of the mapped depots' rows, a feeding depot whose value Nhanh did not
//! send (stored as NULL), or a variant whose quantity was not read, is not compared: a number
//! that was not read is never taken for zero.
//!
//! Total spent: Nhanh's `totalAmount` against the customer's `custom.total_spent` metafield as
//! the Shopify pull saw it (absent on Shopify counts as drift; absent on Nhanh is not compared).

use async_trait::async_trait;
use dongbo_engine::{Db, EffectError, JobId, StepEffects, StoreTx};
use sqlx::Row;

use super::dialect::{on_db, on_tx};
use super::pulls::dedup_by_id;
use crate::connectors::shopify::bulk::ShopifyLevel;

type R<T> = Result<T, sqlx::Error>;

/// What a comparison's row is, from its location.
type Side = fn(String) -> DriftSide;

/// A mapped product whose stock differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockDrift {
    /// The `product_mappings` id.
    pub mapping_id: i64,
    /// The Nhanh product.
    pub nhanh_product_id: i64,
    /// The Shopify variant.
    pub variant_id: String,
    /// Which two numbers differ.
    pub side: DriftSide,
    /// What Nhanh's depots that feed Shopify (or that location) hold.
    pub nhanh: i64,
    /// What Shopify shows in total or at the location, or what dongbo last set at the location
    /// (`None`: never set there).
    pub shopify: Option<i64>,
}

/// Where a product's stock drifted, and against what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftSide {
    /// The variant's total in Shopify.
    Total,
    /// The level Shopify holds at this location (read by the reconcile's levels export).
    Level(String),
    /// What dongbo last set at this location.
    LastSet(String),
}

impl DriftSide {
    /// The Shopify location, for a per-location drift.
    pub fn location(&self) -> Option<&str> {
        match self {
            DriftSide::Total => None,
            DriftSide::Level(l) | DriftSide::LastSet(l) => Some(l),
        }
    }
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

/// Per mapped location, the products whose depots' sum differs from `{theirs}`, with `{join}`
/// joined to the mapping `m`, variant `v` and location sums `pl`.
fn location_sql(theirs: &str, join: &str, differs: &str) -> String {
    format!(
        "WITH wanted AS (SELECT location_id, COUNT(*) AS n FROM location_mappings GROUP BY location_id),
        per_location AS (
            SELECT d.product_id, l.location_id, CAST(SUM(d.available) AS BIGINT) AS available, COUNT(*) AS n,
                   COUNT(d.available) AS read_n
            FROM nhanh_product_depots d JOIN location_mappings l ON l.depot_id = d.depot_id
            GROUP BY d.product_id, l.location_id
        )
        SELECT CAST(m.id AS BIGINT) AS mapping_id, CAST(m.nhanh_product_id AS BIGINT) AS nhanh_product_id,
               m.shopify_variant_id, pl.location_id, pl.available, {theirs} AS shopify
        FROM product_mappings m
        JOIN nhanh_products p ON p.id = m.nhanh_product_id AND p.removed_at IS NULL
        JOIN shopify_variants v ON v.id = m.shopify_variant_id AND v.removed_at IS NULL
        JOIN per_location pl ON pl.product_id = m.nhanh_product_id
        JOIN wanted w ON w.location_id = pl.location_id AND w.n = pl.n
        {join}
        WHERE pl.read_n = pl.n AND {differs}
        ORDER BY m.id, pl.location_id"
    )
}

/// Against the levels this reconcile (`$1`) read: a level it did not read, or read without its
/// `available`, is not compared.
fn level_sql() -> String {
    location_sql(
        "CAST(sl.available AS BIGINT)",
        "JOIN shopify_inventory_levels sl ON sl.inventory_item_id = v.inventory_item_id
              AND sl.location_id = pl.location_id AND sl.read_by = $1",
        "sl.available IS NOT NULL AND sl.available <> pl.available",
    )
}

/// Against what dongbo last set; `pushed` is the dialect's read of `m.synced_value` at
/// `pl.location_id`.
fn last_set_sql(pushed: &str) -> String {
    location_sql(pushed, "", &format!("m.synced_value IS NOT NULL AND ({pushed} IS NULL OR {pushed} <> pl.available)"))
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
/// by mapping id: each product once, its total's difference first when it has one, then a
/// location's level as `job` read it, then what dongbo last set there.
pub async fn stock_drift(db: &Db, job: JobId) -> R<Vec<StockDrift>> {
    let mut all = on_db!(db, |pool, d| {
        let mut all = Vec::new();
        let pushed = d.json_int("m.synced_value", "pl.location_id");
        // Each comparison in the order its rows win, whether it takes the reconcile's id (only
        // the level one: the levels this reconcile read), and what its rows' location means.
        let compares: [(String, bool, Side); 3] = [
            (STOCK_SQL.to_owned(), false, |_| DriftSide::Total),
            (level_sql(), true, DriftSide::Level),
            (last_set_sql(&pushed), false, DriftSide::LastSet),
        ];
        for (sql, takes_job, side) in compares {
            let query = if takes_job { sqlx::query(&sql).bind(d.job(job)) } else { sqlx::query(&sql) };
            for r in query.fetch_all(pool).await? {
                // A per-location row always names its location (it comes from the mappings).
                let location: Option<String> = r.try_get("location_id")?;
                all.push(StockDrift {
                    mapping_id: r.try_get("mapping_id")?,
                    nhanh_product_id: r.try_get("nhanh_product_id")?,
                    variant_id: r.try_get("shopify_variant_id")?,
                    side: location.map_or(DriftSide::Total, side),
                    nhanh: r.try_get("available")?,
                    shopify: r.try_get("shopify")?,
                });
            }
        }
        Ok::<_, sqlx::Error>(all)
    })?;
    // Stable: for each mapping, the first comparison that found it wins.
    all.sort_by_key(|d| d.mapping_id);
    all.dedup_by_key(|d| d.mapping_id);
    Ok(all)
}

/// Records the levels a reconcile's export read (`read_by` = `job`), replacing earlier reads of
/// the same item and location.
#[derive(Debug, Clone)]
pub struct UpsertShopifyLevels {
    /// The reconcile.
    pub job: JobId,
    /// The levels of one chunk of the export.
    pub rows: Vec<ShopifyLevel>,
}

#[async_trait]
impl StepEffects for UpsertShopifyLevels {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        // One row per key: a later line for the same item and location wins.
        let rows = dedup_by_id(&self.rows, |r| (r.inventory_item_id.clone(), r.location_id.clone()));
        if rows.is_empty() {
            return Ok(());
        }
        on_tx!(&mut tx, |conn, d| {
            let upsert = format!(
                "INSERT INTO shopify_inventory_levels (inventory_item_id, location_id, available, read_by)
                 SELECT t.inventory_item_id, t.location_id, t.available, $1 FROM {} WHERE true
                 ON CONFLICT (inventory_item_id, location_id) DO UPDATE
                 SET available = excluded.available, read_by = excluded.read_by",
                d.rows(2, &[("inventory_item_id", "text"), ("location_id", "text"), ("available", "bigint")])
            );
            d.batch(sqlx::query(&upsert).bind(d.job(self.job)), rows.len())
                .col(rows.iter().map(|r| r.inventory_item_id.clone()))
                .col(rows.iter().map(|r| r.location_id.clone()))
                .col(rows.iter().map(|r| r.available))
                .done()
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }
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
