//! Location mappings through the router: set, read back, and bad input refused in the envelope.

mod http_support;

use axum::http::StatusCode;
use http_support::*;
use serde_json::json;

#[tokio::test]
async fn a_depot_mapped_onto_a_location_is_listed_and_a_remap_replaces_it() {
    let app = app(None).await;
    let put = |depot: u64, location: &str| {
        call("PUT", "/api/location-mappings").json(&json!({ "depotId": depot, "locationId": location }))
    };
    let answer = put(7, "gid://shopify/Location/1").send(&app.router).await;
    assert_eq!(answer.data(), &json!({ "depotId": 7, "locationId": "gid://shopify/Location/1" }));
    put(8, "gid://shopify/Location/1").send(&app.router).await.data();
    put(7, " gid://shopify/Location/2 ").send(&app.router).await.data();

    let listed = call("GET", "/api/location-mappings").send(&app.router).await;
    assert_eq!(
        listed.data()["mappings"],
        json!([
            { "depotId": 7, "locationId": "gid://shopify/Location/2" },
            { "depotId": 8, "locationId": "gid://shopify/Location/1" },
        ])
    );
}

#[tokio::test]
async fn a_mapping_onto_something_that_is_not_a_location_is_a_400_with_a_reason() {
    let app = app(None).await;
    let answer = call("PUT", "/api/location-mappings")
        .json(&json!({ "depotId": 7, "locationId": "gid://shopify/Product/1" }))
        .send(&app.router)
        .await;
    assert!(answer.error(StatusCode::BAD_REQUEST).contains("is not a Shopify location id"));
    let answer = call("PUT", "/api/location-mappings")
        .json(&json!({ "depotId": -1, "locationId": "x" }))
        .send(&app.router)
        .await;
    assert!(answer.status.is_client_error(), "{answer:?}");
    let listed = call("GET", "/api/location-mappings").send(&app.router).await;
    assert_eq!(listed.data()["mappings"], json!([]));
}
