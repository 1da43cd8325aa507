//! The Nhanh client against the in-process simulator, over real HTTP: cursor walks, pacing
//! under the rate limit, lock-outs, faults, and secrets kept out of errors.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dongbo_simulator::{NhanhLimits, Scope, SimConfig, Simulator};
use dongbo_workflows::connectors::limiter::window::WindowConfig;
use dongbo_workflows::connectors::nhanh::{CustomerFilters, ProductFilters};
use dongbo_workflows::connectors::{ConnectorError, NhanhClient, NhanhConfig, RetryPolicy, Secret};

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.expect("simulator starts")
}

fn config(sim: &Simulator) -> NhanhConfig {
    let env = sim.env();
    NhanhConfig::from_vars(|k| env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())).expect("simulator env")
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base: Duration::from_millis(5),
        max: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

/// Walks every page of `customer/list`, returning the ids in order and the first page's total.
async fn walk_customers(
    client: &NhanhClient,
    filters: &CustomerFilters,
) -> Result<(Vec<u64>, Option<u64>), ConnectorError> {
    let mut ids = Vec::new();
    let mut next = None;
    let mut total = None;
    loop {
        let page = client.list_customers(filters, next.take()).await?;
        total = total.or(page.total_items);
        ids.extend(page.items.iter().map(|c| c.id));
        match page.next {
            Some(n) => next = Some(n),
            None => return Ok((ids, total)),
        }
    }
}

fn assert_each_once(ids: &[u64], expected: usize) {
    let distinct: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "a record came back twice");
    assert_eq!(ids.len(), expected, "not every record came back");
}

#[tokio::test]
async fn a_full_walk_of_customers_and_products_returns_every_record_exactly_once() {
    let sim = start(SimConfig { customers: 1_234, products: 567, ..SimConfig::default() }).await;
    let client = NhanhClient::new(config(&sim)).unwrap();

    let (ids, total) = walk_customers(&client, &CustomerFilters::default()).await.unwrap();
    assert_each_once(&ids, sim.state().nhanh_customer_count());
    assert_eq!(total, None, "the v3 pages document no total");

    let mut products = Vec::new();
    let mut next = None;
    let mut total = None;
    loop {
        let page = client.list_products(&ProductFilters::default(), next.take()).await.unwrap();
        total = total.or(page.total_items);
        products.extend(page.items);
        match page.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    let ids: Vec<u64> = products.iter().map(|p| p.id).collect();
    assert_each_once(&ids, sim.state().nhanh_product_count());
    assert_eq!(total, None);
    let stocked = products.iter().find(|p| p.inventory.as_ref().is_some_and(|i| !i.depots.is_empty())).expect("stock");
    let depot = &stocked.inventory.as_ref().unwrap().depots[0];
    let expected = sim.state().nhanh_available(stocked.id, depot.id).map(|a| a as f64);
    assert_eq!(depot.available, expected);

    let ids: Vec<u64> = products.iter().take(30).map(|p| p.id).collect();
    let filters = dongbo_workflows::connectors::nhanh::InventoryFilters { ids: ids.clone(), ..Default::default() };
    let inventory = client.product_inventory(&filters, None).await.unwrap();
    let got: HashSet<u64> = inventory.items.iter().map(|i| i.product_id).collect();
    assert!(got.iter().all(|id| ids.contains(id)) && !got.is_empty());
    // Each row's stock, nested under `inventory`, is read depot by depot.
    for row in &inventory.items {
        let depots = &row.inventory.as_ref().expect("the row's inventory").depots;
        assert!(!depots.is_empty(), "product {} read with no depots", row.product_id);
        for d in depots {
            let expected = sim.state().nhanh_available(row.product_id, d.id).map(|a| a as f64);
            assert_eq!(d.available, expected, "product {} depot {}", row.product_id, d.id);
        }
    }
    assert_eq!(client.stats().locked_out, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_incremental_walk_returns_only_customers_changed_in_the_window() {
    let sim = start(SimConfig { customers: 800, ..SimConfig::default() }).await;
    let client = NhanhClient::new(config(&sim)).unwrap();
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 1;
    let touched: HashSet<u64> = sim.touch_nhanh_customers(17).into_iter().collect();
    let filters = CustomerFilters { updated_at_from: Some(since), ..Default::default() };
    let (ids, _) = walk_customers(&client, &filters).await.unwrap();
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), touched);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_more_than_150_requests_is_paced_and_never_locked_out() {
    let window = Duration::from_secs(2);
    let limits = NhanhLimits { requests: 150, window, lock_seconds: 5, ..NhanhLimits::default() };
    let sim = start(SimConfig { customers: 500, nhanh: limits, ..SimConfig::default() }).await;
    let pacing = WindowConfig { limit: 150, window, margin: Duration::from_millis(100) };
    let mut cfg = config(&sim);
    cfg.page_size = 1;
    let client = NhanhClient::with_policy(cfg, pacing, quick_retry()).unwrap();

    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    client.list_customers(&CustomerFilters::default(), None).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(sim.rate_limit_hits().0, 0, "the server locked us out");
    let stats = client.stats();
    assert_eq!((stats.requests, stats.locked_out, stats.retries), (400, 0, 0));
    // 400 requests need two full windows of waiting beyond the first burst of 150.
    assert!(elapsed >= 2 * (window + pacing.margin), "400 requests in {elapsed:?}: not paced");
    assert!(elapsed < 4 * (window + pacing.margin), "400 requests in {elapsed:?}: paced too slowly");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lock_out_is_waited_out_by_every_caller_and_the_calls_then_succeed() {
    let limits =
        NhanhLimits { requests: 20, window: Duration::from_secs(1), lock_seconds: 1, ..NhanhLimits::default() };
    let sim = start(SimConfig { customers: 200, nhanh: limits, ..SimConfig::default() }).await;
    // A client that believes the limit is far higher than it is.
    let pacing = WindowConfig { limit: 10_000, window: Duration::from_secs(1), margin: Duration::from_millis(50) };
    let mut cfg = config(&sim);
    cfg.page_size = 1;
    let client = NhanhClient::with_policy(cfg, pacing, quick_retry()).unwrap();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..15 {
                    client.list_customers(&CustomerFilters::default(), None).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stats = client.stats();
    assert!(stats.locked_out >= 1, "{stats:?}");
    assert_eq!(stats.locked_out, sim.rate_limit_hits().0);
    // 45 calls against 20 per window make at most three lock-out episodes, and in each only
    // the (at most three) calls already in flight are refused: the others wait the lock out
    // instead of extending it.
    assert!(stats.locked_out <= 9, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn with_server_errors_and_timeouts_a_walk_still_completes_exactly() {
    let sim = start(SimConfig { customers: 1_500, ..SimConfig::default() }).await;
    sim.faults().update(Scope::Nhanh, |f| {
        f.error_rate = 0.1;
        f.timeout_rate = 0.05;
        f.timeout_ms = 2_000;
    });
    let mut cfg = config(&sim);
    cfg.timeout = Duration::from_millis(500);
    let client = NhanhClient::with_policy(cfg, WindowConfig::default(), quick_retry()).unwrap();
    let (ids, _) = walk_customers(&client, &CustomerFilters::default()).await.unwrap();
    assert_each_once(&ids, sim.state().nhanh_customer_count());
    assert!(client.stats().retries > 0, "no fault was hit: {:?}", client.stats());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_malformed_page_fails_with_a_clear_reason() {
    let sim = start(SimConfig { customers: 300, ..SimConfig::default() }).await;
    sim.faults().update(Scope::Nhanh, |f| f.malformed_rate = 1.0);
    let client = NhanhClient::new(config(&sim)).unwrap();
    let err = client.list_customers(&CustomerFilters::default(), None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("customer/list reply: not JSON"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn retries_give_up_with_a_transient_error_when_the_server_keeps_failing() {
    let sim = start(SimConfig { customers: 100, ..SimConfig::default() }).await;
    sim.faults().update(Scope::Nhanh, |f| f.error_rate = 1.0);
    let retry = RetryPolicy { max_attempts: 3, ..quick_retry() };
    let client = NhanhClient::with_policy(config(&sim), WindowConfig::default(), retry).unwrap();
    let err = client.list_customers(&CustomerFilters::default(), None).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(client.stats().requests, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_access_token_never_appears_in_errors_or_debug_output() {
    let sim = start(SimConfig { customers: 100, ..SimConfig::default() }).await;
    let good = config(&sim);
    let real_token = good.access_token.expose().to_owned();
    let wrong_token = "wrong-token-0123456789-should-stay-hidden";
    let bad = NhanhConfig { access_token: Secret::new(wrong_token), ..good.clone() };
    let mut outputs = vec![format!("{good:?}"), format!("{:?}", NhanhClient::new(good.clone()).unwrap())];

    let err = NhanhClient::new(bad).unwrap().list_customers(&CustomerFilters::default(), None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Permanent { .. }), "{err:?}");
    outputs.extend([err.to_string(), format!("{err:?}")]);

    let down = NhanhConfig { base_url: "http://127.0.0.1:9".into(), ..good.clone() };
    let retry = RetryPolicy { max_attempts: 1, ..quick_retry() };
    let err = NhanhClient::with_policy(down, WindowConfig::default(), retry)
        .unwrap()
        .list_customers(&CustomerFilters::default(), None)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    outputs.extend([err.to_string(), format!("{err:?}")]);

    for out in outputs {
        assert!(!out.contains(&real_token) && !out.contains(wrong_token), "token leaked: {out}");
    }
    sim.shutdown().await;
}

// ---- The documented examples (tests/fixtures/nhanh) and the simulator's shapes ----

use dongbo_workflows::connectors::nhanh::reply::{read_reply, Outcome};
use dongbo_workflows::connectors::nhanh::{
    app::read_token_reply, get_access_token, NhanhCustomer, NhanhDepot, NhanhProduct, NhanhProductInventory,
};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nhanh").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn page_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    call: &str,
    body: &Value,
) -> dongbo_workflows::connectors::nhanh::NhanhPage<T> {
    match read_reply::<T>(call, 200, body.to_string().as_bytes(), 1_733_387_510) {
        Outcome::Page(p) => p,
        other => panic!("{call}: {other:?}"),
    }
}

#[test]
fn every_documented_reply_parses_as_documented() {
    let products = page_of::<NhanhProduct>("product/list", &fixture("product_list.response.json"));
    let inv = products.items[0].inventory.as_ref().expect("inventory");
    assert_eq!((inv.remain, inv.available), (Some(19.0), Some(13.0)));
    assert_eq!(
        inv.depots.iter().map(|d| (d.id, d.available)).collect::<Vec<_>>(),
        [(53481, Some(8.0)), (53498, Some(5.0))]
    );
    assert_eq!(products.next, Some(json!({"id": 100})));

    let stock = page_of::<NhanhProductInventory>("product/inventory", &fixture("product_inventory.response.json"));
    let row = &stock.items[0];
    assert_eq!(row.product_id, 5012340);
    let inv = row.inventory.as_ref().expect("the stock nested under `inventory`");
    assert_eq!(
        inv.depots.iter().map(|d| (d.id, d.remain, d.available)).collect::<Vec<_>>(),
        [(53481, Some(12.0), Some(8.0)), (53498, Some(7.0), Some(5.0))]
    );

    let customers = page_of::<NhanhCustomer>("customer/list", &fixture("customer_list.response.json"));
    assert_eq!((customers.items[0].id, customers.items[0].total_amount), (880022, Some(15_750_000.0)));
    assert_eq!(customers.items[0].mobile.as_deref(), Some("0988992942"));

    let depots = page_of::<NhanhDepot>("business/depot", &fixture("business_depot.response.json"));
    assert_eq!((depots.items[0].id, depots.items[0].name.as_str()), (53481, "Kho tổng Hà Nội"));
    assert_eq!(depots.items[0].location.as_ref().and_then(|l| l.city_name.as_deref()), Some("Hà Nội"));

    let body = fixture("app_getaccesstoken.response.json").to_string();
    let (token, info) = read_token_reply("app/getaccesstoken", 200, body.as_bytes()).unwrap();
    assert_eq!(token.map(|t| t.expose().to_string()).as_deref(), Some("ACCESS TOKEN"));
    assert_eq!((info.expires_at.timestamp(), info.business_id), (1_785_603_599, 110_668));
    assert!(info.covers_all_depots() && info.covers(1), "an empty depotIds covers every depot");
    let body = fixture("app_checkaccesstoken.response.json").to_string();
    let (_, info) = read_token_reply("app/checkaccesstoken", 200, body.as_bytes()).unwrap();
    assert!(info.covers(53481) && !info.covers(53515), "{info:?}");
    let all = json!({"code": 1, "data": {"expiredAt": 1785603599, "businessId": 1, "depotIds": "All"}});
    assert!(read_token_reply("app/checkaccesstoken", 200, all.to_string().as_bytes()).unwrap().1.covers_all_depots());
    let missing = json!({"code": 1, "data": {"businessId": 1, "depotIds": []}});
    let err = read_token_reply("app/checkaccesstoken", 200, missing.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("expiredAt"), "{err}");

    let ok = page_of::<Value>("product/add", &fixture("envelope.success.json"));
    assert_eq!(ok.items.len(), 1);
    assert!(page_of::<Value>("order/edit", &fixture("envelope.warning.json")).items.is_empty());
    let locked = read_reply::<Value>("x", 200, fixture("error.rate_limit.json").to_string().as_bytes(), 1_733_387_510);
    assert!(
        matches!(locked, Outcome::Locked { locked_for, .. } if locked_for == Duration::from_secs(10)),
        "{locked:?}"
    );
    let form = read_reply::<Value>("x", 200, fixture("error.invalid_form_fields.json").to_string().as_bytes(), 0);
    assert!(
        matches!(&form, Outcome::Failed(e) if !e.is_transient() && e.to_string().contains("customer.mobile")),
        "{form:?}"
    );
    for code in fixture("error_codes.json").as_array().unwrap() {
        let reply = json!({"code": 0, "errorCode": code, "messages": "x"}).to_string();
        match read_reply::<Value>("x", 200, reply.as_bytes(), 0) {
            Outcome::Locked { .. } => assert!(code == "ERR_429" || code == "ERR_EXCEEDED_RATE_LIMIT", "{code}"),
            Outcome::Failed(e) => assert!(e.to_string().contains(code.as_str().unwrap()), "{code}: {e}"),
            Outcome::Page(_) => panic!("{code} read as a page"),
        }
    }
}

/// JSON kind at a path, numbers and numeric strings counted alike: Nhanh sends numbers as
/// strings and phone numbers as numbers in real data (protocols), so only the structure and the
/// scalar/object/array split are strict.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) | Value::String(_) => "scalar",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The differences between `got` and the documented `doc` example: keys `doc` does not list,
/// and kinds that differ (null is accepted anywhere; `paginator.next` is opaque; array items
/// are compared with the documented first item).
fn shape_diff(path: &str, got: &Value, doc: &Value, out: &mut Vec<String>) {
    if got.is_null() || path.ends_with("paginator.next") {
        return;
    }
    if kind(got) != kind(doc) {
        out.push(format!("{path}: {} where the docs have {}", kind(got), kind(doc)));
        return;
    }
    match (got, doc) {
        (Value::Object(g), Value::Object(d)) => {
            for (k, v) in g {
                match d.get(k) {
                    Some(dv) => shape_diff(&format!("{path}.{k}"), v, dv, out),
                    None => out.push(format!("{path}.{k}: not in the docs")),
                }
            }
        }
        (Value::Array(g), Value::Array(d)) => {
            if let Some(first) = d.first() {
                for (i, v) in g.iter().enumerate() {
                    shape_diff(&format!("{path}[{i}]"), v, first, out);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_shape_comparison_catches_an_extra_key_a_moved_block_and_a_changed_type() {
    let doc = fixture("product_inventory.response.json");
    let mut out = Vec::new();
    shape_diff("", &doc, &doc, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // The old misreading: stock at the top of the row.
    let flat = json!({"code": 1, "data": [{"productId": 1, "depots": [], "available": 3}]});
    let mut out = Vec::new();
    shape_diff("", &flat, &doc, &mut out);
    assert_eq!(out, ["[0].available: not in the docs", "[0].depots: not in the docs"].map(|p| format!(".data{p}")));
    let typed = json!({"code": 1, "data": [{"productId": 1, "inventory": {"depots": {"1": {}}}}]});
    let mut out = Vec::new();
    shape_diff("", &typed, &doc, &mut out);
    assert_eq!(out, [".data[0].inventory.depots: object where the docs have array"]);
    let total = json!({"code": 1, "paginator": {"next": null, "totalItems": 5}, "data": []});
    let mut out = Vec::new();
    shape_diff("", &total, &doc, &mut out);
    assert_eq!(out, [".paginator.totalItems: not in the docs"]);
}

/// POSTs `body` to `call` as the simulator's own app, with `token`.
async fn raw_call(sim: &Simulator, call: &str, token: &str, body: &Value) -> Value {
    let c = sim.credentials();
    let url = format!("{}/v3.0/{call}", sim.nhanh_base_url());
    reqwest::Client::new()
        .post(url)
        .query(&[("appId", c.nhanh_app_id.as_str()), ("businessId", c.nhanh_business_id.as_str())])
        .header("Authorization", token)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Follows the simulated login page and returns the `accessCode` it hands back.
async fn login(sim: &Simulator) -> String {
    let c = sim.credentials();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let reply = http
        .get(format!("{}/oauth", sim.nhanh_base_url()))
        .query(&[("appId", c.nhanh_app_id.as_str()), ("returnLink", "https://dongbo.example/nhanh/auth?x=1")])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 302);
    let to = reply.headers()["location"].to_str().unwrap().to_string();
    let code = to.strip_prefix("https://dongbo.example/nhanh/auth?x=1&accessCode=").unwrap_or_else(|| panic!("{to}"));
    code.to_string()
}

#[tokio::test]
async fn the_simulator_replies_in_the_documented_shapes() {
    let sim = start(SimConfig { customers: 60, products: 40, ..SimConfig::default() }).await;
    let c = sim.credentials().clone();
    let token = c.nhanh_access_token.as_str();
    let secret = json!({"secretKey": c.nhanh_secret_key});
    let cases = [
        ("product/list", json!({"paginator": {"size": 20, "sort": {"id": "desc"}}}), "product_list.response.json"),
        (
            "product/inventory",
            json!({"paginator": {"size": 20, "sort": {"productId": "desc"}}}),
            "product_inventory.response.json",
        ),
        ("customer/list", json!({"paginator": {"size": 20}}), "customer_list.response.json"),
        ("business/depot", fixture("business_depot.request.json"), "business_depot.response.json"),
        ("app/checkaccesstoken", secret.clone(), "app_checkaccesstoken.response.json"),
    ];
    for (call, body, doc) in cases {
        let reply = raw_call(&sim, call, token, &body).await;
        assert_eq!(reply["code"], 1, "{call}: {reply}");
        assert!(reply["data"].as_array().is_none_or(|a| !a.is_empty()), "{call}: no rows to compare");
        let mut out = Vec::new();
        shape_diff("", &reply, &fixture(doc), &mut out);
        assert!(out.is_empty(), "{call} differs from {doc}: {out:#?}");
    }
    // `available` = `remain` − holding − shipping − damaged, and they differ somewhere.
    let reply = raw_call(&sim, "product/inventory", token, &json!({"paginator": {"size": 40}})).await;
    let mut differs = 0;
    for row in reply["data"].as_array().unwrap() {
        for d in row["inventory"]["depots"].as_array().unwrap() {
            let n = |k: &str| d[k].as_i64().unwrap_or_else(|| panic!("{k} in {d}"));
            assert_eq!(n("available"), n("remain") - n("holding") - n("shipping") - n("damaged"), "{d}");
            differs += usize::from(n("available") != n("remain"));
        }
    }
    assert!(differs > 0, "available always equals remain");
    // customer/list documents no sort: one is refused.
    let sorted = raw_call(&sim, "customer/list", token, &json!({"paginator": {"sort": {"id": "desc"}}})).await;
    assert_eq!(sorted["errorCode"], "ERR_INVALID_FORM_FIELDS", "{sorted}");
    // The exchange, through the simulated login.
    let code = login(&sim).await;
    let body = json!({"accessCode": code, "secretKey": c.nhanh_secret_key});
    let url = format!("{}/v3.0/app/getaccesstoken?appId={}", sim.nhanh_base_url(), c.nhanh_app_id);
    let reply: Value = reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap();
    let mut out = Vec::new();
    shape_diff("", &reply, &fixture("app_getaccesstoken.response.json"), &mut out);
    assert!(out.is_empty(), "app/getaccesstoken: {out:#?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_token_calls_report_expiry_coverage_and_depots_and_the_login_grants_a_new_token() {
    let sim = start(SimConfig { customers: 10, products: 10, ..SimConfig::default() }).await;
    let client = NhanhClient::new(config(&sim)).unwrap();
    let info = client.check_access_token().await.unwrap();
    let year = info.expires_at - chrono::Utc::now();
    assert!(year > chrono::Duration::days(364) && year <= chrono::Duration::days(366), "{info:?}");
    assert!(info.covers_all_depots());
    assert_eq!(info.business_id.to_string(), sim.credentials().nhanh_business_id);

    let depots = client.business_depots().await.unwrap();
    assert_eq!(depots.len(), sim.truth().depots.len());
    assert!(depots.iter().all(|d| !d.name.is_empty()), "{depots:?}");
    let first = depots[0].id;
    sim.nhanh_token_covers(vec![first]);
    sim.nhanh_token_expires_at(1_900_000_000);
    let info = client.check_access_token().await.unwrap();
    assert_eq!((info.depot_ids.clone(), info.expires_at.timestamp()), (vec![first], 1_900_000_000));
    assert!(info.covers(first) && !info.covers(depots[1].id));

    // No secret key configured: the check says what to set.
    let without = NhanhClient::new(NhanhConfig { secret_key: None, ..config(&sim) }).unwrap();
    let err = without.check_access_token().await.unwrap_err();
    assert!(err.to_string().contains("NHANH_SECRET_KEY"), "{err}");

    // The login hands back a one-time code; its exchange gives a new, working token.
    let c = sim.credentials().clone();
    let secret = Secret::new(c.nhanh_secret_key.clone());
    let code = login(&sim).await;
    let granted = get_access_token(&sim.nhanh_base_url(), &c.nhanh_app_id, &secret, &code).await.unwrap();
    assert_ne!(granted.access_token.expose(), c.nhanh_access_token);
    assert_eq!(granted.info.depot_ids, vec![first], "new grants keep the configured coverage");
    let fresh = NhanhClient::new(NhanhConfig { access_token: granted.access_token.clone(), ..config(&sim) }).unwrap();
    assert_eq!(fresh.check_access_token().await.unwrap().depot_ids, vec![first]);
    // The code is spent; a wrong secret is refused, and neither secret nor code is in the error.
    let again = get_access_token(&sim.nhanh_base_url(), &c.nhanh_app_id, &secret, &code).await.unwrap_err();
    assert!(!again.is_transient() && again.to_string().contains("accessCode"), "{again}");
    let code = login(&sim).await;
    let wrong = Secret::new("not-the-secret");
    let err = get_access_token(&sim.nhanh_base_url(), &c.nhanh_app_id, &wrong, &code).await.unwrap_err();
    assert!(!err.to_string().contains("not-the-secret") && !err.to_string().contains(&code), "{err}");
    sim.shutdown().await;
}
