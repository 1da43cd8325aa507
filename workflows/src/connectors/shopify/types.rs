//! Shopify wire types: the GraphQL reply shapes (private, `serde`) and the records the client
//! hands out (flattened: `inventoryItem { id }` becomes `inventory_item_id`).

use serde::Deserialize;

use crate::connectors::lenient;

/// One page of a Shopify connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopifyPage<T> {
    /// The nodes.
    pub items: Vec<T>,
    /// The cursor to pass as `after` for the next page; `None` at the end.
    pub next: Option<String>,
}

/// A product variant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopifyVariant {
    /// `gid://shopify/ProductVariant/…`.
    pub id: String,
    /// The SKU.
    #[serde(default)]
    pub sku: Option<String>,
    /// The barcode.
    #[serde(default)]
    pub barcode: Option<String>,
    /// The price, a decimal string.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub price: Option<String>,
    /// Total available across locations.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub inventory_quantity: Option<i64>,
    /// `gid://shopify/InventoryItem/…`, the id inventory writes address.
    #[serde(default, rename = "inventoryItem", deserialize_with = "id_of")]
    pub inventory_item_id: Option<String>,
}

/// A product with the variants read so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyProduct {
    /// `gid://shopify/Product/…`.
    pub id: String,
    /// The title.
    pub title: Option<String>,
    /// The handle.
    pub handle: Option<String>,
    /// ACTIVE, ARCHIVED or DRAFT.
    pub status: Option<String>,
    /// ISO 8601.
    pub updated_at: Option<String>,
    /// Its variants (in a page read, the first ones; see `more_variants`).
    pub variants: Vec<ShopifyVariant>,
    /// When the product has more variants than were read: the cursor to continue with
    /// [`ShopifyClient::product_variants_page`](super::ShopifyClient::product_variants_page).
    pub more_variants: Option<String>,
}

/// An amount with its currency.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    /// A decimal string.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub amount: Option<String>,
    /// ISO 4217.
    #[serde(default)]
    pub currency_code: Option<String>,
}

/// A customer with both phone fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyCustomer {
    /// `gid://shopify/Customer/…`.
    pub id: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// `defaultEmailAddress.emailAddress`.
    pub email: Option<String>,
    /// `defaultPhoneNumber.phoneNumber`, E.164.
    pub phone: Option<String>,
    /// `defaultAddress.phone`, free text.
    pub address_phone: Option<String>,
    /// `amountSpent`.
    pub amount_spent: Option<Money>,
    /// `numberOfOrders`.
    pub number_of_orders: Option<u64>,
    /// ISO 8601.
    pub updated_at: Option<String>,
    /// The `custom.total_spent` metafield's value, as last synced.
    pub total_spent_metafield: Option<String>,
}

/// A location.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopifyLocation {
    /// `gid://shopify/Location/…`.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Whether it is active.
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// A count and whether it is exact.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Count {
    /// The count.
    #[serde(deserialize_with = "lenient::u64")]
    pub count: u64,
    /// EXACT or AT_LEAST.
    #[serde(default)]
    pub precision: Option<String>,
}

fn id_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct HasId {
        id: String,
    }
    Ok(Option::<HasId>::deserialize(d)?.map(|h| h.id))
}

fn value_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct HasValue {
        #[serde(default, deserialize_with = "lenient::opt_string")]
        value: Option<String>,
    }
    Ok(Option::<HasValue>::deserialize(d)?.and_then(|h| h.value))
}

// ---- GraphQL reply shapes ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Edge<T> {
    pub node: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Connection<T> {
    pub page_info: PageInfo,
    pub edges: Vec<Edge<T>>,
}

impl<T> Connection<T> {
    pub(crate) fn into_page<U>(self, f: impl FnMut(T) -> U) -> ShopifyPage<U> {
        let next = if self.page_info.has_next_page { self.page_info.end_cursor } else { None };
        ShopifyPage { items: self.edges.into_iter().map(|e| e.node).map(f).collect(), next }
    }
}

/// A product as GraphQL sends it (in a page, or as a bulk JSONL line without `variants`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProductNode {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub variants: Option<Connection<ShopifyVariant>>,
}

impl From<ProductNode> for ShopifyProduct {
    fn from(n: ProductNode) -> Self {
        let (variants, more_variants) = match n.variants {
            Some(c) => {
                let page = c.into_page(|v| v);
                (page.items, page.next)
            }
            None => (Vec::new(), None),
        };
        ShopifyProduct {
            id: n.id,
            title: n.title,
            handle: n.handle,
            status: n.status,
            updated_at: n.updated_at,
            variants,
            more_variants,
        }
    }
}

/// A customer as GraphQL sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomerNode {
    pub id: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "email_of")]
    pub default_email_address: Option<String>,
    #[serde(default, deserialize_with = "phone_of")]
    pub default_phone_number: Option<String>,
    #[serde(default, deserialize_with = "address_phone_of")]
    pub default_address: Option<String>,
    #[serde(default)]
    pub amount_spent: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub number_of_orders: Option<u64>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "value_of")]
    pub total_spent: Option<String>,
}

fn email_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct E {
        email_address: Option<String>,
    }
    Ok(Option::<E>::deserialize(d)?.and_then(|e| e.email_address))
}

fn phone_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        phone_number: Option<String>,
    }
    Ok(Option::<P>::deserialize(d)?.and_then(|p| p.phone_number))
}

fn address_phone_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct A {
        phone: Option<String>,
    }
    Ok(Option::<A>::deserialize(d)?.and_then(|a| a.phone))
}

impl From<CustomerNode> for ShopifyCustomer {
    fn from(n: CustomerNode) -> Self {
        ShopifyCustomer {
            id: n.id,
            first_name: n.first_name,
            last_name: n.last_name,
            display_name: n.display_name,
            email: n.default_email_address,
            phone: n.default_phone_number,
            address_phone: n.default_address,
            amount_spent: n.amount_spent,
            number_of_orders: n.number_of_orders,
            updated_at: n.updated_at,
            total_spent_metafield: n.total_spent,
        }
    }
}
