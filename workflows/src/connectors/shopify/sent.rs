//! Every GraphQL document the Shopify client can send, with realistic sample variables, so a
//! test can check each against Shopify's published schema of every supported version
//! (`workflows/tests/shopify_schema.rs`).
//!
//! The sample variables are built the way the client builds them (the same wire types, the same
//! inline inputs), so a drift in either the text or the variables shows up in that test.

use serde_json::{json, Value};

use super::bulk::BulkKind;
use super::documents as doc;
use super::mutations::{CustomerIdentifier, CustomerSetInput, InventoryQuantity, MetafieldInput, VariantUpdate};

/// One GraphQL document the connector can send, with realistic sample variables.
#[derive(Debug, Clone)]
pub struct SentDocument {
    /// What it is, for messages (e.g. `ProductsPage`).
    pub name: &'static str,
    /// The document text, as sent.
    pub query: String,
    /// Sample variables, as the client would send them.
    pub variables: Value,
}

fn sent(name: &'static str, query: impl Into<String>, variables: Value) -> SentDocument {
    SentDocument { name, query: query.into(), variables }
}

/// Every document the connector sends when it speaks `version` (e.g. "2026-10").
///
/// Today's documents do not differ by version; the argument is where they will.
pub fn sent_documents(version: &str) -> Vec<SentDocument> {
    let _ = version;
    let product = "gid://shopify/Product/1001";
    let after = "eyJsYXN0X2lkIjoxMDAxfQ==";
    let quantities = [InventoryQuantity {
        inventory_item_id: "gid://shopify/InventoryItem/111".into(),
        location_id: "gid://shopify/Location/7".into(),
        quantity: 12,
    }];
    let inventory_input = json!({
        "name": "available",
        "reason": "correction",
        "ignoreCompareQuantity": true,
        "quantities": quantities,
    });
    let metafields = [MetafieldInput {
        owner_id: "gid://shopify/Customer/9".into(),
        namespace: "custom".into(),
        key: "total_spent".into(),
        type_: "number_integer".into(),
        value: "150000".into(),
    }];
    let variants = [VariantUpdate {
        id: "gid://shopify/ProductVariant/11".into(),
        price: Some("199000.00".into()),
        compare_at_price: Some("249000.00".into()),
        barcode: Some("8934567890123".into()),
    }];
    let customer = CustomerSetInput {
        first_name: Some("An".into()),
        last_name: Some("Nguyễn".into()),
        email: Some("an@example.com".into()),
        phone: Some("+84988992942".into()),
        note: Some("Nhanh customer 42".into()),
    };
    vec![
        sent(
            "ProductsPage",
            doc::PRODUCTS_PAGE,
            json!({"first": 43, "after": after, "query": "updated_at:>'2025-01-01T00:00:00Z'", "variantsFirst": 10}),
        ),
        sent(
            "ProductsPage (first page)",
            doc::PRODUCTS_PAGE,
            json!({"first": 43, "after": null, "query": null, "variantsFirst": 10}),
        ),
        sent("ProductVariantsPage", doc::PRODUCT_VARIANTS_PAGE, json!({"id": product, "first": 249, "after": after})),
        sent(
            "CustomersPage",
            doc::CUSTOMERS_PAGE,
            json!({"first": 166, "after": after, "query": "updated_at:>'2025-01-01T00:00:00Z'"}),
        ),
        sent("ProductsCount", doc::PRODUCTS_COUNT, json!({})),
        sent("CustomersCount", doc::CUSTOMERS_COUNT, json!({})),
        sent("LocationsPage", doc::LOCATIONS_PAGE, json!({"first": doc::MAX_FIRST, "after": null})),
        sent("BulkRun (products)", doc::BULK_RUN_QUERY, json!({"query": BulkKind::Products.query()})),
        sent("BulkRun (customers)", doc::BULK_RUN_QUERY, json!({"query": BulkKind::Customers.query()})),
        sent("CurrentBulkOperation", doc::CURRENT_BULK_OPERATION, json!({})),
        sent(
            "InventorySet",
            doc::INVENTORY_SET_QUANTITIES,
            json!({"input": inventory_input, "key": "job-1:step-3:batch-0"}),
        ),
        sent("MetafieldsSet", doc::METAFIELDS_SET, json!({"metafields": metafields})),
        sent("VariantsUpdate", doc::PRODUCT_VARIANTS_BULK_UPDATE, json!({"productId": product, "variants": variants})),
        sent(
            "CustomerSet",
            doc::CUSTOMER_SET,
            json!({"identifier": CustomerIdentifier::Phone("+84988992942".into()), "input": customer}),
        ),
    ]
}
