//! Nhanh's limit shared through PostgreSQL: separate clients — as separate `dongbo worker`
//! processes would have, each with its own in-process state and its own pool on one database —
//! calling one app against the simulator stay under the limit together and still use most of it;
//! a slot held by a process that died frees at its in-flight expiry; a lock-out one process saw
//! holds the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dongbo_simulator::{NhanhLimits, SimConfig, Simulator};
use dongbo_tests::{fresh_db, Backend, TestDb};
use dongbo_workflows::catalog::store::limits::shared_slots;
use dongbo_workflows::connectors::limiter::pacing::PacingScope;
use dongbo_workflows::connectors::limiter::shared::{SharedNhanhLimiter, SlotStore};
use dongbo_workflows::connectors::limiter::slots::{app_key, SharedConfig};
use dongbo_workflows::connectors::limiter::window::WindowConfig;
use dongbo_workflows::connectors::nhanh::ProductFilters;
use dongbo_workflows::connectors::{NhanhClient, NhanhConfig, RetryPolicy};

const PATH: &str = "/v3.0/product/list";

/// The shared slots through a pool of its own on the test database, as one `dongbo` process
/// would open it (migrated).
async fn process_slots(db: &TestDb) -> Arc<dyn SlotStore> {
    let store = dongbo_workflows::open(&db.url).await.expect("open the test database");
    shared_slots(&store.db()).expect("expected PostgreSQL")
}

async fn start(limits: NhanhLimits) -> Simulator {
    let config = SimConfig { products: 60, customers: 10, nhanh: limits, ..SimConfig::default() };
    Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.expect("simulator starts")
}

/// The simulator's app, one row per page: the calls are about pacing, not data.
fn config(sim: &Simulator) -> NhanhConfig {
    let env = sim.env();
    let mut cfg = NhanhConfig::from_vars(|k| env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()))
        .expect("simulator env");
    cfg.page_size = 1;
    cfg
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy { base: Duration::from_millis(5), max: Duration::from_millis(50), ..RetryPolicy::default() }
}

/// The server's limit in these tests: 20 requests per 3 s per URL, a lock of 5 s.
fn server_limits() -> NhanhLimits {
    NhanhLimits { requests: 20, window: Duration::from_secs(3), lock_seconds: 5, ..NhanhLimits::default() }
}

fn client_limits() -> WindowConfig {
    WindowConfig { limit: 20, window: Duration::from_secs(3), margin: Duration::from_millis(100) }
}

/// Sends `total` `product/list` calls from `callers` tasks per client, all at once; returns when
/// the last call came back.
async fn hammer(clients: &[NhanhClient], callers: usize, total: usize) {
    let issued = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in clients {
        for _ in 0..callers {
            let (client, issued) = (client.clone(), issued.clone());
            tasks.push(tokio::spawn(async move {
                while issued.fetch_add(1, Ordering::Relaxed) < total {
                    client.list_products(&ProductFilters::default(), None).await.expect("product/list");
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("caller task");
    }
}

#[tokio::test]
async fn two_processes_sharing_one_database_stay_under_the_limit_together_and_use_most_of_it() {
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let sim = start(server_limits()).await;
    let limits = client_limits();
    let clients = [
        NhanhClient::with_pacing(config(&sim), limits, quick_retry(), PacingScope::Cluster(process_slots(&db).await))
            .unwrap(),
        NhanhClient::with_pacing(config(&sim), limits, quick_retry(), PacingScope::Cluster(process_slots(&db).await))
            .unwrap(),
    ];
    assert!(clients.iter().all(NhanhClient::shares_pacing));

    // Four windows' worth: a first burst of 20, then three refills of the slots.
    let total = 80;
    let started = Instant::now();
    hammer(&clients, 12, total).await;
    let elapsed = started.elapsed();

    assert_eq!(sim.rate_limit_hits().0, 0, "the server locked the app out");
    let (a, b) = (clients[0].stats(), clients[1].stats());
    assert_eq!((a.locked_out, b.locked_out, a.retries + b.retries), (0, 0, 0), "{a:?} {b:?}");
    assert_eq!(a.requests + b.requests, total as u64);
    assert!(a.requests >= 10 && b.requests >= 10, "both processes kept calling: {a:?} {b:?}");
    assert!(a.waited_ms > 0 && b.waited_ms > 0, "both processes waited on the shared slots: {a:?} {b:?}");
    // After the first burst (free: every slot starts empty), the ceiling is `limit` per window.
    let limit = f64::from(limits.limit);
    let sustained = (total as f64 - limit) / elapsed.as_secs_f64();
    let ceiling = limit / limits.window.as_secs_f64();
    eprintln!(
        "{total} requests ({} + {}) in {elapsed:?}: {sustained:.2}/s after the burst, {:.0} % of {ceiling:.2}/s",
        a.requests,
        b.requests,
        100.0 * sustained / ceiling
    );
    assert!(
        sustained >= 0.85 * ceiling,
        "{total} requests in {elapsed:?}: {sustained:.2}/s after the burst, below 85 % of {ceiling:.2}/s"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn two_processes_pacing_only_themselves_get_the_app_locked_out() {
    // The control: the same two callers with in-process limiters each believe they have the
    // whole limit, and their first bursts together go over it.
    let sim = start(server_limits()).await;
    let once = RetryPolicy { max_attempts: 1, ..quick_retry() };
    let clients = [
        NhanhClient::with_policy(config(&sim), client_limits(), once).unwrap(),
        NhanhClient::with_policy(config(&sim), client_limits(), once).unwrap(),
    ];
    let filters = ProductFilters::default();
    let burst = clients.iter().flat_map(|c| (0..15).map(|_| c.list_products(&filters, None)));
    let replies = futures::future::join_all(burst).await;
    assert!(replies.iter().any(Result::is_err));
    assert!(sim.rate_limit_hits().0 > 0, "30 calls against a limit of 20 were all admitted");
    sim.shutdown().await;
}

/// Two limiters for one app on separate pools, with one slot, a 500 ms window, a 100 ms margin
/// and requests that time out after `request_timeout`.
async fn two_limiters(
    db: &TestDb,
    request_timeout: Duration,
) -> (SharedNhanhLimiter, SharedNhanhLimiter, SharedConfig) {
    let window = WindowConfig { limit: 1, window: Duration::from_millis(500), margin: Duration::from_millis(100) };
    let cfg = SharedConfig::new(window, request_timeout);
    let key = app_key("74951", "18523");
    let a = SharedNhanhLimiter::new(process_slots(db).await, key.clone(), cfg);
    let b = SharedNhanhLimiter::new(process_slots(db).await, key, cfg);
    (a, b, cfg)
}

async fn acquire_within(limiter: &SharedNhanhLimiter, deadline: Duration) -> Duration {
    let (permit, waited) = tokio::time::timeout(deadline, limiter.acquire(PATH))
        .await
        .expect("a slot within the deadline")
        .expect("the database answers");
    permit.complete().await;
    waited
}

#[tokio::test]
async fn a_slot_held_by_a_crashed_process_is_free_again_after_its_in_flight_expiry() {
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let (crashed, survivor, cfg) = two_limiters(&db, Duration::from_secs(1)).await;
    let (permit, _) = crashed.acquire(PATH).await.unwrap();
    // A process killed mid-request never records its completion.
    std::mem::forget(permit);
    let expiry = cfg.in_flight_hold();
    let waited = acquire_within(&survivor, Duration::from_secs(10)).await;
    assert!(waited >= expiry - Duration::from_millis(100), "took the slot after {waited:?}, before {expiry:?}");
    assert!(waited <= expiry + cfg.poll + Duration::from_secs(1), "took the slot only after {waited:?}");
}

#[tokio::test]
async fn a_completion_in_one_process_frees_the_slot_for_another_window_plus_margin_later() {
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    // In flight the slot would be held 5.6 s; completed, 0.6 s.
    let (first, second, cfg) = two_limiters(&db, Duration::from_secs(5)).await;
    let (permit, _) = first.acquire(PATH).await.unwrap();
    let waiter = tokio::spawn(async move {
        let waited = acquire_within(&second, Duration::from_secs(10)).await;
        (second, waited)
    });
    // The request takes 200 ms; the waiter sees its completion on its next look.
    tokio::time::sleep(Duration::from_millis(200)).await;
    permit.complete().await;
    let (_, waited) = waiter.await.unwrap();
    let done = Duration::from_millis(200) + cfg.done_hold();
    assert!(waited >= done - Duration::from_millis(100), "took the slot after {waited:?}, before {done:?}");
    assert!(waited <= done + cfg.poll + Duration::from_secs(1), "took the slot only after {waited:?}");
    assert!(waited < cfg.in_flight_hold(), "waited out the in-flight expiry ({waited:?}) despite the completion");
}

#[tokio::test]
async fn a_lock_out_seen_by_one_process_holds_every_other_process() {
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let (seen, other, cfg) = two_limiters(&db, Duration::from_secs(1)).await;
    seen.lock(PATH, Duration::from_secs(1)).await.unwrap();
    let hold = cfg.lock_hold(Duration::from_secs(1));
    let waited = acquire_within(&other, Duration::from_secs(10)).await;
    assert!(waited >= hold - Duration::from_millis(100), "called after {waited:?}, inside the lock of {hold:?}");
    assert!(waited <= hold + Duration::from_secs(1), "called only after {waited:?}");
}
