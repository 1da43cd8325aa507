//! Nhanh v3 wire types: request filters and the items of `product/list`, `product/inventory`
//! and `customer/list`, decoded tolerantly (see [`crate::connectors::lenient`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::connectors::lenient;

/// One page of a Nhanh listing.
#[derive(Debug, Clone, PartialEq)]
pub struct NhanhPage<T> {
    /// The rows of this page (possibly fewer than the page size even when more follow).
    pub items: Vec<T>,
    /// The cursor for the next page, to be passed back exactly as received; `None` at the end.
    pub next: Option<Value>,
    /// The total number of rows, reported on the first page only.
    pub total_items: Option<u64>,
}

/// An `{id, name}` reference (a customer's level or group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NhanhRef {
    /// The referenced id.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub id: Option<u64>,
    /// Its display name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
}

/// A product's prices (VND).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NhanhPrices {
    /// Retail price.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub retail: Option<f64>,
    /// Import price.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub import: Option<f64>,
    /// Price before a discount.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub old: Option<f64>,
    /// Wholesale price.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub wholesale: Option<f64>,
    /// Average cost.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub avg_cost: Option<f64>,
}

/// A product's images.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NhanhImages {
    /// The main image URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub avatar: Option<String>,
    /// Other image URLs.
    #[serde(default, deserialize_with = "lenient::list")]
    pub others: Vec<String>,
}

/// Stock of one product in one depot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NhanhDepotStock {
    /// The depot id.
    #[serde(deserialize_with = "lenient::u64")]
    pub id: u64,
    /// Physically present.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub remain: Option<f64>,
    /// On its way to customers.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub shipping: Option<f64>,
    /// Damaged.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub damaged: Option<f64>,
    /// Held for orders.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub holding: Option<f64>,
    /// Being moved between depots (Nhanh's spelling).
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub transfering: Option<f64>,
    /// Sellable: what is pushed to Shopify.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub available: Option<f64>,
}

/// A product's stock, in total and per depot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NhanhInventory {
    /// Physically present, all depots.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub remain: Option<f64>,
    /// On its way to customers.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub shipping: Option<f64>,
    /// Damaged.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub damaged: Option<f64>,
    /// Held for orders.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub holding: Option<f64>,
    /// Being moved between depots.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub transfering: Option<f64>,
    /// Sellable, all depots.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub available: Option<f64>,
    /// Per depot (arrives as a list or as an object keyed by depot id).
    #[serde(default, deserialize_with = "lenient::list")]
    pub depots: Vec<NhanhDepotStock>,
}

/// An item of `product/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NhanhProduct {
    /// Nhanh's product id.
    #[serde(deserialize_with = "lenient::u64")]
    pub id: u64,
    /// The parent product of a variant (null, 0 or -1 for none).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub parent_id: Option<i64>,
    /// The SKU.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub code: Option<String>,
    /// The barcode.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub barcode: Option<String>,
    /// The name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// 1 new, 2 selling, 3 stopped, 4 out of stock.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub status: Option<i64>,
    /// Prices.
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub prices: Option<NhanhPrices>,
    /// Images.
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub images: Option<NhanhImages>,
    /// Stock.
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub inventory: Option<NhanhInventory>,
    /// Last change, Unix seconds.
    #[serde(default, deserialize_with = "lenient::opt_unix_time")]
    pub updated_at: Option<i64>,
    /// Creation, Unix seconds.
    #[serde(default, deserialize_with = "lenient::opt_unix_time")]
    pub created_at: Option<i64>,
}

/// An item of `product/inventory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NhanhProductInventory {
    /// The product.
    #[serde(alias = "id", deserialize_with = "lenient::u64")]
    pub product_id: u64,
    /// Its stock.
    #[serde(flatten)]
    pub inventory: NhanhInventory,
}

/// An item of `customer/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NhanhCustomer {
    /// Nhanh's customer id.
    #[serde(deserialize_with = "lenient::u64")]
    pub id: u64,
    /// 1 retail, 2 wholesale, 3 agent.
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_i64")]
    pub kind: Option<i64>,
    /// The name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// The phone field, in whatever format the store typed it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mobile: Option<String>,
    /// Not documented, but present in some stores.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub email: Option<String>,
    /// The store's customer code.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub code: Option<String>,
    /// Gender code.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub gender: Option<i64>,
    /// Street address.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub address: Option<String>,
    /// Birthday as sent.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub birthday: Option<String>,
    /// Loyalty points.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub points: Option<f64>,
    /// First purchase date as sent.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub started_date: Option<String>,
    /// Tax code.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub tax_code: Option<String>,
    /// City/district/ward, kept as sent.
    #[serde(default)]
    pub locations: Option<Value>,
    /// Loyalty level.
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub level: Option<NhanhRef>,
    /// Customer group.
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub group: Option<NhanhRef>,
    /// Total spent (VND): what CUSTOMER_SYNC pushes to Shopify.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub total_amount: Option<f64>,
    /// Last change, Unix seconds.
    #[serde(default, deserialize_with = "lenient::opt_unix_time")]
    pub updated_at: Option<i64>,
}

/// A price range filter.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PriceRange {
    /// Lowest price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<f64>,
    /// Highest price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<f64>,
}

/// Filters of `product/list`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductFilters {
    /// At most 100 ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<u64>,
    /// Name contains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Children of this product.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    /// Categories.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub category_ids: Vec<u64>,
    /// Price range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<PriceRange>,
    /// Brands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub brand_ids: Vec<u64>,
    /// Statuses (1 new, 2 selling, 3 stopped, 4 out of stock).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<i64>,
    /// Changed at or after (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at_from: Option<i64>,
    /// Changed at or before (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at_to: Option<i64>,
}

/// Filters of `product/inventory`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryFilters {
    /// At most 100 product ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<u64>,
    /// Only these depots.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depot_ids: Vec<u64>,
    /// Changed at or after (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at_from: Option<i64>,
    /// Changed at or before (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at_to: Option<i64>,
}

/// Filters of `customer/list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerFilters {
    /// Only these ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<u64>,
    /// Only this phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Only this type (1 retail, 2 wholesale, 3 agent).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<i64>,
    /// Changed at or after (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at_from: Option<i64>,
    /// Changed at or before (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at_to: Option<i64>,
    /// Last bought on or after this day (`Y-m-d`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_bought_date_from: Option<chrono::NaiveDate>,
    /// Last bought on or before this day (`Y-m-d`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_bought_date_to: Option<chrono::NaiveDate>,
}
