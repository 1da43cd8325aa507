//! The simulator's webhooks, received by a real HTTP server in the test: bodies shaped like the
//! vendors' examples (`tests/fixtures/webhooks/`), Nhanh's verify token, Shopify's headers and
//! HMAC, retries with the same payload, duplicates, drops and reordering under a fixed seed, and
//! the drip.

mod harness;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use dongbo_simulator::{DripRates, SimConfig, WebhookConfig, WebhookFaults};
use harness::{small, start, Harness};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// One delivery as the receiver saw it.
#[derive(Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, in order; 200 once they run out.
    answers: Arc<Mutex<Vec<u16>>>,
}

async fn receive(State(r): State<Receiver>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.seen.lock().unwrap().push(Received { path: uri.path().to_string(), headers, body });
    let mut answers = r.answers.lock().unwrap();
    let status = if answers.is_empty() { 200 } else { answers.remove(0) };
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    /// A receiver on a free port: `{url}/nhanh`, `{url}/shopify`.
    async fn start(answers: Vec<u16>) -> (Receiver, String) {
        let r = Receiver { seen: Arc::default(), answers: Arc::new(Mutex::new(answers)) };
        let app = Router::new().route("/nhanh", post(receive)).route("/shopify", post(receive)).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until `done` holds for what was received; returns it.
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.seen();
            if done(&seen) {
                return seen;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}; received {}", seen.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Retry waits divided by 20,000: Nhanh's 5/10/30 minutes take 15/30/90 ms, Shopify's 4 hours
/// 0.72 s. Shopify's own duplicates off, so counts are exact.
fn config(nhanh: Option<&str>, shopify: Option<&str>) -> SimConfig {
    SimConfig {
        webhooks: WebhookConfig {
            nhanh_url: nhanh.map(|u| format!("{u}/nhanh")),
            shopify_url: shopify.map(|u| format!("{u}/shopify")),
            time_scale: 20_000.0,
            shopify_duplicate_rate: 0.0,
            ..WebhookConfig::default()
        },
        ..small()
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/webhooks/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

/// `actual` has the shape of the documented `example`: no key the example lacks, the same JSON
/// type everywhere (`null` allowed), objects whose example keys are all ids compared as maps.
fn conforms(actual: &Value, example: &Value, path: &str) {
    match (actual, example) {
        (Value::Null, _) => {}
        (Value::Object(a), Value::Object(e)) => {
            let is_map = !e.is_empty() && e.keys().all(|k| k.chars().all(|c| c.is_ascii_digit()));
            for (k, v) in a {
                let ex = if is_map {
                    assert!(k.chars().all(|c| c.is_ascii_digit()), "{path}: map key {k:?} is not an id");
                    e.values().next().unwrap()
                } else {
                    e.get(k).unwrap_or_else(|| panic!("{path}.{k} is not in the documented example"))
                };
                conforms(v, ex, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            for (i, v) in a.iter().enumerate() {
                conforms(v, &e[0], &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            assert_eq!(a.is_f64(), e.is_f64(), "{path}: {a} vs documented {e}");
        }
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        _ => panic!("{path}: {actual} does not have the type of the documented {example}"),
    }
}

fn hmac_of(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The journal once it holds `n` records (an attempt is journalled once its answer is in, just
/// after the receiver saw it).
async fn journal(h: &Harness, n: usize) -> Vec<dongbo_simulator::DeliveryRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = h.sim.webhooks().deliveries();
        if log.len() >= n {
            return log;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} of {n} attempts journalled", log.len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn touch(h: &Harness, body: Value) -> Value {
    let url = format!("{}/_sim/touch", h.sim.nhanh_base_url());
    h.http.post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn nhanh_inventory_changes_come_in_batches_of_100_shaped_as_documented() {
    let (r, url) = Receiver::start(vec![]).await;
    let h = start(config(Some(&url), None)).await;
    let ids = h.sim.touch_nhanh_products(150);
    assert_eq!(ids.len(), 150);
    let seen = r.until("two inventoryChange deliveries", |s| s.len() >= 2).await;
    let example = fixture("sim_nhanh_inventory_change.json");
    let token = h.sim.webhooks().config().nhanh_verify_token.clone();
    let mut products = BTreeSet::new();
    for d in &seen {
        assert_eq!(d.path, "/nhanh");
        assert_eq!(d.header("content-type"), "application/json");
        assert_eq!(d.header("verifyToken"), token, "the verify token travels in a header");
        let body = d.json();
        conforms(&body, &example, "body");
        assert_eq!(body["event"], "inventoryChange");
        assert_eq!(body["businessId"], json!(h.sim.credentials().nhanh_business_id.parse::<u64>().unwrap()));
        assert!(body.get("webhooksVerifyToken").is_none(), "v3 bodies carry no token");
        let data = body["data"].as_object().unwrap();
        assert!(data.len() <= 100, "at most 100 products per delivery");
        for (id, p) in data {
            products.insert(id.parse::<u64>().unwrap());
            for (depot, row) in p["depots"].as_object().unwrap() {
                let now = h.sim.state().nhanh_available(p["id"].as_u64().unwrap(), depot.parse().unwrap());
                assert_eq!(Some(row["available"].as_i64().unwrap()), now, "product {id} depot {depot}");
            }
        }
    }
    assert_eq!(products, ids.into_iter().collect(), "every touched product, once");
}

#[tokio::test]
async fn touching_customers_and_product_information_sends_order_and_product_events() {
    let (r, url) = Receiver::start(vec![]).await;
    let h = start(config(Some(&url), None)).await;
    let touched = touch(&h, json!({"customers": 3, "productInfo": 2})).await;
    let seen = r.until("3 orderAdd and 1 productUpdate", |s| s.len() >= 4).await;
    let bodies: Vec<Value> = seen.iter().map(Received::json).collect();
    let orders: Vec<&Value> = bodies.iter().filter(|b| b["event"] == "orderAdd").collect();
    let updates: Vec<&Value> = bodies.iter().filter(|b| b["event"] == "productUpdate").collect();
    assert_eq!((orders.len(), updates.len()), (3, 1));
    let customers: BTreeSet<u64> = orders.iter().map(|o| o["data"]["customer"]["id"].as_u64().unwrap()).collect();
    let touched_customers: BTreeSet<u64> =
        touched["customers"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(customers, touched_customers);
    for o in orders {
        conforms(o, &fixture("sim_nhanh_order_add.json"), "orderAdd");
    }
    conforms(updates[0], &fixture("sim_nhanh_product_update.json"), "productUpdate");
    assert_eq!(updates[0]["data"].as_array().unwrap().len(), touched["productInfo"].as_array().unwrap().len());
}

#[tokio::test]
async fn shopify_deliveries_carry_the_documented_headers_and_a_valid_hmac() {
    let (r, url) = Receiver::start(vec![]).await;
    let h = start(config(None, Some(&url))).await;
    let touched = touch(&h, json!({"shopifyInventory": 3})).await;
    let seen = r.until("three inventory_levels/update", |s| s.len() >= 3).await;
    let headers = fixture("sim_shopify_headers.json");
    let config = h.sim.webhooks().config().clone();
    let mut items = BTreeSet::new();
    for d in &seen {
        for name in headers.as_object().unwrap().keys() {
            assert!(d.headers.contains_key(name.as_str()), "{name} is missing");
        }
        assert_eq!(d.header("X-Shopify-Topic"), "inventory_levels/update");
        assert_eq!(d.header("X-Shopify-Hmac-Sha256"), hmac_of(&config.shopify_secret, &d.body));
        assert_ne!(d.header("X-Shopify-Hmac-Sha256"), hmac_of("another secret", &d.body));
        assert_eq!(d.header("X-Shopify-Shop-Domain"), config.shop_domain);
        assert_eq!(d.header("X-Shopify-API-Version"), config.shopify_api_version);
        for id in ["X-Shopify-Webhook-Id", "X-Shopify-Event-Id"] {
            assert!(uuid::Uuid::parse_str(&d.header(id)).is_ok(), "{id} is a UUID");
        }
        let triggered = d.header("X-Shopify-Triggered-At");
        assert!(chrono::DateTime::parse_from_rfc3339(&triggered).is_ok() && triggered.ends_with('Z'), "{triggered}");
        let body = d.json();
        conforms(&body, &fixture("sim_shopify_inventory_levels_update.json"), "inventory_levels/update");
        let item = format!("gid://shopify/InventoryItem/{}", body["inventory_item_id"]);
        let location = format!("gid://shopify/Location/{}", body["location_id"]);
        assert_eq!(
            body["admin_graphql_api_id"],
            format!(
                "gid://shopify/InventoryLevel/{}?inventory_item_id={}",
                body["location_id"], body["inventory_item_id"]
            )
        );
        let _ = h.sim.state().inventory(&item, &location).expect("a real level");
        items.insert(item);
    }
    let touched: BTreeSet<String> =
        touched["shopifyInventory"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(items, touched);
}

#[tokio::test]
async fn nhanh_retries_three_times_after_a_non_200_with_the_same_body() {
    // 500, 502, 503, 500: every attempt fails, so the first try and its three retries arrive.
    let (r, url) = Receiver::start(vec![500, 502, 503, 500]).await;
    let h = start(config(Some(&url), None)).await;
    h.sim.touch_nhanh_products(1);
    let seen = r.until("4 attempts", |s| s.len() >= 4).await;
    assert!(seen.windows(2).all(|w| w[0].body == w[1].body), "every retry carries the original body");
    let log = journal(&h, 4).await;
    let attempts: Vec<u32> = log.iter().map(|d| d.attempt).collect();
    assert_eq!(attempts, vec![0, 1, 2, 3]);
    // The waits between attempts are at least 5, 10 and 30 minutes on the (scaled) clock.
    let scale = h.sim.webhooks().config().time_scale;
    for (i, minutes) in [5.0, 10.0, 30.0].into_iter().enumerate() {
        let gap = (log[i + 1].at - log[i].at) as f64;
        assert!(gap + 1.0 >= minutes * 60_000.0 / scale, "wait {i} was {gap} ms");
    }
    // Nothing after the third retry: a new delivery goes through, and no fifth attempt of the
    // first came before it.
    h.sim.touch_nhanh_products(1);
    let seen = r.until("the next delivery", |s| s.len() >= 5).await;
    assert_ne!(seen[4].body, seen[0].body);
    assert_eq!(h.sim.webhooks().deliveries().iter().filter(|d| d.seq == log[0].seq).count(), 4);
}

#[tokio::test]
async fn shopify_retries_eight_times_with_the_original_payload_and_stops_on_2xx() {
    let (r, url) = Receiver::start(vec![500; 8]).await;
    let h = start(config(None, Some(&url))).await;
    touch(&h, json!({"shopifyInventory": 1})).await;
    let seen = r.until("9 attempts, the last answered 200", |s| s.len() >= 9).await;
    for d in &seen[1..] {
        assert_eq!(d.body, seen[0].body, "the original payload");
        for name in ["X-Shopify-Hmac-Sha256", "X-Shopify-Event-Id", "X-Shopify-Webhook-Id", "X-Shopify-Triggered-At"] {
            assert_eq!(d.header(name), seen[0].header(name), "{name} is kept across retries");
        }
    }
    let log = journal(&h, 9).await;
    assert_eq!(log.iter().map(|d| d.attempt).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
    assert!(log[8].accepted && log[..8].iter().all(|d| !d.accepted));
    let scale = h.sim.webhooks().config().time_scale;
    let span = (log[8].at - log[0].at) as f64;
    assert!(span + 8.0 >= 4.0 * 3_600_000.0 / scale, "8 retries span 4 hours on the clock: {span} ms");
    // Accepted: the next event goes through, and no tenth attempt of the first came before it.
    touch(&h, json!({"shopifyInventory": 1})).await;
    let seen = r.until("the next event", |s| s.len() >= 10).await;
    assert_ne!(seen[9].header("X-Shopify-Event-Id"), seen[0].header("X-Shopify-Event-Id"));
    assert_eq!(h.sim.webhooks().deliveries().iter().filter(|d| d.seq == log[0].seq).count(), 9);
}

#[tokio::test]
async fn a_duplicated_delivery_carries_the_same_event_id_and_body() {
    let (r, url) = Receiver::start(vec![]).await;
    let h = start(config(None, Some(&url))).await;
    h.sim.webhooks().set_faults(WebhookFaults { duplicate_rate: 1.0, ..WebhookFaults::default() });
    touch(&h, json!({"shopifyInventory": 1})).await;
    let seen = r.until("both copies", |s| s.len() >= 2).await;
    assert_eq!(seen[0].header("X-Shopify-Event-Id"), seen[1].header("X-Shopify-Event-Id"));
    assert_eq!(seen[0].header("X-Shopify-Webhook-Id"), seen[1].header("X-Shopify-Webhook-Id"));
    assert_eq!(seen[0].body, seen[1].body);
    let fates: BTreeSet<String> = journal(&h, 2).await.into_iter().map(|d| d.fate).collect();
    assert_eq!(fates, ["duplicate".to_string(), "sent".to_string()].into());
}

/// 60 single-level Shopify events under 30 % drops and 30 % reordering; returns the sequence
/// numbers dropped, reordered, and received (in arrival order).
async fn faulty_run(seed: u64) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let (r, url) = Receiver::start(vec![]).await;
    let h = start(SimConfig { seed, ..config(None, Some(&url)) }).await;
    let faults = json!({"faults": {"dropRate": 0.3, "reorderRate": 0.3}});
    let reply = h.http.post(format!("{}/_sim/webhooks", h.sim.shopify_shop_url())).json(&faults).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    for _ in 0..60 {
        touch(&h, json!({"shopifyInventory": 1})).await;
    }
    let webhooks = h.sim.webhooks();
    let dropped = |log: &[dongbo_simulator::DeliveryRecord]| -> Vec<u64> {
        log.iter().filter(|d| d.fate == "dropped").map(|d| d.seq).collect()
    };
    let expected = 60 - dropped(&webhooks.deliveries()).len();
    let seen = r.until("every delivery not dropped", |s| s.len() >= expected).await;
    let log = journal(&h, 60).await;
    let seq_of: HashMap<String, u64> = log.iter().map(|d| (d.event_id.clone(), d.seq)).collect();
    let received = seen.iter().map(|d| seq_of[&d.header("X-Shopify-Event-Id")]).collect();
    let reordered = log.iter().filter(|d| d.fate == "reordered").map(|d| d.seq).collect();
    (dropped(&log), reordered, received)
}

#[tokio::test]
async fn drops_and_reordering_follow_their_rates_under_a_fixed_seed() {
    let (dropped, reordered, received) = faulty_run(11).await;
    // 60 draws at 30 %: 18 expected, well within 6..=30 for any fair draw.
    assert!((6..=30).contains(&dropped.len()), "{} dropped", dropped.len());
    assert!(!reordered.is_empty(), "some deliveries were held back");
    let mut all: Vec<u64> = received.iter().chain(&dropped).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=60).collect::<Vec<_>>(), "each delivery arrives once or is dropped, never both");
    assert!(received.windows(2).any(|w| w[0] > w[1]), "the receiver saw them out of order: {received:?}");
    let (again_dropped, again_reordered, _) = faulty_run(11).await;
    assert_eq!((dropped, reordered), (again_dropped, again_reordered), "the same seed, the same faults");
}

#[tokio::test]
async fn the_drip_changes_nhanh_steadily_records_each_change_and_sends_it() {
    let (r, url) = Receiver::start(vec![]).await;
    let h = start(config(Some(&url), None)).await;
    let reply = h
        .http
        .post(format!("{}/_sim/drip", h.sim.nhanh_base_url()))
        .json(&json!({"action": "start", "stockPerSecond": 50, "ordersPerSecond": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let webhooks = h.sim.webhooks();
    r.until("20 stock changes and 4 orders sent", |s| {
        let bodies: Vec<Value> = s.iter().map(Received::json).collect();
        let stock: usize = bodies
            .iter()
            .filter(|b| b["event"] == "inventoryChange")
            .map(|b| b["data"].as_object().map_or(0, |d| d.len()))
            .sum();
        stock >= 20 && bodies.iter().filter(|b| b["event"] == "orderAdd").count() >= 4
    })
    .await;
    webhooks.stop_drip();
    let changes = webhooks.changes();
    assert!(changes.windows(2).all(|w| w[0].seq + 1 == w[1].seq && w[0].at <= w[1].at));
    // The last change of each depot and customer is what Nhanh holds now; the Shopify value
    // recorded is what a perfect sync would show.
    let state = h.sim.state();
    let mut last = HashMap::new();
    for c in &changes {
        last.insert((c.nhanh_id, c.depot_id, c.shopify_target.clone(), c.location_id.clone()), c.clone());
    }
    let expected: HashMap<(String, String), i64> =
        state.expected_inventory().into_iter().map(|e| ((e.inventory_item_id, e.location_id), e.quantity)).collect();
    for c in last.values() {
        match (c.depot_id, &c.location_id) {
            (Some(depot), Some(location)) => {
                assert_eq!(state.nhanh_available(c.nhanh_id, depot), Some(c.nhanh_value));
                let _ = expected.get(&(c.shopify_target.clone(), location.clone())).expect("a paired level");
            }
            _ => assert_eq!(state.nhanh_total_amount(c.nhanh_id), Some(c.nhanh_value as u64)),
        }
    }
    let reply: Value =
        h.http.get(format!("{}/_sim/drip", h.sim.nhanh_base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["running"], false);
    assert!(reply["changes"].as_array().unwrap().len() >= changes.len());
}

#[tokio::test]
async fn the_drip_runs_from_the_library_handle_too() {
    let h = start(config(None, None)).await;
    let webhooks = h.sim.webhooks();
    webhooks.start_drip(DripRates { stock_per_second: 40.0, orders_per_second: 0.0 });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while webhooks.changes().len() < 8 {
        assert!(tokio::time::Instant::now() < deadline, "the drip made no changes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    webhooks.stop_drip();
    assert!(webhooks.changes().iter().all(|c| c.kind == dongbo_simulator::ChangeKind::Stock));
}

#[tokio::test]
async fn the_control_routes_refuse_bad_input_with_a_message() {
    let h = start(config(None, None)).await;
    for (path, body) in [
        ("/_sim/webhooks", json!({"nhanhUrl": "ftp://example.com"})),
        ("/_sim/webhooks", json!({"faults": {"dropRate": 2}})),
        ("/_sim/webhooks", json!({"subscriptions": [{"topic": "", "uri": "http://x"}]})),
        ("/_sim/webhooks", json!({"nhanhURL": "http://x"})),
        ("/_sim/drip", json!({"action": "go"})),
        ("/_sim/drip", json!({"action": "start", "stockPerSecond": -1})),
    ] {
        let reply = h.http.post(format!("{}{path}", h.sim.nhanh_base_url())).json(&body).send().await.unwrap();
        assert_eq!(reply.status(), 400, "{path} {body}");
        let reply: Value = reply.json().await.unwrap();
        assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()), "{reply}");
    }
    let ok = json!({"nhanhUrl": "http://127.0.0.1:9/n", "subscriptions": [{"topic": "INVENTORY_LEVELS_UPDATE", "uri": "http://127.0.0.1:9/s"}]});
    let reply: Value = h
        .http
        .post(format!("{}/_sim/webhooks", h.sim.nhanh_base_url()))
        .json(&ok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["targets"]["nhanhUrl"], "http://127.0.0.1:9/n");
    assert_eq!(h.sim.webhooks().targets().shopify_uris("INVENTORY_LEVELS_UPDATE"), vec!["http://127.0.0.1:9/s"]);
}

/// Sets `quantities` (`(item gid, location gid, quantity)`) through the Admin API, as an app does.
async fn set_by_api(h: &Harness, quantities: &[(&str, &str, i64)], key: &str) -> Value {
    let q = "mutation($input: InventorySetQuantitiesInput!, $key: String!) {
      inventorySetQuantities(input: $input) @idempotent(key: $key) { userErrors { code message } }
    }";
    let quantities: Vec<Value> = quantities
        .iter()
        .map(|(item, location, quantity)| {
            json!({"inventoryItemId": item, "locationId": location, "quantity": quantity, "changeFromQuantity": null})
        })
        .collect();
    let input = json!({"name": "available", "reason": "correction", "quantities": quantities});
    let url = format!("{}/admin/api/2026-10/graphql.json", h.sim.shopify_shop_url());
    let token = h.sim.credentials().shopify_access_token.clone();
    let body = json!({"query": q, "variables": {"input": input, "key": key}});
    let response = h.http.post(url).header("X-Shopify-Access-Token", token).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_api_write_is_echoed_as_inventory_levels_update_for_each_level_it_moved() {
    let (r, url) = Receiver::start(vec![]).await;
    let h = start(config(None, Some(&url))).await;
    let truth = h.sim.truth();
    let state = h.sim.state();
    let item = state.variant(&truth.product_pairs[0].1).unwrap().inventory_item_id;
    let (moved, kept) = (truth.locations[0].id.clone(), truth.locations[1].id.clone());
    let now_moved = state.inventory(&item, &moved).unwrap();
    let now_kept = state.inventory(&item, &kept).unwrap();

    // One level moves, one is set to what it holds: one delivery, for the level that moved.
    let reply = set_by_api(&h, &[(&item, &moved, now_moved + 3), (&item, &kept, now_kept)], "echo-1").await;
    assert_eq!(reply["data"]["inventorySetQuantities"]["userErrors"], json!([]), "{reply}");
    let seen = r.until("the echo", |s| !s.is_empty()).await;
    let body = seen[0].json();
    assert_eq!(seen[0].header("X-Shopify-Topic"), "inventory_levels/update");
    conforms(&body, &fixture("sim_shopify_inventory_levels_update.json"), "inventory_levels/update");
    assert_eq!(format!("gid://shopify/InventoryItem/{}", body["inventory_item_id"]), item);
    assert_eq!(format!("gid://shopify/Location/{}", body["location_id"]), moved);
    assert_eq!(body["available"], json!(now_moved + 3), "the number the app wrote");

    // The same key again changes nothing and sends nothing; a hand change sends one more.
    set_by_api(&h, &[(&item, &moved, now_moved + 9)], "echo-1").await;
    assert_eq!(h.sim.webhooks().set_shopify_level(&item, &kept, now_kept + 1), Some(now_kept));
    let seen = r.until("the hand change", |s| s.len() >= 2).await;
    assert_eq!(format!("gid://shopify/Location/{}", seen[1].json()["location_id"]), kept);
    assert_eq!(seen[1].json()["available"], json!(now_kept + 1));
    let log = journal(&h, 2).await;
    assert_eq!(log.len(), 2, "no delivery for a replayed key or an unmoved level: {log:?}");
}
