//! The Shopify server checks every request against Shopify's published schema of the version
//! that answers it, refuses an invalid one as Shopify does (HTTP 200, `errors`, no `data`) and
//! names the answering version in `X-Shopify-API-Version`.

mod harness;

use dongbo_simulator::Scope;
use harness::{small, start, Harness};
use serde_json::{json, Value};

/// POSTs `query` with `variables` to `version`; returns the status, the answering version
/// header and the body.
async fn post(h: &Harness, version: &str, query: &str, variables: Value) -> (u16, Option<String>, Value) {
    let url = format!("{}/admin/api/{version}/graphql.json", h.sim.shopify_shop_url());
    let token = h.sim.credentials().shopify_access_token.clone();
    let body = json!({"query": query, "variables": variables});
    let response =
        h.http.post(url).header("X-Shopify-Access-Token", token).json(&body).send().await.expect("shopify request");
    let status = response.status().as_u16();
    let answered = response.headers().get("x-shopify-api-version").map(|v| v.to_str().expect("ASCII").to_owned());
    (status, answered, response.json().await.expect("shopify JSON"))
}

/// Asserts a refusal: 200, no `data`, one error of `code` whose message holds `piece`.
fn assert_refused(status: u16, reply: &Value, code: &str, piece: &str) {
    assert_eq!(status, 200, "{reply}");
    assert!(reply.get("data").is_none(), "{reply}");
    let error = &reply["errors"][0];
    assert_eq!(error["extensions"]["code"], code, "{reply}");
    assert!(error["message"].as_str().expect("message").contains(piece), "{reply}");
}

const PRODUCTS: &str = "query Products($first: Int!) { products(first: $first) { nodes { id title } } }";

#[tokio::test]
async fn a_valid_document_runs_and_the_reply_names_the_version_that_answered() {
    let h = start(small()).await;
    h.sim.faults().set_throttle(Scope::Shopify, false);
    for version in ["2026-01", "2026-04", "2026-07", "2026-10"] {
        let (status, answered, reply) = post(&h, version, PRODUCTS, json!({"first": 3})).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(answered.as_deref(), Some(version));
        assert!(reply.get("errors").is_none(), "{reply}");
        assert_eq!(reply["data"]["products"]["nodes"].as_array().expect("nodes").len(), 3, "{reply}");
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_field_a_deprecated_field_and_a_wrong_variable_are_refused_without_data_a_bad_bulk_query_is_a_user_error(
) {
    let h = start(small()).await;
    let unknown = "query {\n  products(first: 2) { nodes { id shoeSize } } }";
    let (status, _, reply) = post(&h, "2026-10", unknown, json!({})).await;
    assert_refused(status, &reply, "validationFailed", "shoeSize");
    assert_eq!(reply["errors"][0]["locations"], json!([{"line": 2, "column": 35}]), "{reply}");

    let deprecated = "{ products(first: 2) { nodes { id bodyHtml } } }";
    let (status, _, reply) = post(&h, "2026-10", deprecated, json!({})).await;
    assert_refused(status, &reply, "deprecated", "Product.bodyHtml");

    let (status, _, reply) = post(&h, "2026-10", PRODUCTS, json!({"first": "three"})).await;
    assert_refused(status, &reply, "invalidVariable", "Int");

    let bulk = "mutation Run($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { message } } }";
    // A bad bulk query is not a refused request: Shopify answers it with the mutation's userErrors.
    let (status, _, reply) = post(&h, "2026-10", bulk, json!({"q": "{ shop { name } }"})).await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.get("errors").is_none(), "{reply}");
    assert_eq!(reply["data"]["bulkOperationRunQuery"]["bulkOperation"], Value::Null, "{reply}");
    assert!(reply["data"]["bulkOperationRunQuery"]["userErrors"][0]["message"].is_string(), "{reply}");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_version_shopify_no_longer_supports_falls_forward_to_the_oldest_supported() {
    let h = start(small()).await;
    h.sim.faults().set_throttle(Scope::Shopify, false);
    for asked in ["2025-10", "2024-01", "latest"] {
        let (status, answered, reply) = post(&h, asked, PRODUCTS, json!({"first": 1})).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(answered.as_deref(), Some("2026-01"), "{asked}");
        assert!(reply["data"]["products"]["nodes"].is_array(), "{reply}");
    }
    // `cashDrawers` exists from 2026-04: a request for 2025-10 is answered by 2026-01's schema,
    // which refuses it, while 2026-10's schema lets it through.
    let drawers = "{ cashDrawers(first: 1) { nodes { id } } }";
    let (status, answered, reply) = post(&h, "2025-10", drawers, json!({})).await;
    assert_eq!(answered.as_deref(), Some("2026-01"));
    assert_refused(status, &reply, "validationFailed", "cashDrawers");
    let (_, answered, reply) = post(&h, "2026-10", drawers, json!({})).await;
    assert_eq!(answered.as_deref(), Some("2026-10"));
    assert_ne!(reply["errors"][0]["extensions"]["code"], "validationFailed", "{reply}");
    h.sim.shutdown().await;
}
