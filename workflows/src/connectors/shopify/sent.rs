//! Every GraphQL document the connector can send, with realistic sample variables, for the
//! contract tests that check them against Shopify's published schema of each version.
//!
//! The list is built from the very constants and variable builders the client calls, so a
//! change to a document or to how its variables are built shows up here without a copy to
//! keep in step.

use serde_json::{json, Value};

use super::bulk::BulkKind;
use super::documents as doc;
use super::mutations::{
    customer_set_variables, inventory_set_variables, metafields_set_variables, variants_update_variables,
    CustomerIdentifier, CustomerSetInput, InventoryQuantity, MetafieldInput, VariantUpdate,
};
use super::readback;
use super::subscriptions as subs;
use super::version::{ApiVersion, SPOKEN};
use super::ShopifyPolicy;
use crate::pull::plan::updated_since_query;

/// One GraphQL document the connector can send, with realistic sample variables.
#[derive(Debug, Clone, PartialEq)]
pub struct SentDocument {
    /// What the connector calls it (the operation name, or a label for an anonymous bulk query).
    pub name: &'static str,
    /// The document's text, exactly as sent.
    pub query: String,
    /// Sample variables of the shape the client builds.
    pub variables: Value,
}

fn sent(name: &'static str, query: impl Into<String>, variables: Value) -> SentDocument {
    SentDocument { name, query: query.into(), variables }
}

/// Every document the connector sends when it speaks `version` (e.g. `"2026-10"`); empty for a
/// version dongbo does not speak (see [`SPOKEN`]).
///
/// Today every spoken version gets the same texts: each was chosen to be valid and free of
/// deprecated fields in all of them (see [`doc::INVENTORY_SET_QUANTITIES`]).
pub fn sent_documents(version: &str) -> Vec<SentDocument> {
    match ApiVersion::parse(version) {
        Some(v) if SPOKEN.contains(&v) => {}
        _ => return Vec::new(),
    }
    let variants_first = ShopifyPolicy::default().variants_per_product;
    let products_first = doc::max_first(doc::product_node_cost(variants_first), 0);
    let customers_first = doc::max_first(doc::CUSTOMER_NODE_COST, 0);
    let cursor = "eyJsYXN0X2lkIjo3NzAwMDAwMDAwMDEsImxhc3RfdmFsdWUiOiI3NzAwMDAwMDAwMDEifQ==";
    // 2026-12-01T00:00:00Z, as an incremental pull's watermark.
    let since = updated_since_query(1_796_083_200);
    let product = "gid://shopify/Product/7700000000001";
    let quantities = [
        InventoryQuantity {
            inventory_item_id: "gid://shopify/InventoryItem/4400000000001".into(),
            location_id: "gid://shopify/Location/6600000001".into(),
            quantity: 12,
        },
        InventoryQuantity {
            inventory_item_id: "gid://shopify/InventoryItem/4400000000002".into(),
            location_id: "gid://shopify/Location/6600000002".into(),
            quantity: 0,
        },
    ];
    let metafields = [MetafieldInput {
        owner_id: "gid://shopify/Customer/5500000000001".into(),
        namespace: "custom".into(),
        key: "total_spent".into(),
        type_: "number_integer".into(),
        value: "1500000".into(),
    }];
    let variants = [VariantUpdate {
        id: "gid://shopify/ProductVariant/8800000000001".into(),
        price: Some("199000.00".into()),
        compare_at_price: Some("249000.00".into()),
        barcode: Some("8934563123456".into()),
    }];
    let customer = CustomerSetInput {
        first_name: Some("An".into()),
        last_name: Some("Nguyễn".into()),
        email: Some("an.nguyen@example.vn".into()),
        phone: Some("+84988992942".into()),
        note: None,
    };
    vec![
        sent(
            "ProductsPage",
            doc::PRODUCTS_PAGE,
            doc::products_page_variables(products_first, None, None, variants_first),
        ),
        sent(
            "ProductsPage",
            doc::PRODUCTS_PAGE,
            doc::products_page_variables(products_first, Some(cursor), Some(&since), variants_first),
        ),
        sent(
            "ProductVariantsPage",
            doc::PRODUCT_VARIANTS_PAGE,
            doc::product_variants_page_variables(product, doc::max_first(doc::VARIANT_NODE_COST, 1), Some(cursor)),
        ),
        sent("CustomersPage", doc::CUSTOMERS_PAGE, doc::customers_page_variables(customers_first, None, None)),
        sent(
            "CustomersPage",
            doc::CUSTOMERS_PAGE,
            doc::customers_page_variables(customers_first, Some(cursor), Some(&since)),
        ),
        sent("ProductsCount", doc::PRODUCTS_COUNT, json!({})),
        sent("CustomersCount", doc::CUSTOMERS_COUNT, json!({})),
        sent("LocationsPage", doc::LOCATIONS_PAGE, doc::locations_page_variables(doc::MAX_FIRST, None)),
        sent("BulkRun", doc::BULK_RUN_QUERY, BulkKind::Products.run_variables()),
        sent("BulkRun", doc::BULK_RUN_QUERY, BulkKind::Customers.run_variables()),
        sent("BulkRun", doc::BULK_RUN_QUERY, BulkKind::Levels.run_variables()),
        sent("bulk products query", BulkKind::Products.query(), json!({})),
        sent("bulk customers query", BulkKind::Customers.query(), json!({})),
        sent("bulk levels query", BulkKind::Levels.query(), json!({})),
        sent("BulkOperation", super::bulk::BULK_OPERATION, json!({"id": "gid://shopify/BulkOperation/4410000001"})),
        sent(
            "InventorySet",
            doc::INVENTORY_SET_QUANTITIES,
            inventory_set_variables(&quantities, "job-7/step-12/batch-0"),
        ),
        sent("MetafieldsSet", doc::METAFIELDS_SET, metafields_set_variables(&metafields)),
        {
            let items = [
                ("gid://shopify/InventoryItem/4400000000001", vec!["gid://shopify/Location/6600000001"]),
                (
                    "gid://shopify/InventoryItem/4400000000002",
                    vec!["gid://shopify/Location/6600000001", "gid://shopify/Location/6600000002"],
                ),
            ];
            let (query, variables) = readback::levels_document(&items);
            sent("InventoryLevelsRead", query, variables)
        },
        {
            let owners = ["gid://shopify/Customer/5500000000001", "gid://shopify/Customer/5500000000002"];
            let (query, variables) =
                readback::metafields_document(&owners, doc::TOTAL_SPENT.namespace, doc::TOTAL_SPENT.key);
            sent("CustomerMetafieldsRead", query, variables)
        },
        sent("VariantsUpdate", doc::PRODUCT_VARIANTS_BULK_UPDATE, variants_update_variables(product, &variants)),
        sent(
            "CustomerSet",
            doc::CUSTOMER_SET,
            customer_set_variables(&CustomerIdentifier::Phone("+84988992942".into()), &customer),
        ),
        sent(
            "CustomerSet",
            doc::CUSTOMER_SET,
            customer_set_variables(&CustomerIdentifier::Id("gid://shopify/Customer/5500000000001".into()), &customer),
        ),
        sent("WebhookSubscriptions", subs::WEBHOOK_SUBSCRIPTIONS, subs::subscriptions_variables(doc::MAX_FIRST, None)),
        sent(
            "WebhookSubscriptions",
            subs::WEBHOOK_SUBSCRIPTIONS,
            subs::subscriptions_variables(doc::MAX_FIRST, Some(cursor)),
        ),
        sent(
            "WebhookSubscriptionCreate",
            subs::WEBHOOK_SUBSCRIPTION_CREATE,
            subs::create_variables("INVENTORY_LEVELS_UPDATE", "https://dongbo.example.vn/api/webhooks/shopify"),
        ),
        sent(
            "WebhookSubscriptionUpdate",
            subs::WEBHOOK_SUBSCRIPTION_UPDATE,
            subs::update_variables(
                "gid://shopify/WebhookSubscription/9900000001",
                "https://dongbo.example.vn/api/webhooks/shopify",
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spoken_version_lists_every_operation_and_others_list_none() {
        for v in SPOKEN {
            let docs = sent_documents(&v.to_string());
            for name in [
                "ProductsPage",
                "ProductVariantsPage",
                "CustomersPage",
                "ProductsCount",
                "CustomersCount",
                "LocationsPage",
                "BulkRun",
                "BulkOperation",
                "InventorySet",
                "MetafieldsSet",
                "VariantsUpdate",
                "CustomerSet",
                "WebhookSubscriptions",
                "WebhookSubscriptionCreate",
                "WebhookSubscriptionUpdate",
            ] {
                let d = docs.iter().find(|d| d.name == name).unwrap_or_else(|| panic!("{v}: no {name}"));
                assert!(d.query.contains(name), "{v}: {name} is not the operation of {}", d.query);
            }
        }
        assert!(sent_documents("2025-10").is_empty());
        assert!(sent_documents("unstable").is_empty());
    }

    #[test]
    fn the_inventory_write_skips_the_compare_explicitly_under_an_idempotency_key() {
        let docs = sent_documents("2026-04");
        let write = docs.iter().find(|d| d.name == "InventorySet").unwrap();
        assert!(write.query.contains("@idempotent(key: $key)"));
        assert!(!write.query.contains("ignoreCompareQuantity"));
        for q in write.variables["input"]["quantities"].as_array().unwrap() {
            assert_eq!(q.get("changeFromQuantity"), Some(&Value::Null), "{q}");
        }
        assert!(write.variables.get("input").and_then(|i| i.get("ignoreCompareQuantity")).is_none());
    }
}
