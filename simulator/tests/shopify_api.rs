//! The Shopify GraphQL server over real HTTP: auth, cursors, validation, cost and throttling.

mod harness;

use std::time::Duration;

use dongbo_simulator::{Plan, Scope, SimConfig};
use harness::{all_distinct, small, start};
use serde_json::json;

#[tokio::test]
async fn requests_without_the_right_token_get_401() {
    let h = start(small()).await;
    let body = json!({"query": "{ shop { name } }"});
    for token in [None, Some("shpat_wrong")] {
        let (status, reply) = h.gql_as(token, body.clone()).await;
        assert_eq!(status, 401);
        assert!(reply["errors"].as_str().unwrap().contains("Invalid API key or access token"));
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_full_walk_of_customers_and_products_by_cursors_visits_every_record_once() {
    let h = start(small()).await;
    h.sim.faults().set_throttle(Scope::Shopify, false);
    let truth = h.sim.truth();
    let customers = h.walk_shopify("customers", "id", 97, None).await;
    let ids: Vec<String> = customers.iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), truth.shopify_customers);
    assert!(all_distinct(&ids));
    for (_, gid) in &truth.customer_pairs {
        assert!(ids.binary_search(gid).is_ok() || ids.contains(gid), "{gid} missing");
    }
    let products = h.walk_shopify("products", "id variants(first: 10) { edges { node { id } } }", 50, None).await;
    assert_eq!(products.len(), truth.shopify_products);
    let variants: Vec<String> = products
        .iter()
        .flat_map(|p| {
            p["variants"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(variants.len(), truth.shopify_variants);
    assert!(all_distinct(&variants));
    h.sim.shutdown().await;
}

#[tokio::test]
async fn the_updated_at_query_filters_customers_and_counts_agree() {
    let h = start(small()).await;
    h.sim.faults().set_throttle(Scope::Shopify, false);
    let q = "updated_at:>'2025-01-01T00:00:00Z'";
    let recent = h.walk_shopify("customers", "id updatedAt", 100, Some(q)).await;
    assert!(!recent.is_empty());
    assert!(recent.iter().all(|n| n["updatedAt"].as_str().unwrap() > "2025-01-01T00:00:00Z"));
    let count = h.gql("query($q: String) { customersCount(query: $q) { count precision } }", json!({"q": q})).await;
    assert_eq!(count["data"]["customersCount"]["count"], json!(recent.len()));
    assert_eq!(count["data"]["customersCount"]["precision"], "EXACT");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_query_is_a_graphql_validation_error_without_data() {
    let h = start(small()).await;
    let reply = h.gql("{ customers(first: 5) { edges { node { id shoeSize } } } }", json!({})).await;
    assert!(reply.get("data").is_none(), "{reply}");
    let message = reply["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("shoeSize"), "{message}");
    assert!(reply["extensions"]["cost"]["throttleStatus"].is_object());

    let wrong_type = h.gql("query($n: Int!) { products(first: $n) { nodes { id } } }", json!({"n": "ten"})).await;
    assert!(wrong_type.get("data").is_none(), "{wrong_type}");
    assert!(wrong_type["errors"][0]["message"].as_str().unwrap().contains("Int"), "{wrong_type}");

    let syntax = h.gql("{ products(first: 5) { nodes { id }", json!({})).await;
    assert!(syntax.get("data").is_none() && syntax["errors"].is_array(), "{syntax}");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn every_reply_carries_the_cost_and_throttle_status() {
    let h = start(small()).await;
    let reply = h.gql("{ customers(first: 10) { edges { node { id amountSpent { amount } } } } }", json!({})).await;
    let cost = &reply["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 2 + 10 * 2);
    assert_eq!(cost["actualQueryCost"], 2 + 10 * 2);
    assert_eq!(cost["throttleStatus"]["maximumAvailable"], 1000.0);
    assert_eq!(cost["throttleStatus"]["restoreRate"], 100.0);
    h.sim.shutdown().await;
}

const QUERY_202: &str = "{ customers(first: 100) { edges { node { id amountSpent { amount } } } } }";

#[tokio::test(start_paused = true)]
async fn a_query_over_the_available_budget_is_throttled_and_the_bucket_refills_at_the_plan_rate() {
    let h = start(small()).await;
    for _ in 0..4 {
        let ok = h.gql(QUERY_202, json!({})).await;
        assert!(ok["data"]["customers"].is_object(), "{ok}");
    }
    let throttled = h.gql(QUERY_202, json!({})).await;
    assert_eq!(
        throttled,
        json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": {"cost": {
                "requestedQueryCost": 202,
                "actualQueryCost": null,
                "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 192.0, "restoreRate": 100.0},
            }},
        })
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    let refilled = h.gql(QUERY_202, json!({})).await;
    assert!(refilled["data"]["customers"].is_object(), "{refilled}");
    assert_eq!(refilled["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"], 292.0 - 202.0);
    assert_eq!(h.sim.rate_limit_hits().1, 1);
    h.sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_plus_plan_restores_a_thousand_points_a_second() {
    let h = start(SimConfig { plan: Plan::Plus, ..small() }).await;
    let q = "{ customers(first: 249) { edges { node { id amountSpent { amount } defaultEmailAddress { emailAddress } defaultPhoneNumber { phoneNumber } } } } }";
    let first = h.gql(q, json!({})).await;
    let cost = first["extensions"]["cost"]["requestedQueryCost"].as_f64().unwrap();
    assert_eq!(cost, 2.0 + 249.0 * 4.0);
    let after_first = first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"].as_f64().unwrap();
    tokio::time::advance(Duration::from_millis(500)).await;
    let second = h.gql("{ shop { name } }", json!({})).await;
    let status = &second["extensions"]["cost"]["throttleStatus"];
    assert_eq!(status["maximumAvailable"], 10000.0);
    assert_eq!(status["restoreRate"], 1000.0);
    // The first query's actual cost is at least 2 + 249 × 2, so 500 restored points fit.
    assert_eq!(status["currentlyAvailable"].as_f64().unwrap(), after_first + 500.0 - 1.0);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_query_above_the_single_query_maximum_is_refused_before_running() {
    let h = start(small()).await;
    let q = "{ products(first: 250) { nodes { id variants(first: 10) { nodes { id } } } } }";
    let reply = h.gql(q, json!({})).await;
    assert!(reply.get("data").is_none(), "{reply}");
    assert_eq!(reply["errors"][0]["extensions"]["code"], "MAX_COST_EXCEEDED");
    assert_eq!(reply["extensions"]["cost"]["requestedQueryCost"], 2 + 250 * (1 + 2 + 10));
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_connection_without_first_or_with_more_than_250_is_an_error() {
    let h = start(small()).await;
    for q in ["{ customers { nodes { id } } }", "{ customers(first: 251) { nodes { id } } }"] {
        let reply = h.gql(q, json!({})).await;
        assert!(reply["errors"][0]["message"].is_string(), "{reply}");
        assert!(reply["data"].is_null() || reply.get("data").is_none(), "{reply}");
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn locations_are_served_with_their_names() {
    let h = start(small()).await;
    let reply = h.gql("{ locations(first: 10) { edges { node { id name } } } }", json!({})).await;
    let names: Vec<&str> = reply["data"]["locations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect();
    let truth = h.sim.truth();
    assert_eq!(names, truth.locations.iter().map(|l| l.name.as_str()).collect::<Vec<_>>());
    h.sim.shutdown().await;
}
