//! Location mappings through the router: set, read back, removed, and bad input refused in the
//! envelope.

mod http_support;

use axum::http::StatusCode;
use dongbo_api::http::{self, AppState};
use dongbo_engine::Engine;
use dongbo_tests::{fresh_db, Backend};
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

#[tokio::test]
async fn an_unmapped_depot_is_no_longer_listed_and_unmapping_it_again_is_a_404_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh_db(backend).await else { continue };
        let store = dongbo_workflows::open(&db.url).await.expect("open the test database");
        let router = http::router(AppState::new(Engine::new(store, registry()), None));
        for (depot, location) in [(7, "gid://shopify/Location/1"), (8, "gid://shopify/Location/2")] {
            call("PUT", "/api/location-mappings")
                .json(&json!({ "depotId": depot, "locationId": location }))
                .send(&router)
                .await
                .data();
        }

        let removed = call("DELETE", "/api/location-mappings/7").send(&router).await;
        assert_eq!(removed.data(), &json!({ "depotId": 7, "locationId": "gid://shopify/Location/1" }), "{backend:?}");
        let listed = call("GET", "/api/location-mappings").send(&router).await;
        assert_eq!(
            listed.data()["mappings"],
            json!([{ "depotId": 8, "locationId": "gid://shopify/Location/2" }]),
            "{backend:?}"
        );
        let again = call("DELETE", "/api/location-mappings/7").send(&router).await;
        assert_eq!(again.error(StatusCode::NOT_FOUND), "depot 7 is not mapped to any location", "{backend:?}");
    }
}

#[tokio::test]
async fn unmapping_something_that_is_not_a_depot_id_is_a_400_in_the_envelope() {
    let app = app(None).await;
    for path in ["abc", "-1", "7.5", "%FF%FE", "18446744073709551616"] {
        let answer = call("DELETE", &format!("/api/location-mappings/{path}")).send(&app.router).await;
        let error = answer.error(StatusCode::BAD_REQUEST);
        assert!(error.contains("depot id") || error.contains("invalid path"), "{path}: {error}");
    }
}
