//! The Nhanh token through the router: the Locations answer names each depot (from
//! `business/depot`) and lists the depots the token covers; `GET /api/nhanh/token` says where the
//! token stands, warns 30 days before it expires (by an injected clock), and never carries it.

mod http_support;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use dongbo_api::http::nhanh_auth::NhanhAuth;
use dongbo_api::http::{self};
use dongbo_engine::ManualClock;
use dongbo_workflows::catalog::store::credentials::{
    record_check, save_depot_names, save_token, SealedTokenRow, TokenCheckRow,
};
use dongbo_workflows::connectors::Secret;
use dongbo_workflows::nhanh_token::SealingKey;
use http_support::*;
use serde_json::json;

const DAY: i64 = 86_400;

#[tokio::test]
async fn the_locations_answer_names_each_depot_and_lists_the_depots_the_token_covers() {
    let app = app(None).await;
    let db = app.engine.store().db();
    let listed = call("GET", "/api/location-mappings").send(&app.router).await;
    assert_eq!(listed.data()["coveredDepots"], json!(null), "coverage before any check of the token");

    save_depot_names(&db, &[(1201, "Kho Hà Nội".into()), (1202, "Kho Sài Gòn".into())]).await.unwrap();
    record_check(&db, &TokenCheckRow { expires_at: 2_000_000_000, checked_at: 1_900_000_000, depot_ids: vec![1201] })
        .await
        .unwrap();
    let listed = call("GET", "/api/location-mappings").send(&app.router).await;
    let data = listed.data();
    assert_eq!(data["depots"], json!([[1201, "Kho Hà Nội"], [1202, "Kho Sài Gòn"]]));
    assert_eq!(data["coveredDepots"], json!([1201]));
}

#[tokio::test]
async fn the_token_route_warns_from_30_days_before_expiry_and_never_shows_the_token() {
    let app = app(None).await;
    let db = app.engine.store().db();
    let expires_at = 1_900_000_000;
    let clock = ManualClock::new(Utc.timestamp_opt(expires_at - 31 * DAY, 0).unwrap());
    let router =
        http::router(app.state.clone().with_nhanh_auth(NhanhAuth::default().with_clock(Arc::new(clock.clone()))));

    let empty = call("GET", "/api/nhanh/token").send(&router).await;
    assert_eq!(empty.data()["source"], json!(null));
    assert_eq!(empty.data()["warning"], json!(null));

    let key = SealingKey::parse(&SealingKey::generate_base64()).unwrap();
    let token = "tok-never-shown-5f3a9c";
    let row = SealedTokenRow {
        sealed: key.seal(&Secret::new(token)).unwrap(),
        business_id: "8801".into(),
        granted_at: expires_at - 365 * DAY,
        expires_at: Some(expires_at),
    };
    save_token(&db, &row).await.unwrap();
    let far = call("GET", "/api/nhanh/token").send(&router).await;
    let data = far.data();
    assert_eq!((data["source"].as_str(), data["businessId"].as_str()), (Some("stored"), Some("8801")));
    assert_eq!(data["expiresAt"], json!(expires_at));
    assert_eq!(data["warning"], json!(null), "31 days before expiry is not yet a warning");
    assert!(!far.text.contains(token));

    clock.advance(std::time::Duration::from_secs(2 * DAY as u64));
    let near = call("GET", "/api/nhanh/token").send(&router).await;
    let warning = near.data()["warning"].as_str().expect("a warning 29 days before expiry").to_owned();
    assert!(warning.contains("in 29 days") && warning.contains("dongbo nhanh authorize"), "{warning}");
    assert!(!near.text.contains(token));

    // The last check's expiry wins over the grant's.
    record_check(
        &db,
        &TokenCheckRow { expires_at: expires_at + 365 * DAY, checked_at: expires_at - 29 * DAY, depot_ids: vec![] },
    )
    .await
    .unwrap();
    let renewed = call("GET", "/api/nhanh/token").send(&router).await;
    assert_eq!(renewed.data()["warning"], json!(null));
    assert_eq!(renewed.data()["coveredDepots"], json!([]));
}
