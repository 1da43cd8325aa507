//! The Shopify client against the in-process simulator, over real HTTP: cursor walks, counts,
//! bulk exports, the cost bucket, faults, idempotent inventory writes, userErrors as data,
//! and secrets kept out of errors.

use std::collections::HashSet;
use std::time::Duration;

use dongbo_simulator::{Plan, Scope, SimConfig, Simulator};
use dongbo_workflows::connectors::shopify::bulk::{assemble_products, parse_customer_line, parse_product_line};
use dongbo_workflows::connectors::shopify::{
    BulkKind, InventoryQuantity, MetafieldInput, ShopifyCustomer, ShopifyPolicy, ShopifyProduct,
};
use dongbo_workflows::connectors::{ConnectorError, RetryPolicy, Secret, ShopifyClient, ShopifyConfig};

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
    for kind in [BulkKind::Customers, BulkKind::Products] {
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
