//! The Nhanh v3 server over real HTTP: auth, paging, filters, errors and the rate-limit lock.

mod harness;

use std::time::Duration;

use harness::{all_distinct, small, start};
use serde_json::json;

#[tokio::test]
async fn a_full_walk_of_customers_by_next_cursors_visits_every_row_once() {
    let h = start(small()).await;
    let ids = h.walk_nhanh("/v3.0/customer/list", "id", 100, json!({})).await;
    assert_eq!(ids.len(), h.sim.truth().nhanh_customers);
    assert!(all_distinct(&ids));
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_full_walk_of_products_and_inventory_visits_every_row_once() {
    let h = start(small()).await;
    let products = h.walk_nhanh("/v3.0/product/list", "id", 100, json!({})).await;
    assert_eq!(products.len(), h.sim.truth().nhanh_products);
    assert!(all_distinct(&products));
    let inventory = h.walk_nhanh("/v3.0/product/inventory", "productId", 37, json!({})).await;
    assert_eq!(inventory, products);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn no_page_carries_a_total_and_short_pages_still_carry_next() {
    let h = start(small()).await;
    let first = h.nhanh("/v3.0/customer/list", json!({"paginator": {"size": 100}})).await;
    assert!(first["paginator"].get("totalItems").is_none() && first.get("totalItems").is_none(), "{first}");
    let mut next = first["paginator"]["next"].clone();
    let mut short_with_next = 0;
    while !next.is_null() {
        let page = h.nhanh("/v3.0/customer/list", json!({"paginator": {"size": 100, "next": next}})).await;
        assert!(page["paginator"].get("totalItems").is_none(), "{}", page["paginator"]);
        next = page["paginator"]["next"].clone();
        if page["data"].as_array().unwrap().len() < 100 && !next.is_null() {
            short_with_next += 1;
        }
    }
    assert!(short_with_next > 0, "no short page carried a next");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn wrong_app_id_token_or_business_id_get_their_documented_errors() {
    let h = start(small()).await;
    let c = h.sim.credentials().clone();
    let body = json!({"paginator": {"size": 10}});
    let cases = [
        ("999", c.nhanh_business_id.as_str(), Some(c.nhanh_access_token.as_str()), "ERR_INVALID_APP_ID"),
        (c.nhanh_app_id.as_str(), c.nhanh_business_id.as_str(), Some("wrong"), "ERR_INVALID_ACCESS_TOKEN"),
        (c.nhanh_app_id.as_str(), c.nhanh_business_id.as_str(), None, "ERR_INVALID_ACCESS_TOKEN"),
        (c.nhanh_app_id.as_str(), "1", Some(c.nhanh_access_token.as_str()), "ERR_INVALID_BUSINESS_ID"),
    ];
    for (app, business, token, code) in cases {
        let (status, reply) = h.nhanh_as("/v3.0/customer/list", app, business, token, body.clone()).await;
        assert_eq!(
            (status, reply["code"].clone(), reply["errorCode"].clone()),
            (200, json!(0), json!(code)),
            "{reply}"
        );
    }
    let bearer = format!("Bearer {}", c.nhanh_access_token);
    let (_, reply) =
        h.nhanh_as("/v3.0/customer/list", &c.nhanh_app_id, &c.nhanh_business_id, Some(&bearer), body).await;
    assert_eq!(reply["errorCode"], "ERR_INVALID_ACCESS_TOKEN");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_page_size_is_an_invalid_form_fields_error_naming_the_field() {
    let h = start(small()).await;
    let reply = h.nhanh("/v3.0/product/list", json!({"paginator": {"size": 101}})).await;
    assert_eq!(reply["code"], 0);
    assert_eq!(reply["errorCode"], "ERR_INVALID_FORM_FIELDS");
    assert!(reply["messages"]["paginator.size"].is_string(), "{reply}");
    h.sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_access_code_is_spent_once_and_the_token_it_replaces_stops_15_minutes_later() {
    let h = start(small()).await;
    let c = h.sim.credentials().clone();
    let exchange = |code: String| json!({"accessCode": code, "secretKey": c.nhanh_secret_key});
    let (_, reply) =
        h.nhanh_as("/v3.0/app/getaccesstoken", &c.nhanh_app_id, "", None, exchange(c.nhanh_access_code.clone())).await;
    assert_eq!(reply["code"], 1, "{reply}");
    let fresh = reply["data"]["accessToken"].as_str().unwrap().to_string();
    assert_ne!(fresh, c.nhanh_access_token);
    assert_eq!(reply["data"]["depotIds"], json!([]), "an empty depotIds covers every depot");
    let year = reply["data"]["expiredAt"].as_i64().unwrap() - unix_now();
    assert!((365 * 86_400 - 3_600..=365 * 86_400 + 3_600).contains(&year), "{reply}");
    // Spent: the same code again is refused.
    let (_, again) =
        h.nhanh_as("/v3.0/app/getaccesstoken", &c.nhanh_app_id, "", None, exchange(c.nhanh_access_code.clone())).await;
    assert_eq!(again["errorCode"], "ERR_INVALID_FORM_FIELDS", "{again}");

    let body = json!({"paginator": {"size": 1}});
    let with = |token: String| {
        let (h, c, body) = (&h, &c, body.clone());
        async move {
            let (_, r) =
                h.nhanh_as("/v3.0/customer/list", &c.nhanh_app_id, &c.nhanh_business_id, Some(&token), body).await;
            r
        }
    };
    tokio::time::advance(Duration::from_secs(14 * 60 + 50)).await;
    assert_eq!(with(c.nhanh_access_token.clone()).await["code"], 1, "the replaced token works for 15 minutes");
    tokio::time::advance(Duration::from_secs(15)).await;
    assert_eq!(with(c.nhanh_access_token.clone()).await["errorCode"], "ERR_INVALID_ACCESS_TOKEN");
    assert_eq!(with(fresh.clone()).await["code"], 1);
    // An expired token is refused too.
    h.sim.nhanh_token_expires_at(unix_now() - 1);
    assert_eq!(with(fresh).await["errorCode"], "ERR_INVALID_ACCESS_TOKEN");
    h.sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_access_code_dies_after_10_minutes() {
    let h = start(small()).await;
    let c = h.sim.credentials().clone();
    tokio::time::advance(Duration::from_secs(10 * 60 + 1)).await;
    let body = json!({"accessCode": c.nhanh_access_code, "secretKey": c.nhanh_secret_key});
    let (_, reply) = h.nhanh_as("/v3.0/app/getaccesstoken", &c.nhanh_app_id, "", None, body).await;
    assert_eq!(reply["errorCode"], "ERR_INVALID_FORM_FIELDS", "{reply}");
    h.sim.shutdown().await;
}

/// Real Unix seconds: the simulator's clock starts there and only moves ahead of it.
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn touched_customers_are_exactly_those_updated_since_a_moment() {
    let h = start(small()).await;
    let before = h.nhanh("/v3.0/customer/list", json!({"paginator": {"size": 1}})).await;
    assert_eq!(before["code"], 1);
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1;
    let mut touched = h.sim.touch_nhanh_customers(25);
    touched.sort();
    let mut seen = h.walk_nhanh("/v3.0/customer/list", "id", 100, json!({"updatedAtFrom": since})).await;
    seen.sort();
    assert_eq!(seen, touched);
    let id = touched[0];
    let amount = h.sim.state().nhanh_total_amount(id).unwrap();
    let row = h.nhanh("/v3.0/customer/list", json!({"filters": {"ids": [id]}})).await;
    let reported = &row["data"][0]["totalAmount"];
    let reported = reported.as_u64().or_else(|| reported.as_str().and_then(|s| s.parse().ok()));
    assert_eq!(reported, Some(amount));
    h.sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_151st_request_within_30_seconds_is_locked_and_calls_while_locked_extend_the_lock() {
    let h = start(small()).await;
    let body = json!({"paginator": {"size": 1}});
    for _ in 0..150 {
        assert_eq!(h.nhanh("/v3.0/customer/list", body.clone()).await["code"], 1);
    }
    let t0 = h.nhanh("/v3.0/customer/list", body.clone()).await;
    assert_eq!(t0["code"], 0);
    assert_eq!(t0["errorCode"], "ERR_429");
    assert_eq!(t0["message"], "Your app exceeded the API Rate Limit");
    assert_eq!(t0["data"]["lockedSeconds"], 10);
    let unlocked_at = t0["data"]["unlockedAt"].as_i64().unwrap();

    // Another URL has its own window.
    assert_eq!(h.nhanh("/v3.0/product/list", body.clone()).await["code"], 1);

    tokio::time::advance(Duration::from_secs(5)).await;
    let t5 = h.nhanh("/v3.0/customer/list", body.clone()).await;
    assert_eq!(t5["errorCode"], "ERR_429");
    assert_eq!(t5["data"]["unlockedAt"].as_i64().unwrap(), unlocked_at + 5, "the lock is extended");

    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(h.nhanh("/v3.0/customer/list", body.clone()).await["errorCode"], "ERR_429", "still locked at 14 s");

    // The window (150 calls at 0 s) empties at 30 s; the lock restarted at 14 s ends at 24 s.
    tokio::time::advance(Duration::from_secs(17)).await;
    assert_eq!(h.nhanh("/v3.0/customer/list", body.clone()).await["code"], 1);
    assert_eq!(h.sim.rate_limit_hits().0, 3);
    h.sim.shutdown().await;
}
