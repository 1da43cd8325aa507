//! The `/_sim/` control API and injected transport faults, over real HTTP.

mod harness;

use std::time::Duration;

use dongbo_simulator::Scope;
use harness::{small, start};
use serde_json::{json, Value};

#[tokio::test]
async fn the_control_api_serves_journal_requests_truth_and_faults_without_auth() {
    let h = start(small()).await;
    h.nhanh("/v3.0/customer/list", json!({"paginator": {"size": 5}})).await;
    for base in [h.sim.nhanh_base_url(), h.sim.shopify_shop_url()] {
        for path in ["journal", "requests", "truth", "faults"] {
            let response = h.http.get(format!("{base}/_sim/{path}")).send().await.unwrap();
            assert_eq!(response.status(), 200, "{base}/_sim/{path}");
            let _: Value = response.json().await.unwrap();
        }
    }
    let requests: Value =
        h.http.get(format!("{}/_sim/requests", h.sim.nhanh_base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(requests["requests"]["/v3.0/customer/list"], 1);
    let truth: Value =
        h.http.get(format!("{}/_sim/truth", h.sim.shopify_shop_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(truth["customerPairs"].as_array().unwrap().len(), h.sim.truth().customer_pairs.len());
    h.sim.shutdown().await;
}

#[tokio::test]
async fn faults_posted_to_a_server_apply_to_that_server_only() {
    let h = start(small()).await;
    let set: Value = h
        .http
        .post(format!("{}/_sim/faults", h.sim.nhanh_base_url()))
        .json(&json!({"errorRate": 1.0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["nhanh"]["errorRate"], 1.0);
    assert_eq!(set["shopify"]["errorRate"], 0.0);
    let url = format!("{}/v3.0/customer/list", h.sim.nhanh_base_url());
    let status = h.http.post(url).json(&json!({})).send().await.unwrap().status().as_u16();
    assert!((500..=503).contains(&status), "{status}");
    let shop = h.gql("{ shop { name } }", json!({})).await;
    assert!(shop["data"]["shop"].is_object());

    h.http
        .post(format!("{}/_sim/faults", h.sim.shopify_shop_url()))
        .json(&json!({"reset": true, "scope": "both", "plan": "plus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(h.nhanh("/v3.0/customer/list", json!({})).await["code"], 1);
    let shop = h.gql("{ shop { name } }", json!({})).await;
    assert_eq!(shop["extensions"]["cost"]["throttleStatus"]["restoreRate"], 1000.0);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_malformed_body_fault_cuts_the_json() {
    let h = start(small()).await;
    h.sim.faults().update(Scope::Shopify, |f| f.malformed_rate = 1.0);
    let url = format!("{}/admin/api/2025-10/graphql.json", h.sim.shopify_shop_url());
    let token = h.sim.credentials().shopify_access_token.clone();
    let text = h
        .http
        .post(url)
        .header("X-Shopify-Access-Token", token)
        .json(&json!({"query": "{ shop { name } }"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    h.sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_timeout_fault_hangs_for_the_configured_time_then_answers_504() {
    let h = start(small()).await;
    h.sim.faults().update(Scope::Nhanh, |f| {
        f.timeout_rate = 1.0;
        f.timeout_ms = 30_000;
    });
    let started = tokio::time::Instant::now();
    let url = format!("{}/v3.0/customer/list", h.sim.nhanh_base_url());
    let status = h.http.post(url).json(&json!({})).send().await.unwrap().status().as_u16();
    assert_eq!(status, 504);
    assert!(started.elapsed() >= Duration::from_secs(30));
    h.sim.shutdown().await;
}

#[tokio::test]
async fn with_throttling_off_nhanh_never_locks() {
    let h = start(small()).await;
    h.sim.faults().set_throttle(Scope::Nhanh, false);
    for _ in 0..160 {
        assert_eq!(h.nhanh("/v3.0/customer/list", json!({"paginator": {"size": 1}})).await["code"], 1);
    }
    assert_eq!(h.sim.rate_limit_hits().0, 0);
    h.sim.shutdown().await;
}
