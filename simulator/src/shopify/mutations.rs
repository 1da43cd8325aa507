//! The mutation root and the `@idempotent` directive.
//!
//! Every write is validated in full before anything changes: a call with any userError applies
//! nothing (Shopify's `metafieldsSet` and `inventorySetQuantities` are atomic), and its items are
//! journalled with `applied: false`. Injected item faults ([`crate::Faults::fail_targets`],
//! `user_error_rate`) surface as such userErrors (`code: "INTERNAL_ERROR"`).

use std::sync::Arc;

use async_graphql::{
    Context, CustomDirective, Directive, Error, ErrorExtensions, InputObject, MaybeUndefined, Object, ResolveFut,
    Result, ServerResult, SimpleObject, Value as GqlValue, ID,
};

use super::bulk;
use super::objects::*;
use super::writes;
use super::ShopSchema;
use crate::sim::Sim;

tokio::task_local! {
    /// The `@idempotent(key:)` of the mutation field being resolved.
    static IDEMPOTENCY_KEY: String;
}

struct Idempotent {
    key: String,
}

#[async_trait::async_trait]
impl CustomDirective for Idempotent {
    async fn resolve_field(&self, _ctx: &Context<'_>, resolve: ResolveFut<'_>) -> ServerResult<Option<GqlValue>> {
        IDEMPOTENCY_KEY.scope(self.key.clone(), resolve).await
    }
}

/// `directive @idempotent(key: String!) on FIELD`: the same key never applies twice.
#[Directive(location = "Field")]
pub(crate) fn idempotent(key: String) -> impl CustomDirective {
    Idempotent { key }
}

/// The API version named in the request's URL (`/admin/api/{version}/graphql.json`): it decides
/// the rules the schema cannot state. Absent (a schema run outside a request), the newest rules apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlVersion(pub String);

/// The compare-and-swap and idempotency rules of `inventorySetQuantities` in one API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InventoryRules {
    /// 2026-01 (and older versions, which Shopify serves as its oldest supported one):
    /// `@idempotent` is optional; a quantity's `changeFromQuantity`, when given (`null`
    /// included), overrides `compareQuantity` / `ignoreCompareQuantity`, and without it one of
    /// those is required
    /// (<https://shopify.dev/changelog/compare-and-swap-redesign-for-inventory-set-quantities>).
    Compare2026_01,
    /// From 2026-04: `@idempotent` is mandatory
    /// (<https://shopify.dev/changelog/making-idempotency-mandatory-for-inventory-adjustments-and-refund-mutations>)
    /// and every quantity must pass `changeFromQuantity`, `null` to skip the compare
    /// (<https://shopify.dev/changelog/finalizing-compare-and-swap-redesign-for-inventory-set-quantities>).
    ChangeFromRequired,
}

impl InventoryRules {
    /// The rules of `version` (`YYYY-MM` or `unstable`).
    pub(crate) fn of(version: Option<&UrlVersion>) -> InventoryRules {
        match version {
            Some(UrlVersion(v)) if v.as_str() != "unstable" && v.as_str() < "2026-04" => InventoryRules::Compare2026_01,
            _ => InventoryRules::ChangeFromRequired,
        }
    }

    /// Whether a call without `@idempotent(key:)` is refused.
    pub(crate) fn key_required(self) -> bool {
        self == InventoryRules::ChangeFromRequired
    }
}

/// The key of the field being resolved, if it carries `@idempotent`.
pub(crate) fn current_key() -> Option<String> {
    IDEMPOTENCY_KEY.try_with(Clone::clone).ok()
}

macro_rules! user_error {
    ($name:ident) => {
        #[derive(Clone, Debug, PartialEq, SimpleObject)]
        pub(crate) struct $name {
            pub field: Option<Vec<String>>,
            pub message: String,
            pub code: Option<String>,
        }

        impl From<writes::Problem> for $name {
            fn from(p: writes::Problem) -> Self {
                $name { field: p.field, message: p.message, code: Some(p.code.to_string()) }
            }
        }
    };
}

user_error!(InventorySetQuantitiesUserError);
user_error!(CustomerSetUserError);
user_error!(ProductVariantsBulkUpdateUserError);
user_error!(BulkOperationUserError);

#[derive(Clone, Debug, PartialEq, SimpleObject)]
pub(crate) struct MetafieldsSetUserError {
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: Option<String>,
    pub element_index: Option<i32>,
}

impl From<writes::Problem> for MetafieldsSetUserError {
    fn from(p: writes::Problem) -> Self {
        let element_index = p.field.as_ref().and_then(|f| f.get(1)).and_then(|i| i.parse().ok());
        MetafieldsSetUserError { field: p.field, message: p.message, code: Some(p.code.to_string()), element_index }
    }
}

#[derive(InputObject)]
pub(crate) struct InventoryQuantityInput {
    pub inventory_item_id: ID,
    pub location_id: ID,
    pub quantity: i32,
    pub compare_quantity: Option<i32>,
    /// Absent, `null` and a number mean three different things (see [`InventoryRules`]).
    pub change_from_quantity: MaybeUndefined<i32>,
}

#[derive(InputObject)]
pub(crate) struct InventorySetQuantitiesInput {
    pub name: String,
    pub reason: String,
    pub reference_document_uri: Option<String>,
    pub ignore_compare_quantity: Option<bool>,
    pub quantities: Vec<InventoryQuantityInput>,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct InventoryChange {
    pub name: String,
    pub delta: i64,
    pub quantity_after_change: Option<i64>,
    pub item: InventoryItem,
    pub location: Location,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct InventoryAdjustmentGroup {
    pub id: ID,
    pub reason: String,
    pub reference_document_uri: Option<String>,
    pub created_at: DateTime,
    pub changes: Vec<InventoryChange>,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct InventorySetQuantitiesPayload {
    pub inventory_adjustment_group: Option<InventoryAdjustmentGroup>,
    pub user_errors: Vec<InventorySetQuantitiesUserError>,
}

#[derive(InputObject)]
pub(crate) struct MetafieldsSetInput {
    pub owner_id: ID,
    pub namespace: Option<String>,
    pub key: String,
    #[graphql(name = "type")]
    pub kind: Option<String>,
    pub value: String,
    pub compare_digest: Option<String>,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct MetafieldsSetPayload {
    pub metafields: Option<Vec<Metafield>>,
    pub user_errors: Vec<MetafieldsSetUserError>,
}

#[derive(InputObject)]
pub(crate) struct CustomerSetIdentifiers {
    pub id: Option<ID>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(InputObject, Default)]
pub(crate) struct CustomerSetInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub note: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct CustomerSetPayload {
    pub customer: Option<Customer>,
    pub user_errors: Vec<CustomerSetUserError>,
}

#[derive(InputObject)]
pub(crate) struct InventoryItemInput {
    pub sku: Option<String>,
}

#[derive(InputObject)]
pub(crate) struct ProductVariantsBulkInput {
    pub id: Option<ID>,
    pub price: Option<Money>,
    pub compare_at_price: Option<Money>,
    pub barcode: Option<String>,
    pub inventory_item: Option<InventoryItemInput>,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct ProductVariantsBulkUpdatePayload {
    pub product: Option<Product>,
    pub product_variants: Option<Vec<ProductVariant>>,
    pub user_errors: Vec<ProductVariantsBulkUpdateUserError>,
}

#[derive(Clone, SimpleObject)]
pub(crate) struct BulkOperationRunQueryPayload {
    pub bulk_operation: Option<BulkOperation>,
    pub user_errors: Vec<BulkOperationUserError>,
}

pub(crate) struct Mutation;

/// Named apart from the schema's `Mutation` root, which merges it with the subscriptions'.
#[Object(name = "CatalogMutations")]
impl Mutation {
    /// Sets absolute quantities under the rules of the URL's version ([`InventoryRules`]).
    /// Without a required `@idempotent(key:)`, or with a blank key, the field fails with a
    /// GraphQL error (code `IDEMPOTENCY_KEY_REQUIRED`; Shopify documents only that the call
    /// errors at runtime); a key that already applied returns the first result and changes
    /// nothing.
    async fn inventory_set_quantities(
        &self,
        ctx: &Context<'_>,
        input: InventorySetQuantitiesInput,
    ) -> Result<InventorySetQuantitiesPayload> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let rules = InventoryRules::of(ctx.data_opt::<UrlVersion>());
        let key = current_key();
        if key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return Err(Error::new("The idempotency key cannot be an empty string or whitespace only.")
                .extend_with(|_, e| e.set("code", "IDEMPOTENCY_KEY_REQUIRED")));
        }
        if key.is_none() && rules.key_required() {
            return Err(Error::new("The @idempotent directive is required for this mutation.")
                .extend_with(|_, e| e.set("code", "IDEMPOTENCY_KEY_REQUIRED")));
        }
        Ok(writes::set_quantities(sim, &input, key, rules))
    }

    /// Sets up to 25 metafields, all or none.
    async fn metafields_set(
        &self,
        ctx: &Context<'_>,
        metafields: Vec<MetafieldsSetInput>,
    ) -> Result<MetafieldsSetPayload> {
        let sim = ctx.data::<Arc<Sim>>()?;
        Ok(writes::set_metafields(sim, &metafields, current_key()))
    }

    /// Creates or updates a customer found by id, e-mail or phone.
    async fn customer_set(
        &self,
        ctx: &Context<'_>,
        identifier: Option<CustomerSetIdentifiers>,
        input: CustomerSetInput,
    ) -> Result<CustomerSetPayload> {
        let sim = ctx.data::<Arc<Sim>>()?;
        Ok(writes::set_customer(sim, identifier.as_ref(), &input, current_key()))
    }

    /// Updates variants of one product, all or none unless `allowPartialUpdates`.
    async fn product_variants_bulk_update(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        variants: Vec<ProductVariantsBulkInput>,
        allow_partial_updates: Option<bool>,
    ) -> Result<ProductVariantsBulkUpdatePayload> {
        let sim = ctx.data::<Arc<Sim>>()?;
        Ok(writes::update_variants(sim, &product_id, &variants, allow_partial_updates.unwrap_or(false), current_key()))
    }

    /// Starts a bulk query.
    async fn bulk_operation_run_query(
        &self,
        ctx: &Context<'_>,
        query: String,
        group_objects: Option<bool>,
    ) -> Result<BulkOperationRunQueryPayload> {
        let sim = ctx.data::<Arc<Sim>>()?;
        let schema = ctx.data::<ShopSchema>()?.clone();
        Ok(match bulk::start(sim, schema, query, group_objects.unwrap_or(false)).await {
            Ok(op) => BulkOperationRunQueryPayload { bulk_operation: Some(bulk::view(sim, &op)), user_errors: vec![] },
            Err(e) => BulkOperationRunQueryPayload {
                bulk_operation: None,
                user_errors: vec![BulkOperationUserError {
                    field: Some(vec!["query".into()]),
                    message: e.to_string(),
                    code: Some(e.code().into()),
                }],
            },
        })
    }
}
