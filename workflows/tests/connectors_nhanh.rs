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
    assert_eq!(total, Some(ids.len() as u64));

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
    assert_eq!(total, Some(ids.len() as u64));
    let stocked = products.iter().find(|p| p.inventory.as_ref().is_some_and(|i| !i.depots.is_empty())).expect("stock");
    let depot = &stocked.inventory.as_ref().unwrap().depots[0];
    let expected = sim.state().nhanh_available(stocked.id, depot.id).map(|a| a as f64);
    assert_eq!(depot.available, expected);

    let ids: Vec<u64> = products.iter().take(30).map(|p| p.id).collect();
    let filters = dongbo_workflows::connectors::nhanh::InventoryFilters { ids: ids.clone(), ..Default::default() };
    let inventory = client.product_inventory(&filters, None).await.unwrap();
    let got: HashSet<u64> = inventory.items.iter().map(|i| i.product_id).collect();
    assert!(got.iter().all(|id| ids.contains(id)) && !got.is_empty());
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
