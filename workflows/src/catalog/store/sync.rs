//! Catalog SQL for the sync workflows: the mappings to push (keyset pages or explicit ids),
//! manual mappings, the per-item outcome of a sync step
//! ([`SyncOutcomes`], applied in the step's transaction) and the failures `RETRY_FAILED_SYNC`
//! re-drives.

use dongbo_engine::Db;
use sqlx::Row;

use super::dialect::on_db;

/// Which family of mapping a sync handles; spelled as `sync_failures.kind` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncKind {
    /// `product_mappings`: stock per location.
    Product,
    /// `customer_mappings`: total spent.
    Customer,
}

impl SyncKind {
    /// `product` or `customer`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Product => "product",
            SyncKind::Customer => "customer",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<SyncKind> {
        match s {
            "product" => Some(SyncKind::Product),
            "customer" => Some(SyncKind::Customer),
            _ => None,
        }
    }

    pub(crate) fn table(self) -> &'static str {
        match self {
            SyncKind::Product => "product_mappings",
            SyncKind::Customer => "customer_mappings",
        }
    }
}

/// A mapping's sync state as stored (`product_mappings.state`, `customer_mappings.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingState {
    /// Known on one side only.
    Unmapped,
    /// Mapped, never pushed (or changed since).
    Pending,
    /// The last push succeeded.
    Synced,
    /// The last push failed (see `last_error` and `sync_failures`).
    Failed,
}

impl MappingState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MappingState::Unmapped => "UNMAPPED",
            MappingState::Pending => "PENDING",
            MappingState::Synced => "SYNCED",
            MappingState::Failed => "FAILED",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<MappingState> {
        match s {
            "UNMAPPED" => Some(MappingState::Unmapped),
            "PENDING" => Some(MappingState::Pending),
            "SYNCED" => Some(MappingState::Synced),
            "FAILED" => Some(MappingState::Failed),
            _ => None,
        }
    }
}

/// Which mappings a read returns.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Mapped rows with an id above `after`, in id order, at most `limit`.
    After {
        /// The last mapping id already handled.
        after: i64,
        /// Page size.
        limit: i64,
    },
    /// These mapping ids (those that exist and are mapped), in id order.
    Ids(&'a [i64]),
}

/// A customer mapping to push, with the Nhanh total it should carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSyncRow {
    /// `customer_mappings.id`.
    pub mapping_id: i64,
    /// The Nhanh customer.
    pub nhanh_customer_id: i64,
    /// `gid://shopify/Customer/…`.
    pub shopify_customer_id: String,
    /// The mapping's state.
    pub state: Option<MappingState>,
    /// The total last pushed.
    pub synced_value: Option<i64>,
    /// Whether the Nhanh customer is in the mirror (pulled and not removed).
    pub in_catalog: bool,
    /// Nhanh's `totalAmount` as mirrored (VND).
    pub total_amount: Option<i64>,
}

/// A product mapping to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSyncRow {
    /// `product_mappings.id`.
    pub mapping_id: i64,
    /// The Nhanh product.
    pub nhanh_product_id: i64,
    /// `gid://shopify/ProductVariant/…`.
    pub shopify_variant_id: String,
    /// The variant's `gid://shopify/InventoryItem/…`, when the variant is in the mirror.
    pub inventory_item_id: Option<String>,
}

/// One item's failure, waiting for `RETRY_FAILED_SYNC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFailure {
    /// Product or customer.
    pub kind: SyncKind,
    /// The mapping.
    pub mapping_id: i64,
    /// Why the last push failed.
    pub reason: String,
    /// When (unix ms).
    pub failed_at: i64,
    /// How many pushes failed in a row.
    pub attempts: i64,
}

/// Where `RETRY_FAILED_SYNC` stands in `sync_failures` (oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureCursor {
    /// `failed_at` of the last row handled.
    pub failed_at: i64,
    /// Its kind.
    pub kind: SyncKind,
    /// Its mapping.
    pub mapping_id: i64,
}

/// A mapping's sync bookkeeping, for the dashboard and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSync {
    /// The state.
    pub state: Option<MappingState>,
    /// The reason of the last failure.
    pub last_error: Option<String>,
    /// What was last pushed: the total for a customer, `{location: quantity}` for a product.
    pub synced_value: Option<serde_json::Value>,
    /// When (unix ms).
    pub synced_at: Option<i64>,
}

type R<T> = Result<T, sqlx::Error>;

mod outcomes;
pub use outcomes::SyncOutcomes;

const CUSTOMER_COLS: &str = "SELECT m.id, m.nhanh_customer_id, m.shopify_customer_id, m.state, m.synced_value, \
     (n.id IS NOT NULL AND n.removed_at IS NULL) AS present, n.total_amount \
     FROM customer_mappings m LEFT JOIN nhanh_customers n ON n.id = m.nhanh_customer_id \
     WHERE m.shopify_customer_id IS NOT NULL";

const PRODUCT_COLS: &str = "SELECT m.id, m.nhanh_product_id, m.shopify_variant_id, v.inventory_item_id \
     FROM product_mappings m LEFT JOIN shopify_variants v ON v.id = m.shopify_variant_id AND v.removed_at IS NULL \
     WHERE m.shopify_variant_id IS NOT NULL";

/// `base` narrowed to `sel`: parameters `$1`, `$2` (a page) or `$1` (the ids, `ids_in`).
fn selection_sql(base: &str, sel: Selection<'_>, ids_in: &str) -> String {
    match sel {
        Selection::After { .. } => format!("{base} AND m.id > $1 ORDER BY m.id LIMIT $2"),
        Selection::Ids(_) => format!("{base} AND m.id {ids_in} ORDER BY m.id"),
    }
}

fn customer_row<'r, Rw: Row>(r: &'r Rw) -> R<CustomerSyncRow>
where
    usize: sqlx::ColumnIndex<Rw>,
    i64: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
    String: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
    bool: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
{
    let state: String = r.try_get(3)?;
    Ok(CustomerSyncRow {
        mapping_id: r.try_get(0)?,
        nhanh_customer_id: r.try_get(1)?,
        shopify_customer_id: r.try_get(2)?,
        state: MappingState::parse(&state),
        synced_value: r.try_get(4)?,
        in_catalog: r.try_get(5)?,
        total_amount: r.try_get(6)?,
    })
}

fn product_row<'r, Rw: Row>(r: &'r Rw) -> R<ProductSyncRow>
where
    usize: sqlx::ColumnIndex<Rw>,
    i64: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
    String: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
{
    Ok(ProductSyncRow {
        mapping_id: r.try_get(0)?,
        nhanh_product_id: r.try_get(1)?,
        shopify_variant_id: r.try_get(2)?,
        inventory_item_id: r.try_get(3)?,
    })
}

/// Customer mappings to push, with the mirrored Nhanh total.
pub async fn customer_rows(db: &Db, sel: Selection<'_>) -> R<Vec<CustomerSyncRow>> {
    on_db!(db, |pool, d| {
        let sql = selection_sql(CUSTOMER_COLS, sel, &d.in_list(1, "bigint"));
        let q = sqlx::query(&sql);
        let q = match sel {
            Selection::After { after, limit } => q.bind(after).bind(limit),
            Selection::Ids(ids) => q.bind(d.list(ids)),
        };
        q.fetch_all(pool).await?.iter().map(customer_row).collect()
    })
}

/// Product mappings to push, with the variant's inventory item.
pub async fn product_rows(db: &Db, sel: Selection<'_>) -> R<Vec<ProductSyncRow>> {
    on_db!(db, |pool, d| {
        let sql = selection_sql(PRODUCT_COLS, sel, &d.in_list(1, "bigint"));
        let q = sqlx::query(&sql);
        let q = match sel {
            Selection::After { after, limit } => q.bind(after).bind(limit),
            Selection::Ids(ids) => q.bind(d.list(ids)),
        };
        q.fetch_all(pool).await?.iter().map(product_row).collect()
    })
}

/// How many mappings of `kind` have a Shopify side (what a full sync goes through).
pub async fn count_mapped(db: &Db, kind: SyncKind) -> R<i64> {
    let column = match kind {
        SyncKind::Product => "shopify_variant_id",
        SyncKind::Customer => "shopify_customer_id",
    };
    let sql = format!("SELECT COUNT(*) FROM {} WHERE {column} IS NOT NULL", kind.table());
    on_db!(db, |pool, d| sqlx::query_scalar(&sql).fetch_one(pool).await)
}

/// Maps a Nhanh product to a Shopify variant by hand (method `manual`, state `PENDING`),
/// replacing whatever mapping the product had and forgetting its sync history. Returns the
/// mapping id.
pub async fn set_manual_product_mapping(db: &Db, nhanh_product_id: i64, variant_id: &str, now_ms: i64) -> R<i64> {
    set_manual(db, SyncKind::Product, nhanh_product_id, variant_id, now_ms).await
}

/// Maps a Nhanh customer to a Shopify customer by hand; see [`set_manual_product_mapping`].
pub async fn set_manual_customer_mapping(db: &Db, nhanh_customer_id: i64, customer_id: &str, now_ms: i64) -> R<i64> {
    set_manual(db, SyncKind::Customer, nhanh_customer_id, customer_id, now_ms).await
}

async fn set_manual(db: &Db, kind: SyncKind, nhanh_id: i64, shopify_id: &str, now_ms: i64) -> R<i64> {
    let (nhanh_col, shop_col) = match kind {
        SyncKind::Product => ("nhanh_product_id", "shopify_variant_id"),
        SyncKind::Customer => ("nhanh_customer_id", "shopify_customer_id"),
    };
    let upsert = format!(
        "INSERT INTO {t} ({nhanh_col}, {shop_col}, method, state, updated_at) VALUES ($1, $2, 'manual', 'PENDING', $3) \
         ON CONFLICT ({nhanh_col}) DO UPDATE SET {shop_col} = excluded.{shop_col}, method = 'manual', \
         match_key = NULL, job_id = NULL, state = 'PENDING', last_error = NULL, synced_value = NULL, \
         synced_at = NULL, updated_at = excluded.updated_at RETURNING id",
        t = kind.table()
    );
    on_db!(db, |pool, d| {
        let mut tx = pool.begin().await?;
        let id: i64 =
            sqlx::query_scalar(&upsert).bind(nhanh_id).bind(shopify_id).bind(now_ms).fetch_one(&mut *tx).await?;
        sqlx::query("DELETE FROM sync_failures WHERE kind = $1 AND mapping_id = $2")
            .bind(kind.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    })
}

/// A mapping's sync bookkeeping.
pub async fn mapping_sync(db: &Db, kind: SyncKind, mapping_id: i64) -> R<Option<MappingSync>> {
    // The value as JSON text on both backends: a customer's total is a number, a product's
    // `{location: quantity}` is stored as JSON.
    let sql =
        format!("SELECT state, last_error, CAST(synced_value AS TEXT), synced_at FROM {} WHERE id = $1", kind.table());
    type Row = (String, Option<String>, Option<String>, Option<i64>);
    let row: Option<Row> = on_db!(db, |pool, d| sqlx::query_as(&sql).bind(mapping_id).fetch_optional(pool).await?);
    Ok(row.map(|(state, last_error, value, synced_at)| MappingSync {
        state: MappingState::parse(&state),
        last_error,
        synced_value: value.and_then(|v| serde_json::from_str(&v).ok()),
        synced_at,
    }))
}

fn failure_row<'r, Rw: Row>(r: &'r Rw) -> R<Option<SyncFailure>>
where
    usize: sqlx::ColumnIndex<Rw>,
    i64: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
    String: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
{
    let kind: String = r.try_get(0)?;
    let Some(kind) = SyncKind::parse(&kind) else { return Ok(None) };
    Ok(Some(SyncFailure {
        kind,
        mapping_id: r.try_get(1)?,
        reason: r.try_get(2)?,
        failed_at: r.try_get(3)?,
        attempts: r.try_get(4)?,
    }))
}

/// How many failures were recorded at or before `cutoff` (unix ms).
pub async fn count_failures(db: &Db, cutoff: i64) -> R<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM sync_failures WHERE failed_at <= $1";
    on_db!(db, |pool, d| sqlx::query_scalar(SQL).bind(cutoff).fetch_one(pool).await)
}

/// Failures recorded at or before `cutoff` (unix ms) and after `cursor`, oldest first.
pub async fn failures_page(db: &Db, cutoff: i64, cursor: Option<&FailureCursor>, limit: i64) -> R<Vec<SyncFailure>> {
    let (c_at, c_kind, c_id) = match cursor {
        Some(c) => (c.failed_at, c.kind.as_str(), c.mapping_id),
        None => (i64::MIN, "", i64::MIN),
    };
    const SQL: &str = "SELECT kind, mapping_id, reason, failed_at, CAST(attempts AS BIGINT) FROM sync_failures \
         WHERE failed_at <= $1 AND (failed_at, kind, mapping_id) > ($2, $3, $4) \
         ORDER BY failed_at, kind, mapping_id LIMIT $5";
    let rows = on_db!(db, |pool, d| {
        sqlx::query(SQL)
            .bind(cutoff)
            .bind(c_at)
            .bind(c_kind)
            .bind(c_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(failure_row)
            .collect::<R<Vec<_>>>()?
    });
    Ok(rows.into_iter().flatten().collect())
}
