//! Bulk query operations over real HTTP: status, JSONL file, `__parentId`s.

mod harness;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dongbo_simulator::Scope;
use harness::{small, start, Harness};
use serde_json::{json, Value};

const RUN: &str = "mutation($q: String!, $g: Boolean) { bulkOperationRunQuery(query: $q, groupObjects: $g) { bulkOperation { id status } userErrors { field message code } } }";
const POLL: &str =
    "query($id: ID!) { bulkOperation(id: $id) { id status errorCode objectCount rootObjectCount url partialDataUrl } }";

/// Starts a bulk query, polls until it is no longer running, returns the final operation.
async fn run_bulk(h: &Harness, query: &str) -> Value {
    run_bulk_grouped(h, query, None).await
}

/// [`run_bulk`] with `groupObjects` set (or left to Shopify's default, `false`).
async fn run_bulk_grouped(h: &Harness, query: &str, grouped: Option<bool>) -> Value {
    let started = h.gql(RUN, json!({"q": query, "g": grouped})).await;
    assert_eq!(started["data"]["bulkOperationRunQuery"]["userErrors"], json!([]), "{started}");
    let id = started["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"].clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let op = h.gql(POLL, json!({"id": id})).await["data"]["bulkOperation"].clone();
        assert_eq!(op["id"], id);
        if !matches!(op["status"].as_str(), Some("CREATED" | "RUNNING")) {
            return op;
        }
        assert!(tokio::time::Instant::now() < deadline, "bulk operation never finished: {op}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn lines(h: &Harness, url: &str) -> Vec<Value> {
    let text = h.http.get(url).send().await.unwrap().text().await.unwrap();
    text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

#[tokio::test]
async fn a_product_bulk_export_holds_every_product_and_variant_with_correct_parent_ids() {
    let h = start(small()).await;
    h.sim.faults().set_throttle(Scope::Shopify, false);
    let query = "{ products { edges { node { id title variants { edges { node { id sku barcode inventoryItem { id } } } } } } } }";
    let op = run_bulk(&h, query).await;
    assert_eq!(op["status"], "COMPLETED", "{op}");
    let rows = lines(&h, op["url"].as_str().unwrap()).await;
    let truth = h.sim.truth();
    assert_eq!(op["objectCount"], json!((truth.shopify_products + truth.shopify_variants).to_string()));

    let products: HashSet<&str> =
        rows.iter().filter(|r| r.get("__parentId").is_none()).map(|r| r["id"].as_str().unwrap()).collect();
    let variants: Vec<&Value> = rows.iter().filter(|r| r.get("__parentId").is_some()).collect();
    assert_eq!(products.len(), truth.shopify_products);
    assert_eq!(variants.len(), truth.shopify_variants);

    // The paged API is the reference for which variant belongs to which product.
    let paged = h.walk_shopify("products", "id variants(first: 10) { nodes { id } }", 50, None).await;
    let parent_of: HashMap<String, String> = paged
        .iter()
        .flat_map(|p| {
            let pid = p["id"].as_str().unwrap().to_string();
            p["variants"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| (v["id"].as_str().unwrap().to_string(), pid.clone()))
        })
        .collect();
    for v in variants {
        let id = v["id"].as_str().unwrap();
        assert_eq!(v["__parentId"].as_str(), parent_of.get(id).map(String::as_str), "{v}");
        assert!(v["inventoryItem"]["id"].as_str().unwrap().starts_with("gid://shopify/InventoryItem/"));
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_customer_bulk_export_holds_every_customer_once() {
    let h = start(small()).await;
    let query = "{ customers { edges { node { id defaultPhoneNumber { phoneNumber } metafield(namespace: \"custom\", key: \"total_spent\") { value } } } } }";
    let op = run_bulk(&h, query).await;
    assert_eq!(op["status"], "COMPLETED", "{op}");
    let rows = lines(&h, op["url"].as_str().unwrap()).await;
    let ids: HashSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rows.len(), h.sim.truth().shopify_customers);
    assert_eq!(ids.len(), rows.len());
    assert!(rows.iter().all(|r| r.get("__parentId").is_none()));
    h.sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_bulk_query_is_a_user_error_and_starts_nothing() {
    let h = start(small()).await;
    for query in ["{ products { edges { node { id shoeSize } } } }", "{ shop { name } }", "{ products { edges"] {
        let reply = h.gql(RUN, json!({"q": query})).await;
        let payload = &reply["data"]["bulkOperationRunQuery"];
        assert_eq!(payload["bulkOperation"], Value::Null, "{reply}");
        assert_eq!(payload["userErrors"][0]["field"], json!(["query"]), "{reply}");
    }
    let current = h.gql("{ currentBulkOperation { id } }", json!({})).await;
    assert_eq!(current["data"]["currentBulkOperation"], Value::Null);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn bulk_operations_are_read_by_id_and_current_bulk_operation_is_deprecated_as_in_2026_10() {
    let h = start(small()).await;
    let op = run_bulk(&h, "{ customers { edges { node { id } } } }").await;
    assert_eq!(op["status"], "COMPLETED", "{op}");
    let unknown = h.gql(POLL, json!({"id": "gid://shopify/BulkOperation/1"})).await;
    assert_eq!(unknown["data"]["bulkOperation"], Value::Null, "{unknown}");
    let schema = h
        .gql(
            "{ __schema { queryType { fields(includeDeprecated: true) { name isDeprecated deprecationReason } } } }",
            json!({}),
        )
        .await;
    let fields = schema["data"]["__schema"]["queryType"]["fields"].as_array().expect("fields").clone();
    let field = |name: &str| fields.iter().find(|f| f["name"] == name).cloned().unwrap_or(Value::Null);
    assert_eq!(field("bulkOperation")["isDeprecated"], false);
    let current = field("currentBulkOperation");
    assert_eq!(current["isDeprecated"], true, "{current}");
    assert_eq!(current["deprecationReason"], "Use `bulkOperations` with status filter instead.");
    h.sim.shutdown().await;
}

/// Where each line's parent stands in `rows`: for every child, whether its parent came before it.
fn children_after_parents(rows: &[Value]) -> Vec<bool> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in rows {
        match r.get("__parentId").and_then(Value::as_str) {
            Some(parent) => out.push(seen.contains(parent)),
            None => {
                seen.insert(r["id"].as_str().unwrap().to_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn grouped_output_keeps_each_variant_after_its_product_and_the_default_does_not() {
    let h = start(small()).await;
    h.sim.faults().set_throttle(Scope::Shopify, false);
    let query = "{ products { edges { node { id variants { edges { node { id } } } } } } }";

    let op = run_bulk_grouped(&h, query, Some(true)).await;
    let grouped = children_after_parents(&lines(&h, op["url"].as_str().unwrap()).await);
    assert!(!grouped.is_empty());
    assert!(grouped.iter().all(|after| *after), "groupObjects: true puts every child after its parent");

    // From 2026-01 Shopify does not group by default: a client must not rely on the order then.
    let op = run_bulk_grouped(&h, query, None).await;
    let ungrouped = children_after_parents(&lines(&h, op["url"].as_str().unwrap()).await);
    assert_eq!(ungrouped.len(), grouped.len());
    assert!(ungrouped.iter().any(|after| !after), "the default output is not grouped by parent");
    h.sim.shutdown().await;
}
