//! The query root.

use std::sync::Arc;

use async_graphql::{Context, MaybeUndefined, Object, Result, ID};

use super::bulk;
use super::connection::{paginate, PageArgs};
use super::objects::*;
use super::search::Search;
use crate::data::names::LOCATIONS;
use crate::data::{location_index, World};
use crate::sim::Sim;

/// Shopify's default `limit` of the count fields.
const COUNT_LIMIT: i64 = 10_000;

pub(crate) struct QueryRoot;

fn product_matches(world: &World, search: &Search, i: usize) -> bool {
    let p = &world.shop_products[i];
    search.matches(p.id, p.created_at, p.updated_at, |field| {
        p.variants
            .iter()
            .filter_map(|&v| {
                let v = &world.variants[v as usize];
                match field {
                    "sku" => v.sku.as_deref().map(|s| s.trim().to_string()),
                    "barcode" => v.barcode.clone(),
                    _ => None,
                }
            })
            .collect()
    })
}

fn customer_matches(world: &World, search: &Search, i: usize) -> bool {
    let c = &world.shop_customers[i];
    if !search.needs_fields() {
        return search.matches(c.id, 0, c.updated_at, |_| Vec::new());
    }
    let f = customer_fields(world, i);
    search.matches(c.id, f.created_at, c.updated_at, |field| match field {
        "email" => f.email.iter().cloned().collect(),
        "phone" => f.phone.iter().chain(f.address_phone.iter()).cloned().collect(),
        _ => Vec::new(),
    })
}

fn count(n: usize, limit: MaybeUndefined<i32>) -> Count {
    let limit = match limit {
        MaybeUndefined::Undefined => Some(COUNT_LIMIT),
        MaybeUndefined::Null => None,
        MaybeUndefined::Value(v) => Some(v as i64),
    };
    match limit {
        Some(l) if n as i64 > l => Count { count: l, precision: CountPrecision::AtLeast },
        _ => Count { count: n as i64, precision: CountPrecision::Exact },
    }
}

/// Named apart from the schema's `QueryRoot`, which merges it with the subscriptions'.
#[Object(name = "CatalogQueries")]
impl QueryRoot {
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        reverse: Option<bool>,
        query: Option<String>,
    ) -> Result<ProductConnection> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        let search = Search::parse(query.as_deref());
        let args = PageArgs { first, after, last, before, reverse: reverse.unwrap_or(false) };
        let ps = &world.shop_products;
        let paged = paginate(ctx, &args, true, ps.len(), |i| ps[i].id, |i| product_matches(&world, &search, i))?;
        let items = paged.rows.iter().map(|&i| (ps[i].id, product_view(&world, i))).collect();
        Ok(ProductConnection::new(&paged, items))
    }

    async fn products_count(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        limit: MaybeUndefined<i32>,
    ) -> Result<Count> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        let search = Search::parse(query.as_deref());
        let n = (0..world.shop_products.len()).filter(|&i| product_matches(&world, &search, i)).count();
        Ok(count(n, limit))
    }

    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        Ok(world.product_index(&id).map(|i| product_view(&world, i)))
    }

    async fn product_variant(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ProductVariant>> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        Ok(world.variant_index(&id).map(|i| variant_view(&world, i)))
    }

    async fn inventory_item(&self, ctx: &Context<'_>, id: ID) -> Result<Option<InventoryItem>> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        Ok(world.inventory_item_index(&id).map(|i| variant_view(&world, i).inventory_item))
    }

    #[allow(clippy::too_many_arguments)]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        reverse: Option<bool>,
        query: Option<String>,
    ) -> Result<CustomerConnection> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        let search = Search::parse(query.as_deref());
        let args = PageArgs { first, after, last, before, reverse: reverse.unwrap_or(false) };
        let cs = &world.shop_customers;
        let paged = paginate(ctx, &args, true, cs.len(), |i| cs[i].id, |i| customer_matches(&world, &search, i))?;
        let items = paged.rows.iter().map(|&i| (cs[i].id, customer_view(&world, i))).collect();
        Ok(CustomerConnection::new(&paged, items))
    }

    async fn customers_count(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        limit: MaybeUndefined<i32>,
    ) -> Result<Count> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        let search = Search::parse(query.as_deref());
        let n = (0..world.shop_customers.len()).filter(|&i| customer_matches(&world, &search, i)).count();
        Ok(count(n, limit))
    }

    async fn customer(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Customer>> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let world = sim.read();
        Ok(world.shop_customer_index(&id).map(|i| customer_view(&world, i)))
    }

    async fn locations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        include_inactive: Option<bool>,
    ) -> Result<LocationConnection> {
        let args = PageArgs { first, after, last, before, reverse: false };
        let id = |i: usize| crate::data::location_id(i);
        let sim = ctx.data::<Arc<Sim>>()?;
        // As the Admin schema's `includeInactive: Boolean = false`: deactivated locations are
        // left out unless asked for.
        let listed = |i: usize| include_inactive.unwrap_or(false) || sim.location_active(i);
        let paged = paginate(ctx, &args, true, LOCATIONS.len(), id, listed)?;
        let items = paged.rows.iter().map(|&i| (id(i), location(sim, i))).collect();
        Ok(LocationConnection::new(&paged, items))
    }

    async fn location(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Location>> {
        let sim = ctx.data::<Arc<Sim>>()?;
        Ok(location_index(&id).map(|i| location(sim, i)))
    }

    async fn shop(&self) -> Shop {
        Shop {
            name: "Dongbo Simulated Shop".into(),
            myshopify_domain: "dongbo-sim.myshopify.com".into(),
            currency_code: CurrencyCode::Vnd,
        }
    }

    #[graphql(deprecation = "Use `bulkOperations` with status filter instead.")]
    async fn current_bulk_operation(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "type")] kind: Option<BulkOperationType>,
    ) -> Result<Option<BulkOperation>> {
        let sim = ctx.data::<Arc<Sim>>()?;
        if kind == Some(BulkOperationType::Mutation) {
            return Ok(None);
        }
        Ok(sim.bulk.current().map(|op| bulk::view(sim, &op)))
    }

    async fn bulk_operation(&self, ctx: &Context<'_>, id: ID) -> Result<Option<BulkOperation>> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let id = crate::gid::parse_gid(&id, "BulkOperation");
        Ok(id.and_then(|id| sim.bulk.get(id)).map(|op| bulk::view(sim, &op)))
    }
}
