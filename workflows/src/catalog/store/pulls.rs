//! Catalog SQL for the pull workflows: the mirror rows of both stores and their match keys,
//! locations and depots, the location mapping, the full-pull sweep and the pull watermarks.
//!
//! Writes that belong to a step are [`StepEffects`](dongbo_engine::StepEffects) values, applied by
//! the engine in the step's transaction; configuration (`set_location_mapping`) and reads take a
//! [`Db`](dongbo_engine::Db). Every upsert is keyed by the upstream id, clears `removed_at` (a
//! record seen again is alive again) and *replaces* the record's match keys:
//!
//! - `nhanh_customer_keys`: every number of `mobile` via [`PhoneKey::parse_all`](crate::keys::PhoneKey::parse_all);
//! - `shopify_customer_keys`: the numbers of `defaultPhoneNumber` and of `defaultAddress.phone`;
//! - `nhanh_product_keys` / `shopify_variant_keys`: [`product_key`](crate::keys::product_key)`(sku, barcode)`
//!   in its `Display` form, `sku:<norm>` or `barcode:<norm>` (at most one key per record).
//!
//! A full pull stamps every row it writes with `pull_seen = <its job id>`; its final step applies
//! [`MarkRemoved`], which sets `removed_at` on the rows of that source the pull did not see and
//! deletes their match keys, so matching (which joins the key tables) never pairs a removed record.
//!
//! # Layout
//!
//! - `rows`: the row types written and read, and the pure key derivation.
//! - `customers`: Nhanh and Shopify customer upserts.
//! - `products`: Nhanh products (with depots) and Shopify products and variants.
//! - `places`: Shopify locations, Nhanh depots and the location mapping.
//! - `sweep`: [`MarkRemoved`], [`SetWatermark`], [`EffectsList`].
//! - `reads`: listing functions for the workflows, the other families and the tests.

mod customers;
mod key_tables;
mod places;
mod products;
mod reads;
mod rows;
mod sweep;

pub use customers::{UpsertNhanhCustomers, UpsertShopifyCustomers};
pub use places::{
    location_mappings, remove_location_mapping, set_location_mapping, validate_location_mapping, UpsertDepots,
    UpsertLocations,
};
pub use products::{UpsertNhanhProducts, UpsertShopifyProducts};
pub use reads::{
    catalog_counts, count_unseen, list_depots, list_locations, list_nhanh_customer_keys, list_nhanh_customers,
    list_nhanh_product_depots, list_nhanh_product_keys, list_nhanh_products, list_shopify_customer_keys,
    list_shopify_customers, list_shopify_products, list_shopify_variant_keys, list_shopify_variants, watermark,
    CatalogCounts,
};
pub(crate) use rows::dedup_by_id;
pub use rows::{
    nhanh_customer_keys, product_match_keys, shopify_customer_keys, DepotRow, LocationRow, NhanhCustomerRow,
    NhanhProductRow, ShopifyCustomerRow, ShopifyProductRow, ShopifyVariantRow,
};
pub use sweep::{apply_outside_step, EffectsList, MarkRemoved, PullSource, SetWatermark};
