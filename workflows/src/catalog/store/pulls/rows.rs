//! The rows the pulls mirror, converted from the connectors' wire types, and the pure derivation
//! of each record's match keys.

use crate::connectors::nhanh::{NhanhCustomer, NhanhProduct};
use crate::connectors::shopify::{ShopifyCustomer, ShopifyLocation, ShopifyProduct, ShopifyVariant};
use crate::keys::{product_key, PhoneKey};

/// A Nhanh customer as the catalog holds it (`nhanh_customers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NhanhCustomerRow {
    /// Nhanh's customer id.
    pub id: u64,
    /// The name.
    pub name: Option<String>,
    /// The phone field as Nhanh holds it, any format.
    pub mobile: Option<String>,
    /// Total spent, VND (rounded).
    pub total_amount: Option<i64>,
    /// Last change upstream, unix seconds.
    pub updated_at: Option<i64>,
}

impl From<&NhanhCustomer> for NhanhCustomerRow {
    fn from(c: &NhanhCustomer) -> Self {
        NhanhCustomerRow {
            id: c.id,
            name: c.name.clone(),
            mobile: c.mobile.clone(),
            total_amount: c.total_amount.map(round),
            updated_at: c.updated_at,
        }
    }
}

/// A Nhanh product with its per-depot stock (`nhanh_products`, `nhanh_product_depots`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NhanhProductRow {
    /// Nhanh's product id.
    pub id: u64,
    /// The parent product (none for a top-level product).
    pub parent_id: Option<i64>,
    /// The SKU as Nhanh holds it.
    pub code: Option<String>,
    /// The barcode.
    pub barcode: Option<String>,
    /// The name (empty when Nhanh sent none).
    pub name: String,
    /// 1 new, 2 selling, 3 stopped, 4 out of stock.
    pub status: Option<i64>,
    /// Retail price, VND (rounded).
    pub price_retail: Option<i64>,
    /// Sellable stock across all depots: Nhanh's total, or the depots' sum when every depot's
    /// value was read; `None` when neither was (never taken for zero).
    pub available: Option<i64>,
    /// Last change upstream, unix seconds.
    pub updated_at: Option<i64>,
    /// `(depot id, available)` per depot, as Nhanh listed them; `None` where the depot came
    /// without a value.
    pub depots: Vec<(u64, Option<i64>)>,
}

impl From<&NhanhProduct> for NhanhProductRow {
    fn from(p: &NhanhProduct) -> Self {
        let inventory = p.inventory.as_ref();
        let depots: Vec<(u64, Option<i64>)> =
            inventory.map(|i| i.depots.iter().map(|d| (d.id, d.available.map(round))).collect()).unwrap_or_default();
        let available = inventory
            .and_then(|i| i.available.map(round))
            .or_else(|| depots.iter().map(|(_, a)| *a).sum::<Option<i64>>());
        NhanhProductRow {
            id: p.id,
            parent_id: p.parent_id.filter(|&id| id > 0),
            code: p.code.clone(),
            barcode: p.barcode.clone(),
            name: p.name.clone().unwrap_or_default(),
            status: p.status,
            price_retail: p.prices.as_ref().and_then(|pr| pr.retail).map(round),
            available,
            updated_at: p.updated_at,
            depots,
        }
    }
}

/// A Shopify product (`shopify_products`); its variants travel as [`ShopifyVariantRow`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyProductRow {
    /// `gid://shopify/Product/…`.
    pub id: String,
    /// The title (empty when Shopify sent none).
    pub title: String,
    /// ISO 8601.
    pub updated_at: Option<String>,
}

impl From<&ShopifyProduct> for ShopifyProductRow {
    fn from(p: &ShopifyProduct) -> Self {
        ShopifyProductRow {
            id: p.id.clone(),
            title: p.title.clone().unwrap_or_default(),
            updated_at: p.updated_at.clone(),
        }
    }
}

/// A Shopify variant (`shopify_variants`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyVariantRow {
    /// `gid://shopify/ProductVariant/…`.
    pub id: String,
    /// Its product's gid.
    pub product_id: String,
    /// The SKU.
    pub sku: Option<String>,
    /// The barcode.
    pub barcode: Option<String>,
    /// The price, a decimal string.
    pub price: Option<String>,
    /// Total available across locations.
    pub inventory_quantity: Option<i64>,
    /// `gid://shopify/InventoryItem/…`.
    pub inventory_item_id: Option<String>,
}

impl ShopifyVariantRow {
    /// The row of `variant` of product `product_id`.
    pub fn new(product_id: &str, v: &ShopifyVariant) -> Self {
        ShopifyVariantRow {
            id: v.id.clone(),
            product_id: product_id.to_owned(),
            sku: v.sku.clone(),
            barcode: v.barcode.clone(),
            price: v.price.clone(),
            inventory_quantity: v.inventory_quantity,
            inventory_item_id: v.inventory_item_id.clone(),
        }
    }
}

/// A Shopify customer with both phone fields (`shopify_customers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyCustomerRow {
    /// `gid://shopify/Customer/…`.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Default email address.
    pub email: Option<String>,
    /// `defaultPhoneNumber`, E.164.
    pub phone: Option<String>,
    /// `defaultAddress.phone`, any format.
    pub address_phone: Option<String>,
    /// `amountSpent.amount`.
    pub amount_spent: Option<String>,
    /// The `custom.total_spent` metafield as last seen.
    pub total_spent: Option<String>,
    /// ISO 8601.
    pub updated_at: Option<String>,
}

impl From<&ShopifyCustomer> for ShopifyCustomerRow {
    fn from(c: &ShopifyCustomer) -> Self {
        ShopifyCustomerRow {
            id: c.id.clone(),
            display_name: c.display_name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            address_phone: c.address_phone.clone(),
            amount_spent: c.amount_spent.as_ref().and_then(|m| m.amount.clone()),
            total_spent: c.total_spent_metafield.clone(),
            updated_at: c.updated_at.clone(),
        }
    }
}

/// A Shopify location (`shopify_locations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationRow {
    /// `gid://shopify/Location/…`.
    pub id: String,
    /// Its name (empty when Shopify sent none).
    pub name: String,
}

impl From<&ShopifyLocation> for LocationRow {
    fn from(l: &ShopifyLocation) -> Self {
        LocationRow { id: l.id.clone(), name: l.name.clone().unwrap_or_default() }
    }
}

/// A Nhanh depot (`nhanh_depots`); the product listing names only its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepotRow {
    /// The depot id.
    pub id: u64,
    /// Its name, when known; an upsert without a name keeps the stored one.
    pub name: Option<String>,
}

/// The phone keys of a Nhanh `mobile` field: every valid number in it, E.164, no duplicates.
/// A field without a valid number has no keys (such a customer can only be matched by hand).
pub fn nhanh_customer_keys(mobile: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    add_phone_keys(&mut keys, mobile);
    keys
}

/// The phone keys of a Shopify customer: the numbers of `defaultPhoneNumber`, then those of
/// `defaultAddress.phone` not already among them.
pub fn shopify_customer_keys(phone: Option<&str>, address_phone: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    add_phone_keys(&mut keys, phone);
    add_phone_keys(&mut keys, address_phone);
    keys
}

/// The product match keys of a Nhanh product or Shopify variant: `sku:<norm>` when the SKU is
/// usable, and `barcode:<norm>` when the barcode is. Both are written so that the barcode can
/// stand in when the SKU is missing on the *other* side: a Nhanh product with a SKU still pairs
/// with a variant that only carries its barcode. A record whose keys reach different records on
/// the other side is a conflict, never a guess.
pub fn product_match_keys(sku: Option<&str>, barcode: Option<&str>) -> Vec<String> {
    let mut keys: Vec<String> = product_key(sku, None).map(|k| k.to_string()).into_iter().collect();
    keys.extend(product_key(None, barcode).map(|k| k.to_string()));
    keys
}

fn add_phone_keys(keys: &mut Vec<String>, raw: Option<&str>) {
    for k in raw.and_then(|r| PhoneKey::parse_all(r).ok()).unwrap_or_default() {
        if !keys.iter().any(|have| have == k.as_str()) {
            keys.push(k.as_str().to_owned());
        }
    }
}

fn round(x: f64) -> i64 {
    // `as` saturates and maps NaN to 0: a garbage amount cannot panic a pull.
    x.round() as i64
}

/// Keeps the last row of each id, in first-seen order: a page that repeats a record writes it once
/// (PostgreSQL refuses to update one row twice in a single `INSERT … ON CONFLICT`).
pub(crate) fn dedup_by_id<T, K: std::hash::Hash + Eq>(rows: &[T], id: impl Fn(&T) -> K) -> Vec<&T> {
    let mut at: std::collections::HashMap<K, usize> = std::collections::HashMap::with_capacity(rows.len());
    let mut out: Vec<&T> = Vec::with_capacity(rows.len());
    for r in rows {
        match at.entry(id(r)) {
            std::collections::hash_map::Entry::Occupied(e) => out[*e.get()] = r,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(got: Vec<String>, expect: &[&str]) {
        assert_eq!(got, expect.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn customer_keys_hold_every_valid_number_once() {
        check(nhanh_customer_keys(Some("0912 345 678 / 0987.654.321")), &["+84912345678", "+84987654321"]);
        check(nhanh_customer_keys(Some("01689123456")), &["+84389123456"]);
        check(nhanh_customer_keys(Some("no phone")), &[]);
        check(nhanh_customer_keys(None), &[]);
        check(shopify_customer_keys(Some("+84912345678"), Some("0912345678")), &["+84912345678"]);
        check(shopify_customer_keys(None, Some("(+84) 987 654 321")), &["+84987654321"]);
        check(shopify_customer_keys(Some("+84912345678"), Some("0987654321")), &["+84912345678", "+84987654321"]);
    }

    #[test]
    fn product_keys_hold_the_sku_and_the_barcode_so_either_side_can_fall_back() {
        check(product_match_keys(Some(" AO 01 "), Some("123")), &["sku:ao01", "barcode:123"]);
        check(product_match_keys(Some(" AO 01 "), None), &["sku:ao01"]);
        check(product_match_keys(Some("  "), Some("8934 567")), &["barcode:8934567"]);
        check(product_match_keys(None, None), &[]);
    }

    #[test]
    fn a_repeated_id_keeps_its_last_row_in_first_seen_order() {
        let rows = [(1, "a"), (2, "b"), (1, "c")];
        let kept: Vec<_> = dedup_by_id(&rows, |r| r.0).into_iter().copied().collect();
        assert_eq!(kept, vec![(1, "c"), (2, "b")]);
    }
}
