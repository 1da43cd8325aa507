//! GraphQL object types and the views that build them from the world.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, Result, SimpleObject, ID};
use serde::{Deserialize, Serialize};

use super::connection::{connection, paginate, PageArgs};
use crate::clock::iso;
use crate::data::customers::person;
use crate::data::names::LOCATIONS;
use crate::data::{location_id, location_index, Metafield as StoredMetafield, World};
use crate::gid::gid;
use crate::sim::Sim;

macro_rules! string_scalar {
    ($name:ident, $gql:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub(crate) struct $name(pub String);
        async_graphql::scalar!($name, $gql);
    };
}

string_scalar!(DateTime, "DateTime", "An ISO 8601 time in UTC, `2025-01-01T00:00:00Z`.");
string_scalar!(Decimal, "Decimal", "A decimal number as a string.");
string_scalar!(Money, "Money", "A money amount as a string.");
string_scalar!(UnsignedInt64, "UnsignedInt64", "A 64-bit unsigned integer as a string.");
string_scalar!(Url, "URL", "A URL.");

/// VND amounts as Shopify writes them.
pub(crate) fn amount(vnd: u64) -> String {
    format!("{vnd}.0")
}

#[derive(Clone, SimpleObject)]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum CountPrecision {
    Exact,
    AtLeast,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct Count {
    pub count: i64,
    pub precision: CountPrecision,
}

#[derive(Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum CurrencyCode {
    Vnd,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct MoneyV2 {
    pub amount: Decimal,
    pub currency_code: CurrencyCode,
}

#[derive(Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct Location {
    pub id: ID,
    pub name: String,
    pub is_active: bool,
    #[graphql(skip)]
    pub index: usize,
}

/// The location at `index`, active unless a test deactivated it.
pub(crate) fn location(sim: &Sim, index: usize) -> Location {
    Location {
        id: ID(gid("Location", location_id(index))),
        name: LOCATIONS[index].to_string(),
        is_active: sim.location_active(index),
        index,
    }
}

#[ComplexObject]
impl Location {
    /// Every inventory item's level here, by inventory item id (each item of the shop is stocked
    /// at every location).
    async fn inventory_levels(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        reverse: Option<bool>,
    ) -> Result<InventoryLevelConnection> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        let vs = &world.variants;
        let args = PageArgs { first, after, last, before, reverse: reverse.unwrap_or(false) };
        let paged = paginate(ctx, &args, false, vs.len(), |i| vs[i].inventory_item_id, |_| true)?;
        let items = paged
            .rows
            .iter()
            .map(|&i| {
                let item = variant_view(&world, i).inventory_item;
                (vs[i].inventory_item_id, item.level(self.clone()))
            })
            .collect();
        Ok(InventoryLevelConnection::new(&paged, items))
    }
}

connection!(LocationConnection, LocationEdge, Location);

#[derive(Clone, SimpleObject)]
pub(crate) struct Metafield {
    pub id: ID,
    pub namespace: String,
    pub key: String,
    pub value: String,
    #[graphql(name = "type")]
    pub kind: String,
    pub owner_type: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

pub(crate) fn metafield(owner_gid: &str, m: &StoredMetafield) -> Metafield {
    let owner_type = crate::gid::gid_kind(owner_gid).unwrap_or("").to_ascii_uppercase();
    Metafield {
        id: ID(gid("Metafield", m.id)),
        namespace: m.namespace.clone(),
        key: m.key.clone(),
        value: m.value.clone(),
        kind: m.kind.clone(),
        owner_type: if owner_type == "PRODUCTVARIANT" { "PRODUCTVARIANT".into() } else { owner_type },
        created_at: DateTime(iso(m.updated_at)),
        updated_at: DateTime(iso(m.updated_at)),
    }
}

fn find_metafield(ctx: &Context<'_>, owner: &str, namespace: Option<&str>, key: &str) -> Result<Option<Metafield>> {
    // `key` may be "namespace.key" when no namespace is given.
    let (namespace, key) = match (namespace, key.split_once('.')) {
        (Some(ns), _) => (ns.to_string(), key.to_string()),
        (None, Some((ns, k))) => (ns.to_string(), k.to_string()),
        (None, None) => ("$app".to_string(), key.to_string()),
    };
    let sim = ctx.data::<Arc<Sim>>()?;
    let world = sim.read();
    Ok(world
        .metafields
        .get(owner)
        .and_then(|list| list.iter().find(|m| m.namespace == namespace && m.key == key))
        .map(|m| metafield(owner, m)))
}

#[derive(Clone, SimpleObject)]
pub(crate) struct InventoryQuantity {
    pub name: String,
    pub quantity: i64,
}

#[derive(Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct InventoryLevel {
    pub id: ID,
    pub item: InventoryItem,
    pub location: Location,
    pub updated_at: DateTime,
    #[graphql(skip)]
    pub available: i64,
}

connection!(InventoryLevelConnection, InventoryLevelEdge, InventoryLevel);

#[async_graphql::ComplexObject]
impl InventoryLevel {
    async fn quantities(&self, names: Vec<String>) -> Vec<InventoryQuantity> {
        names
            .into_iter()
            .map(|name| {
                let quantity = match name.as_str() {
                    "available" | "on_hand" => self.available,
                    _ => 0,
                };
                InventoryQuantity { name, quantity }
            })
            .collect()
    }
}

#[derive(Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct InventoryItem {
    pub id: ID,
    pub sku: Option<String>,
    pub tracked: bool,
    #[graphql(skip)]
    pub levels: Vec<i64>,
    /// When each level last changed (unix seconds).
    #[graphql(skip)]
    pub level_updated_at: Vec<i64>,
}

impl InventoryItem {
    /// This item's level at `location`, its id as Shopify spells it.
    fn level(&self, location: Location) -> InventoryLevel {
        InventoryLevel {
            id: ID(format!(
                "gid://shopify/InventoryLevel/{}?inventory_item_id={}",
                location.id.rsplit('/').next().unwrap_or(""),
                self.id.rsplit('/').next().unwrap_or("")
            )),
            available: self.levels[location.index],
            updated_at: DateTime(iso(self.level_updated_at[location.index])),
            item: self.clone(),
            location,
        }
    }
}

#[ComplexObject]
impl InventoryItem {
    async fn inventory_level(&self, ctx: &Context<'_>, location_id: ID) -> Result<Option<InventoryLevel>> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let Some(index) = location_index(&location_id) else { return Ok(None) };
        Ok(Some(self.level(location(sim, index))))
    }
}

#[derive(Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct ProductVariant {
    pub id: ID,
    pub title: String,
    pub display_name: String,
    pub sku: Option<String>,
    pub barcode: Option<String>,
    pub price: Money,
    pub inventory_quantity: Option<i32>,
    pub inventory_item: InventoryItem,
    pub updated_at: DateTime,
    #[graphql(skip)]
    pub product_index: u32,
}

#[ComplexObject]
impl ProductVariant {
    async fn product(&self, ctx: &Context<'_>) -> Result<Product> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        Ok(product_view(&world, self.product_index as usize))
    }

    async fn metafield(&self, ctx: &Context<'_>, namespace: Option<String>, key: String) -> Result<Option<Metafield>> {
        find_metafield(ctx, &self.id, namespace.as_deref(), &key)
    }
}

pub(crate) fn variant_view(world: &World, index: usize) -> ProductVariant {
    let v = &world.variants[index];
    let product = &world.shop_products[v.product as usize];
    let sku = v.sku.clone().filter(|s| !s.is_empty());
    ProductVariant {
        id: ID(gid("ProductVariant", v.id)),
        title: v.title.clone(),
        display_name: format!("{} - {}", product.title, v.title),
        sku: v.sku.clone(),
        barcode: v.barcode.clone(),
        price: Money(format!("{}.00", v.price)),
        inventory_quantity: Some(v.levels.iter().sum::<i64>() as i32),
        inventory_item: InventoryItem {
            id: ID(gid("InventoryItem", v.inventory_item_id)),
            sku,
            tracked: true,
            levels: v.levels.to_vec(),
            level_updated_at: v.level_updated_at.to_vec(),
        },
        updated_at: DateTime(iso(v.updated_at)),
        product_index: v.product,
    }
}

connection!(ProductVariantConnection, ProductVariantEdge, ProductVariant);

#[derive(Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum ProductStatus {
    Active,
    Archived,
    Draft,
}

#[derive(Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct Product {
    pub id: ID,
    pub title: String,
    pub handle: String,
    pub status: ProductStatus,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    #[graphql(skip)]
    pub index: u32,
}

#[ComplexObject]
impl Product {
    async fn variants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        reverse: Option<bool>,
    ) -> Result<ProductVariantConnection> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        let ids = &world.shop_products[self.index as usize].variants;
        let args = PageArgs { first, after, last, before, reverse: reverse.unwrap_or(false) };
        let paged = paginate(ctx, &args, false, ids.len(), |i| world.variants[ids[i] as usize].id, |_| true)?;
        let items = paged
            .rows
            .iter()
            .map(|&i| (world.variants[ids[i] as usize].id, variant_view(&world, ids[i] as usize)))
            .collect();
        Ok(ProductVariantConnection::new(&paged, items))
    }

    async fn variants_count(&self, ctx: &Context<'_>) -> Result<Count> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let count = sim.read().shop_products[self.index as usize].variants.len() as i64;
        Ok(Count { count, precision: CountPrecision::Exact })
    }

    async fn metafield(&self, ctx: &Context<'_>, namespace: Option<String>, key: String) -> Result<Option<Metafield>> {
        find_metafield(ctx, &self.id, namespace.as_deref(), &key)
    }
}

pub(crate) fn product_view(world: &World, index: usize) -> Product {
    let p = &world.shop_products[index];
    Product {
        id: ID(gid("Product", p.id)),
        title: p.title.clone(),
        handle: p.handle.clone(),
        status: ProductStatus::Active,
        created_at: DateTime(iso(p.created_at)),
        updated_at: DateTime(iso(p.updated_at)),
        index: index as u32,
    }
}

connection!(ProductConnection, ProductEdge, Product);

#[derive(Clone, SimpleObject)]
pub(crate) struct CustomerEmailAddress {
    pub email_address: String,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct CustomerPhoneNumber {
    pub phone_number: String,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct MailingAddress {
    pub address1: Option<String>,
    pub city: Option<String>,
    pub country_code_v2: Option<String>,
    pub phone: Option<String>,
}

#[derive(Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct Customer {
    pub id: ID,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: String,
    pub default_email_address: Option<CustomerEmailAddress>,
    pub default_phone_number: Option<CustomerPhoneNumber>,
    pub default_address: Option<MailingAddress>,
    pub amount_spent: MoneyV2,
    pub number_of_orders: UnsignedInt64,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[ComplexObject]
impl Customer {
    async fn metafield(&self, ctx: &Context<'_>, namespace: Option<String>, key: String) -> Result<Option<Metafield>> {
        find_metafield(ctx, &self.id, namespace.as_deref(), &key)
    }
}

/// The contact and name fields of a Shopify customer, edits applied.
pub(crate) struct CustomerFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_phone: Option<String>,
    pub address: Option<String>,
    pub created_at: i64,
}

pub(crate) fn customer_fields(world: &World, index: usize) -> CustomerFields {
    let c = &world.shop_customers[index];
    let base = c.person.map(|p| person(world.seed, p as u64));
    let mut fields = match &base {
        Some(p) => CustomerFields {
            first_name: Some(p.first_name()),
            last_name: Some(p.family.to_string()),
            email: p.email.clone(),
            phone: p.shop_phone.clone(),
            address_phone: p.shop_address_phone.clone(),
            address: p.address.clone(),
            created_at: p.created_at,
        },
        None => CustomerFields {
            first_name: None,
            last_name: None,
            email: None,
            phone: None,
            address_phone: None,
            address: None,
            created_at: c.updated_at,
        },
    };
    if let Some(edit) = &c.edit {
        fields.first_name = edit.first_name.clone();
        fields.last_name = edit.last_name.clone();
        fields.email = edit.email.clone();
        fields.phone = edit.phone.clone();
        fields.address_phone = edit.address_phone.clone();
        fields.created_at = edit.created_at;
    }
    fields
}

pub(crate) fn customer_view(world: &World, index: usize) -> Customer {
    let c = &world.shop_customers[index];
    let f = customer_fields(world, index);
    let display_name = match (&f.first_name, &f.last_name) {
        (None, None) => f.email.clone().or_else(|| f.phone.clone()).unwrap_or_default(),
        (first, last) => [first.as_deref(), last.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" "),
    };
    let default_address = (f.address.is_some() || f.address_phone.is_some()).then(|| MailingAddress {
        city: f.address.as_ref().and_then(|a| a.rsplit(", ").next().map(str::to_string)),
        address1: f.address.clone(),
        country_code_v2: Some("VN".into()),
        phone: f.address_phone.clone(),
    });
    Customer {
        id: ID(gid("Customer", c.id)),
        first_name: f.first_name,
        last_name: f.last_name,
        display_name,
        default_email_address: f.email.map(|email_address| CustomerEmailAddress { email_address }),
        default_phone_number: f.phone.map(|phone_number| CustomerPhoneNumber { phone_number }),
        default_address,
        amount_spent: MoneyV2 { amount: Decimal(amount(c.amount_spent)), currency_code: CurrencyCode::Vnd },
        number_of_orders: UnsignedInt64(c.orders.to_string()),
        created_at: DateTime(iso(f.created_at)),
        updated_at: DateTime(iso(c.updated_at)),
    }
}

connection!(CustomerConnection, CustomerEdge, Customer);

#[derive(Clone, Copy, PartialEq, Eq, Enum, Serialize)]
pub(crate) enum BulkOperationStatus {
    Created,
    Running,
    Completed,
    Failed,
    Canceling,
    Canceled,
    Expired,
}

#[derive(Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum BulkOperationType {
    Query,
    Mutation,
}

#[derive(Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum BulkOperationErrorCode {
    AccessDenied,
    InternalServerError,
    Timeout,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct BulkOperation {
    pub id: ID,
    pub status: BulkOperationStatus,
    #[graphql(name = "type")]
    pub kind: BulkOperationType,
    pub error_code: Option<BulkOperationErrorCode>,
    pub object_count: UnsignedInt64,
    pub root_object_count: UnsignedInt64,
    pub file_size: Option<UnsignedInt64>,
    pub url: Option<Url>,
    pub partial_data_url: Option<Url>,
    pub query: String,
    pub created_at: DateTime,
    pub completed_at: Option<DateTime>,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct Shop {
    pub name: String,
    pub myshopify_domain: String,
    pub currency_code: CurrencyCode,
}
