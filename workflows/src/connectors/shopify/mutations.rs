//! Writes: inventory quantities (idempotent by key), metafields, variants and customers.
//!
//! A mutation that reaches Shopify answers HTTP 200 even when it did nothing: its
//! `userErrors` say which input failed. They come back here as data, next to what succeeded,
//! never as a transport error.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::documents as doc;
use super::ShopifyClient;
use crate::connectors::error::{ConnectorError, Result};

/// Shopify's limit of metafields per `metafieldsSet`.
pub const MAX_METAFIELDS_PER_CALL: usize = 25;

/// An input Shopify rejected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserError {
    /// Machine-readable code, when given.
    #[serde(default)]
    pub code: Option<String>,
    /// The path to the offending input, e.g. `["metafields", "3", "value"]`.
    #[serde(default)]
    pub field: Option<Vec<String>>,
    /// What was wrong.
    pub message: String,
}

impl UserError {
    /// The index of the list item the error is about: the first numeric segment of `field`
    /// (`["metafields", "3", "value"]` → 3; `["input", "quantities", "0", …]` → 0).
    pub fn item_index(&self) -> Option<usize> {
        self.field.as_ref()?.iter().find_map(|s| s.parse().ok())
    }
}

/// One absolute quantity to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryQuantity {
    /// `gid://shopify/InventoryItem/…`.
    pub inventory_item_id: String,
    /// `gid://shopify/Location/…`.
    pub location_id: String,
    /// The new available quantity.
    pub quantity: i64,
}

/// One metafield to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetafieldInput {
    /// The owner (a customer's gid).
    pub owner_id: String,
    /// E.g. `custom`.
    pub namespace: String,
    /// E.g. `total_spent`.
    pub key: String,
    /// E.g. `number_integer`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The value as a string.
    pub value: String,
}

/// A metafield that was set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SetMetafield {
    /// Its gid.
    pub id: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Key.
    pub key: Option<String>,
}

/// The result of `metafieldsSet`: Shopify applies the whole call or none of it, so either
/// `metafields` lists every input or `user_errors` says which ones (see
/// [`UserError::item_index`]) stopped it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetafieldsSetOutcome {
    /// The metafields set.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metafields: Vec<SetMetafield>,
    /// The inputs rejected.
    #[serde(default)]
    pub user_errors: Vec<UserError>,
}

/// One variant to update (unset fields are left alone).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantUpdate {
    /// `gid://shopify/ProductVariant/…`.
    pub id: String,
    /// New price, a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// New compare-at price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_at_price: Option<String>,
    /// New barcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
}

/// The result of `productVariantsBulkUpdate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantsUpdateOutcome {
    /// Ids of the variants updated.
    pub variant_ids: Vec<String>,
    /// The inputs rejected.
    pub user_errors: Vec<UserError>,
}

/// Which customer `customerSet` addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomerIdentifier {
    /// By gid.
    Id(String),
    /// By email.
    Email(String),
    /// By E.164 phone (unique per shop).
    Phone(String),
}

/// Fields of `customerSet` (unset fields are left alone).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSetInput {
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164 phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Free-text note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The result of `customerSet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSetOutcome {
    /// The customer created or updated.
    pub customer_id: Option<String>,
    /// The inputs rejected.
    pub user_errors: Vec<UserError>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserErrorsOnly {
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
struct HasId {
    id: String,
}

/// One quantity as `InventoryQuantityInput` carries it: the absolute quantity, and
/// `changeFromQuantity` passed explicitly as `null`.
///
/// dongbo sets absolute numbers read from Nhanh, the source of truth, so it skips Shopify's
/// compare-and-swap. Every version dongbo speaks reads this the same way
/// (<https://shopify.dev/changelog/compare-and-swap-redesign-for-inventory-set-quantities>):
/// 2026-01 introduced `changeFromQuantity` (an explicit `null` skips the compare) and deprecated
/// `ignoreCompareQuantity` and `compareQuantity`; from 2026-04 those two are gone and
/// `changeFromQuantity` must be passed on every quantity, `null` included
/// (<https://shopify.dev/changelog/finalizing-compare-and-swap-redesign-for-inventory-set-quantities>).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QuantityInput<'a> {
    #[serde(flatten)]
    quantity: &'a InventoryQuantity,
    /// Always `None`, serialised as an explicit `null` (never skipped).
    change_from_quantity: Option<i64>,
}

/// The variables of [`doc::INVENTORY_SET_QUANTITIES`]: absolute `available` quantities with
/// reason `correction`, under `idempotency_key` (passed to `@idempotent(key:)`, which exists
/// from 2026-01 and is mandatory from 2026-04:
/// <https://shopify.dev/changelog/making-idempotency-mandatory-for-inventory-adjustments-and-refund-mutations>).
pub(crate) fn inventory_set_variables(quantities: &[InventoryQuantity], idempotency_key: &str) -> serde_json::Value {
    let quantities: Vec<QuantityInput<'_>> =
        quantities.iter().map(|quantity| QuantityInput { quantity, change_from_quantity: None }).collect();
    json!({
        "input": {"name": "available", "reason": "correction", "quantities": quantities},
        "key": idempotency_key,
    })
}

/// The variables of [`doc::METAFIELDS_SET`].
pub(crate) fn metafields_set_variables(metafields: &[MetafieldInput]) -> serde_json::Value {
    json!({"metafields": metafields})
}

/// The variables of [`doc::PRODUCT_VARIANTS_BULK_UPDATE`].
pub(crate) fn variants_update_variables(product_id: &str, variants: &[VariantUpdate]) -> serde_json::Value {
    json!({"productId": product_id, "variants": variants})
}

/// The variables of [`doc::CUSTOMER_SET`].
pub(crate) fn customer_set_variables(identifier: &CustomerIdentifier, input: &CustomerSetInput) -> serde_json::Value {
    json!({"identifier": identifier, "input": input})
}

impl ShopifyClient {
    /// Sets absolute `available` quantities (reason `correction`) under `idempotency_key`:
    /// Shopify applies a key once, so re-running a step after a crash with the same key
    /// (derived from job, step and batch) never applies it twice.
    pub async fn inventory_set_quantities(
        &self,
        quantities: &[InventoryQuantity],
        idempotency_key: &str,
    ) -> Result<Vec<UserError>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            inventory_set_quantities: Option<UserErrorsOnly>,
        }
        if idempotency_key.trim().is_empty() {
            return Err(ConnectorError::permanent("inventorySetQuantities needs an idempotency key"));
        }
        let vars = inventory_set_variables(quantities, idempotency_key);
        let data: Data =
            self.execute("inventorySetQuantities", doc::INVENTORY_SET_QUANTITIES, vars, doc::MUTATION_COST).await?;
        Ok(data.inventory_set_quantities.map(|p| p.user_errors).unwrap_or_default())
    }

    /// Sets up to [`MAX_METAFIELDS_PER_CALL`] metafields in one atomic call.
    pub async fn metafields_set(&self, metafields: &[MetafieldInput]) -> Result<MetafieldsSetOutcome> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            metafields_set: Option<MetafieldsSetOutcome>,
        }
        if metafields.len() > MAX_METAFIELDS_PER_CALL {
            return Err(ConnectorError::permanent(format!(
                "metafieldsSet takes at most {MAX_METAFIELDS_PER_CALL} metafields, got {}",
                metafields.len()
            )));
        }
        let vars = metafields_set_variables(metafields);
        let data: Data = self.execute("metafieldsSet", doc::METAFIELDS_SET, vars, doc::MUTATION_COST).await?;
        data.metafields_set.ok_or_else(|| ConnectorError::malformed("metafieldsSet reply: payload is null"))
    }

    /// Updates variants of one product.
    pub async fn product_variants_bulk_update(
        &self,
        product_id: &str,
        variants: &[VariantUpdate],
    ) -> Result<VariantsUpdateOutcome> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            #[serde(default, deserialize_with = "null_as_empty")]
            product_variants: Vec<HasId>,
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            product_variants_bulk_update: Option<Payload>,
        }
        let vars = variants_update_variables(product_id, variants);
        let data: Data = self
            .execute("productVariantsBulkUpdate", doc::PRODUCT_VARIANTS_BULK_UPDATE, vars, doc::MUTATION_COST)
            .await?;
        let p = data
            .product_variants_bulk_update
            .ok_or_else(|| ConnectorError::malformed("productVariantsBulkUpdate reply: payload is null"))?;
        Ok(VariantsUpdateOutcome {
            variant_ids: p.product_variants.into_iter().map(|v| v.id).collect(),
            user_errors: p.user_errors,
        })
    }

    /// Creates or updates the customer `identifier` names.
    pub async fn customer_set(
        &self,
        identifier: &CustomerIdentifier,
        input: &CustomerSetInput,
    ) -> Result<CustomerSetOutcome> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            customer: Option<HasId>,
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            customer_set: Option<Payload>,
        }
        let vars = customer_set_variables(identifier, input);
        let data: Data = self.execute("customerSet", doc::CUSTOMER_SET, vars, doc::MUTATION_COST).await?;
        let p = data.customer_set.ok_or_else(|| ConnectorError::malformed("customerSet reply: payload is null"))?;
        Ok(CustomerSetOutcome { customer_id: p.customer.map(|c| c.id), user_errors: p.user_errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(field: Option<&[&str]>, expect: Option<usize>) {
        let e = UserError {
            code: None,
            field: field.map(|f| f.iter().map(|s| s.to_string()).collect()),
            message: "bad".into(),
        };
        assert_eq!(e.item_index(), expect, "{field:?}");
    }

    #[test]
    fn a_user_error_points_at_the_item_its_field_path_names() {
        check(Some(&["metafields", "3", "value"]), Some(3));
        check(Some(&["input", "quantities", "0", "locationId"]), Some(0));
        check(Some(&["identifier"]), None);
        check(None, None);
    }

    #[test]
    fn inputs_serialise_to_shopify_field_names() {
        let m = MetafieldInput {
            owner_id: "gid://shopify/Customer/1".into(),
            namespace: "custom".into(),
            key: "total_spent".into(),
            type_: "number_integer".into(),
            value: "1500000".into(),
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"ownerId": "gid://shopify/Customer/1", "namespace": "custom", "key": "total_spent", "type": "number_integer", "value": "1500000"})
        );
        assert_eq!(
            serde_json::to_value(CustomerIdentifier::Phone("+84988992942".into())).unwrap(),
            json!({"phone": "+84988992942"})
        );
        let q = InventoryQuantity { inventory_item_id: "i".into(), location_id: "l".into(), quantity: 3 };
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            json!({"inventoryItemId": "i", "locationId": "l", "quantity": 3})
        );
        assert_eq!(
            inventory_set_variables(&[q], "job-1/3/0"),
            json!({
                "input": {"name": "available", "reason": "correction", "quantities": [
                    {"inventoryItemId": "i", "locationId": "l", "quantity": 3, "changeFromQuantity": null}
                ]},
                "key": "job-1/3/0",
            })
        );
        let v = VariantUpdate { id: "v".into(), price: Some("10.00".into()), ..Default::default() };
        assert_eq!(serde_json::to_value(&v).unwrap(), json!({"id": "v", "price": "10.00"}));
    }

    #[test]
    fn a_metafields_outcome_reads_with_null_lists() {
        let o: MetafieldsSetOutcome = serde_json::from_value(json!({
            "metafields": null,
            "userErrors": [{"field": ["metafields", "1", "value"], "message": "not an integer", "code": "INVALID_VALUE"}]
        }))
        .unwrap();
        assert!(o.metafields.is_empty());
        assert_eq!(o.user_errors[0].item_index(), Some(1));
    }
}
