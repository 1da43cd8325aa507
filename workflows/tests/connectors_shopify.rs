//! The Shopify client against the in-process simulator, over real HTTP: cursor walks, counts,
//! bulk exports, the cost bucket, faults, idempotent inventory writes, userErrors as data,
//! secrets kept out of errors, every spoken API version, and the checks made at start.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dongbo_simulator::{Plan, Scope, SimConfig, Simulator};
use dongbo_workflows::connectors::shopify::bulk::{
    assemble_products, parse_customer_line, parse_level_line, parse_product_line, ShopifyLevel,
};
use dongbo_workflows::connectors::shopify::{
    version, ApiVersion, BulkKind, InventoryQuantity, MetafieldInput, ShopifyCustomer, ShopifyPolicy, ShopifyProduct,
    VERSION_SERVED, VERSION_SUPPORT,
};
use dongbo_workflows::connectors::{ConnectorError, RetryPolicy, Secret, ShopifyClient, ShopifyConfig};
use dongbo_workflows::notices::{NoticeLevel, Notices};

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.expect("simulator starts")
}

fn config(sim: &Simulator) -> ShopifyConfig {
    let env = sim.env();
    ShopifyConfig::from_vars(|k| env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())).expect("simulator env")
}

fn quick() -> ShopifyPolicy {
    let retry = RetryPolicy {
        max_attempts: 12,
        base: Duration::from_millis(5),
        max: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    ShopifyPolicy { retry, ..ShopifyPolicy::default() }
}

async fn walk_customers(client: &ShopifyClient, first: u32) -> Result<Vec<ShopifyCustomer>, ConnectorError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client.customers_page(first, after.as_deref(), None).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

/// Every product with all its variants, following each product's variant cursor.
async fn walk_products(client: &ShopifyClient) -> Result<Vec<ShopifyProduct>, ConnectorError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client.products_page(250, after.as_deref(), None).await?;
        for mut product in page.items {
            let mut more = product.more_variants.take();
            while let Some(cursor) = more {
                let variants = client.product_variants_page(&product.id, 100, Some(&cursor)).await?;
                product.variants.extend(variants.items);
                more = variants.next;
            }
            all.push(product);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

fn assert_each_once<'a>(ids: impl IntoIterator<Item = &'a str>, expected: usize) {
    let ids: Vec<&str> = ids.into_iter().collect();
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "a record came back twice");
    assert_eq!(ids.len(), expected, "not every record came back");
}

#[tokio::test]
async fn a_full_walk_of_customers_and_products_returns_every_record_exactly_once() {
    let sim = start(SimConfig { customers: 900, products: 300, plan: Plan::Plus, ..SimConfig::default() }).await;
    let client = ShopifyClient::new(config(&sim)).unwrap();

    let customers = walk_customers(&client, 250).await.unwrap();
    let expected = sim.state().shopify_customer_count();
    assert_each_once(customers.iter().map(|c| c.id.as_str()), expected);
    assert_eq!(client.customers_count().await.unwrap().count, expected as u64);
    assert!(customers.iter().any(|c| c.phone.is_some()) && customers.iter().any(|c| c.address_phone.is_some()));

    let products = walk_products(&client).await.unwrap();
    assert_eq!(client.products_count().await.unwrap().count, products.len() as u64);
    let variants = products.iter().flat_map(|p| p.variants.iter().map(|v| v.id.as_str()));
    assert_each_once(variants, sim.state().shopify_variant_count());
    assert!(products.iter().flat_map(|p| &p.variants).all(|v| v.inventory_item_id.is_some()));

    let locations = client.locations().await.unwrap();
    assert_eq!(locations.len(), sim.truth().locations.len());
    assert_eq!(sim.rate_limit_hits().1, 0, "throttled: {:?}", client.stats());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bulk_export_returns_every_customer_and_variant_exactly_once() {
    let sim = start(SimConfig { customers: 700, products: 200, ..SimConfig::default() }).await;
    let client = ShopifyClient::new(config(&sim)).unwrap();
    for kind in [BulkKind::Customers, BulkKind::Products, BulkKind::Levels] {
        let id = client.bulk_run_query(kind).await.unwrap();
        let op = loop {
            let op = client.bulk_operation(&id).await.unwrap().expect("an operation");
            assert_eq!(op.id, id);
            if op.is_finished() {
                break op;
            }
            // Polling interval: the operation finishes on the server's schedule.
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(op.status, "COMPLETED", "{op:?}");
        let mut file = client.download_jsonl(op.url.as_deref().expect("a result")).await.unwrap();
        let mut lines = Vec::new();
        while let Some(line) = file.next_line().unwrap() {
            lines.push(line.to_owned());
        }
        assert_eq!(op.object_count, Some(lines.len() as u64));
        match kind {
            BulkKind::Customers => {
                let customers: Vec<ShopifyCustomer> = lines.iter().map(|l| parse_customer_line(l).unwrap()).collect();
                assert_each_once(customers.iter().map(|c| c.id.as_str()), sim.state().shopify_customer_count());
            }
            BulkKind::Products => {
                let parsed = lines.iter().map(|l| parse_product_line(l).unwrap());
                let products = assemble_products(parsed).unwrap();
                let variants = products.iter().flat_map(|p| p.variants.iter().map(|v| v.id.as_str()));
                assert_each_once(variants, sim.state().shopify_variant_count());
            }
            BulkKind::Levels => {
                // Each variant's item once per location, with the quantity Shopify holds there.
                let levels: Vec<ShopifyLevel> = lines.iter().filter_map(|l| parse_level_line(l).unwrap()).collect();
                let keys: Vec<String> =
                    levels.iter().map(|l| format!("{} {}", l.inventory_item_id, l.location_id)).collect();
                let locations = sim.truth().locations.len();
                assert_each_once(keys.iter().map(String::as_str), sim.state().shopify_variant_count() * locations);
                for l in &levels {
                    assert_eq!(l.available, sim.state().inventory(&l.inventory_item_id, &l.location_id), "{l:?}");
                }
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_calls_sharing_one_bucket_are_paced_without_being_throttled() {
    let sim = start(SimConfig { customers: 1_000, plan: Plan::Plus, ..SimConfig::default() }).await;
    let client = ShopifyClient::new(config(&sim)).unwrap();
    let walks: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { walk_customers(&client, 166).await.map(|c| c.len()) })
        })
        .collect();
    let expected = sim.state().shopify_customer_count();
    for walk in walks {
        assert_eq!(walk.await.unwrap().unwrap(), expected);
    }
    let stats = client.stats();
    assert_eq!(sim.rate_limit_hits().1, 0, "{stats:?}");
    assert!(stats.waited_ms > 0, "three walks of ~6 000 points each fit a 10 000 bucket only if paced: {stats:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn throttled_replies_are_waited_out_and_the_walks_still_complete_exactly() {
    let sim = start(SimConfig { customers: 1_000, plan: Plan::Plus, ..SimConfig::default() }).await;
    // Two clients that do not share a bucket mirror, as two processes would not.
    let a = ShopifyClient::with_policy(config(&sim), quick()).unwrap();
    let b = ShopifyClient::with_policy(config(&sim), quick()).unwrap();
    let expected = sim.state().shopify_customer_count();
    let (ra, rb) = tokio::join!(walk_customers(&a, 166), walk_customers(&b, 166));
    assert_eq!(ra.unwrap().len(), expected);
    assert_eq!(rb.unwrap().len(), expected);
    let throttled = a.stats().throttled + b.stats().throttled;
    assert_eq!(throttled, sim.rate_limit_hits().1);
    sim.shutdown().await;
}

#[tokio::test]
async fn with_server_errors_and_timeouts_a_walk_still_completes_exactly() {
    let sim = start(SimConfig { customers: 800, plan: Plan::Plus, ..SimConfig::default() }).await;
    sim.faults().update(Scope::Shopify, |f| {
        f.error_rate = 0.1;
        f.timeout_rate = 0.05;
        f.timeout_ms = 2_000;
    });
    let mut cfg = config(&sim);
    cfg.timeout = Duration::from_millis(500);
    let client = ShopifyClient::with_policy(cfg, quick()).unwrap();
    let customers = walk_customers(&client, 50).await.unwrap();
    assert_each_once(customers.iter().map(|c| c.id.as_str()), sim.state().shopify_customer_count());
    assert!(client.stats().retries > 0, "no fault was hit: {:?}", client.stats());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_malformed_reply_fails_with_a_clear_reason() {
    let sim = start(SimConfig { customers: 100, ..SimConfig::default() }).await;
    sim.faults().update(Scope::Shopify, |f| f.malformed_rate = 1.0);
    let client = ShopifyClient::new(config(&sim)).unwrap();
    let err = client.customers_page(10, None, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("customers page reply: not JSON"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn an_inventory_write_repeated_with_the_same_idempotency_key_is_applied_once() {
    let sim = start(SimConfig { customers: 50, products: 50, ..SimConfig::default() }).await;
    let client = ShopifyClient::new(config(&sim)).unwrap();
    let page = client.products_page(5, None, None).await.unwrap();
    let item = page.items.iter().flat_map(|p| &p.variants).find_map(|v| v.inventory_item_id.clone()).unwrap();
    let location = client.locations().await.unwrap().remove(0).id;
    let key = "job-7/step-3/batch-0";

    let set =
        |quantity| vec![InventoryQuantity { inventory_item_id: item.clone(), location_id: location.clone(), quantity }];
    assert_eq!(client.inventory_set_quantities(&set(41), key).await.unwrap(), vec![]);
    assert_eq!(client.inventory_set_quantities(&set(41), key).await.unwrap(), vec![]);
    // A different quantity under the same key is the same effect replayed: still not applied.
    assert_eq!(client.inventory_set_quantities(&set(99), key).await.unwrap(), vec![]);

    let writes: Vec<_> = sim.journal().into_iter().filter(|e| e.idempotency_key.as_deref() == Some(key)).collect();
    assert_eq!(writes.len(), 3);
    assert_eq!(writes.iter().filter(|e| e.applied).count(), 1, "{writes:?}");
    assert_eq!(sim.state().inventory(&item, &location), Some(41));
    sim.shutdown().await;
}

#[tokio::test]
async fn metafield_user_errors_come_back_as_data_naming_the_failing_item() {
    let sim = start(SimConfig { customers: 50, ..SimConfig::default() }).await;
    let client = ShopifyClient::new(config(&sim)).unwrap();
    let customers = client.customers_page(3, None, None).await.unwrap().items;
    let input = |c: &ShopifyCustomer, value: &str| MetafieldInput {
        owner_id: c.id.clone(),
        namespace: "custom".into(),
        key: "total_spent".into(),
        type_: "number_integer".into(),
        value: value.into(),
    };
    let ok: Vec<_> = customers.iter().map(|c| input(c, "1500000")).collect();
    let outcome = client.metafields_set(&ok).await.unwrap();
    assert!(outcome.user_errors.is_empty(), "{outcome:?}");
    assert_eq!(outcome.metafields.len(), 3);
    assert_eq!(sim.state().customer_metafield(&customers[1].id, "custom", "total_spent").as_deref(), Some("1500000"));

    sim.faults().fail_targets([customers[2].id.clone()]);
    let outcome = client.metafields_set(&ok).await.unwrap();
    assert_eq!(outcome.user_errors.len(), 1, "{outcome:?}");
    assert_eq!(outcome.user_errors[0].item_index(), Some(2));

    let too_many: Vec<_> = (0..26).map(|_| input(&customers[0], "1")).collect();
    assert!(matches!(client.metafields_set(&too_many).await, Err(ConnectorError::Permanent { .. })));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_access_token_never_appears_in_errors_or_debug_output() {
    let sim = start(SimConfig { customers: 50, ..SimConfig::default() }).await;
    let good = config(&sim);
    let real_token = good.access_token.expose().to_owned();
    let wrong_token = "shpat_wrong_0123456789_should_stay_hidden";
    let mut outputs = vec![format!("{good:?}"), format!("{:?}", ShopifyClient::new(good.clone()).unwrap())];

    let bad = ShopifyConfig { access_token: Secret::new(wrong_token), ..good.clone() };
    let err = ShopifyClient::new(bad).unwrap().customers_page(5, None, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Permanent { .. }), "{err:?}");
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    outputs.extend([err.to_string(), format!("{err:?}")]);

    sim.faults().update(Scope::Shopify, |f| f.error_rate = 1.0);
    let retry = RetryPolicy { max_attempts: 2, ..quick().retry };
    let client = ShopifyClient::with_policy(good, ShopifyPolicy { retry, ..quick() }).unwrap();
    let err = client.customers_page(5, None, None).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    outputs.extend([err.to_string(), format!("{err:?}")]);

    for out in outputs {
        assert!(!out.contains(&real_token) && !out.contains(wrong_token), "token leaked: {out}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_inventory_write_succeeds_on_every_spoken_version_and_sets_the_absolute_quantity() {
    let sim = start(SimConfig { customers: 50, products: 50, ..SimConfig::default() }).await;
    let probe = ShopifyClient::new(config(&sim)).unwrap();
    let page = probe.products_page(5, None, None).await.unwrap();
    let item = page.items.iter().flat_map(|p| &p.variants).find_map(|v| v.inventory_item_id.clone()).unwrap();
    let location = probe.locations().await.unwrap().remove(0).id;
    for (n, version) in version::SPOKEN.iter().enumerate() {
        let client = ShopifyClient::new(ShopifyConfig { api_version: *version, ..config(&sim) }).unwrap();
        let quantity = 100 + n as i64;
        let set = [InventoryQuantity { inventory_item_id: item.clone(), location_id: location.clone(), quantity }];
        let key = format!("job-9/step-{n}/batch-0");
        assert_eq!(client.inventory_set_quantities(&set, &key).await.unwrap(), vec![], "{version}");
        assert_eq!(sim.state().inventory(&item, &location), Some(quantity), "{version}");
    }
    let applied: Vec<_> = sim.journal().into_iter().filter(|e| e.kind == "inventorySetQuantities").collect();
    assert_eq!(applied.len(), version::SPOKEN.len());
    for e in &applied {
        assert!(e.applied, "{e:?}");
        assert_eq!(e.value["changeFromQuantity"], serde_json::Value::Null, "sent explicitly as null: {e:?}");
    }
    sim.shutdown().await;
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| pairs.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
}

fn check_config(pairs: &[(&str, &str)], today: &str, expect: Result<&str, &str>) {
    let today = chrono::NaiveDate::parse_from_str(today, "%Y-%m-%d").unwrap();
    let got =
        ShopifyConfig::from_vars_on(vars(pairs), today).map(|c| c.api_version.to_string()).map_err(|e| e.to_string());
    match (&got, expect) {
        (Ok(g), Ok(e)) => assert_eq!(g, e, "{pairs:?}"),
        (Err(g), Err(e)) => assert!(g.contains(e), "{pairs:?}: {g}"),
        _ => panic!("{pairs:?}: got {got:?}, expected {expect:?}"),
    }
}

#[test]
fn the_configured_version_and_shop_url_are_checked_at_start() {
    let shop = ("SHOPIFY_SHOP_URL", "https://dongbo-test.myshopify.com");
    let token = ("SHOPIFY_ACCESS_TOKEN", "shpat_x");
    let day = "2026-12-06";
    check_config(&[shop, token], day, Ok("2026-10"));
    check_config(&[shop, token, ("SHOPIFY_API_VERSION", "2026-04")], day, Ok("2026-04"));
    check_config(
        &[shop, token, ("SHOPIFY_API_VERSION", "2025-10")],
        day,
        Err("SHOPIFY_API_VERSION 2025-10 is not supported; dongbo speaks 2026-01, 2026-04, 2026-07, 2026-10"),
    );
    check_config(&[shop, token, ("SHOPIFY_API_VERSION", "2026-11")], day, Err("is not a Shopify API version"));
    check_config(&[shop, token, ("SHOPIFY_API_VERSION", "latest")], day, Err("dongbo speaks 2026-01"));
    check_config(&[token], day, Err("SHOPIFY_SHOP_URL is not set"));
    check_config(&[shop], day, Err("SHOPIFY_ACCESS_TOKEN is not set"));
    for url in ["http://127.0.0.1:9999", "http://localhost:8080/", "http://[::1]:3000", "http://127.8.0.1"] {
        check_config(&[("SHOPIFY_SHOP_URL", url), token], day, Ok("2026-10"));
    }
    for url in ["http://dongbo-test.myshopify.com", "http://10.0.0.5:8080", "http://localhost.example.com"] {
        check_config(&[("SHOPIFY_SHOP_URL", url), token], day, Err("plain http:// to a host that is not loopback"));
    }
    check_config(&[("SHOPIFY_SHOP_URL", "ftp://shop"), token], day, Err("must start with https://"));
    check_config(&[("SHOPIFY_SHOP_URL", "dongbo-test.myshopify.com"), token], day, Err("is not a URL"));
}

#[test]
fn the_upstreams_refuse_an_unsupported_version_naming_the_supported_ones() {
    let err = dongbo_workflows::Upstreams::from_vars(|k| match k {
        "SHOPIFY_SHOP_URL" => Some("https://dongbo-test.myshopify.com".into()),
        "SHOPIFY_ACCESS_TOKEN" => Some("shpat_x".into()),
        "SHOPIFY_API_VERSION" => Some("2025-10".into()),
        _ => None,
    })
    .err()
    .expect("refused");
    assert!(err.to_string().contains("2025-10 is not supported; dongbo speaks"), "{err}");
    let err = dongbo_workflows::Upstreams::from_vars(|k| (k == "SHOPIFY_API_VERSION").then(|| "2026-1".into()))
        .err()
        .expect("refused without a token too");
    assert!(err.to_string().contains("`2026-1` is not a Shopify API version"), "{err}");
}

/// A one-route HTTP server on a thread of its own that answers every request with a
/// `customersCount` reply and the header `X-Shopify-API-Version` set to what `answered` holds.
fn stub_shopify(answered: Arc<Mutex<&'static str>>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let mut read = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the announced body, then answer.
            loop {
                let n = socket.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                read.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&read).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0usize);
                    if read.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            let answered = *answered.lock().unwrap();
            let body = r#"{"data":{"customersCount":{"count":3,"precision":"EXACT"}},"extensions":{"cost":{"requestedQueryCost":1,"actualQueryCost":1,"throttleStatus":{"maximumAvailable":2000,"currentlyAvailable":1999,"restoreRate":100}}}}"#;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-shopify-api-version: {answered}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes());
        }
    });
    url
}

#[tokio::test]
async fn a_reply_from_another_version_than_the_one_asked_for_raises_a_notice_until_it_answers_as_asked() {
    let answered = Arc::new(Mutex::new("2026-04"));
    let url = stub_shopify(answered.clone());
    let cfg = ShopifyConfig {
        api_version: ApiVersion::parse("2026-01").unwrap(),
        ..ShopifyConfig::new(url, Secret::new("shpat_stub"))
    };
    let notices = Notices::new();
    let client = ShopifyClient::with_notices(cfg, ShopifyPolicy::default(), notices.clone()).unwrap();
    assert_eq!(client.version_status().answered_other, None);
    assert_eq!(notices.get(VERSION_SERVED), None);

    assert_eq!(client.customers_count().await.unwrap().count, 3);
    assert_eq!(client.version_status().answered_other.as_deref(), Some("2026-04"));
    let notice = notices.get(VERSION_SERVED).expect("raised");
    assert_eq!(notice.level, NoticeLevel::Warning);
    assert!(notice.message.contains("answered with API version 2026-04 when dongbo asked for 2026-01"), "{notice:?}");
    client.customers_count().await.unwrap();
    assert_eq!(notices.get(VERSION_SERVED).unwrap().since, notice.since, "raised once, not per request");

    *answered.lock().unwrap() = "2026-01";
    client.customers_count().await.unwrap();
    assert_eq!(client.version_status().answered_other, None);
    assert_eq!(notices.get(VERSION_SERVED), None, "cleared once Shopify answers as asked");
}

#[test]
fn a_version_near_its_end_of_support_raises_a_notice_when_the_client_is_made() {
    let today = chrono::Utc::now().date_naive();
    for v in version::SPOKEN {
        let notices = Notices::new();
        let cfg = ShopifyConfig { api_version: *v, ..ShopifyConfig::new("https://x.myshopify.com", Secret::new("t")) };
        let _client = ShopifyClient::with_notices(cfg, ShopifyPolicy::default(), notices.clone()).unwrap();
        // Whether it is near depends on today: the expectation comes from the pure rule, tested
        // data-first in `version`.
        match version::end_of_support(*v, today) {
            Some(end) => {
                let notice = notices.get(VERSION_SUPPORT).unwrap_or_else(|| panic!("{v}: no notice"));
                assert_eq!(notice.message, end.to_string());
            }
            None => assert_eq!(notices.get(VERSION_SUPPORT), None, "{v}"),
        }
    }
}
