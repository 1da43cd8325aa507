//! dongbo hears its own stock writes back and does not loop, on SQLite and PostgreSQL.
//!
//! Shopify sends `inventory_levels/update` for every level that moves, an app's own API writes
//! included; the simulator does the same. Here the simulator delivers over real HTTP to dongbo's
//! `/api/webhooks/shopify`: a stock push makes one echo per level it moved, and those echoes
//! (Shopify showing exactly what dongbo pushed) make no job. A hand change in Shopify makes one
//! targeted PRODUCT_SYNC that re-asserts Nhanh's number once; that push's own echo makes nothing.

use std::sync::Arc;
use std::time::Duration;

use dongbo_api::http::webhooks::WebhookSecrets;
use dongbo_api::http::{self, AppState};
use dongbo_engine::{BackgroundJob, Engine, JobId, JobRequest, JobStatus, SharedStore, WorkerConfig, WorkerId};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_tests::{fresh_db, wait_for, Backend, TestDb};
use dongbo_workflows::catalog::store::pulls::set_location_mapping;
use dongbo_workflows::catalog::store::sync::set_manual_product_mapping;
use dongbo_workflows::catalog::store::webhooks::{deliveries_page, DeliveryRow};
use dongbo_workflows::webhooks::dispatch::{DispatchConfig, Dispatcher};
use dongbo_workflows::{jobs, Upstreams};
use serde_json::{json, Value};

const TOPIC: &str = "inventory_levels/update";

struct Env {
    _db: TestDb,
    sim: Simulator,
    engine: Engine,
    dispatcher: Dispatcher,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// dongbo's router on a real port with the simulator's secrets, every true product pair mapped,
/// and the simulator's Shopify deliveries pointed at it.
async fn env(backend: Backend) -> Option<Env> {
    let db = fresh_db(backend).await?;
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let sim = Simulator::start(
        SimConfig { products: 40, customers: 10, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let vars = sim.env();
    let up = Upstreams::from_vars(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    let engine = Engine::new(store.clone(), dongbo_api::registry::registry(&up));
    let config = sim.webhooks().config().clone();
    let state =
        AppState::new(engine.clone(), None).with_notices(up.notices.clone()).with_webhook_secrets(WebhookSecrets {
            nhanh_token: Some(config.nhanh_verify_token.clone()),
            shopify_secret: Some(config.shopify_secret.clone()),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(http::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let dispatcher = Dispatcher::new(
        engine.clone(),
        up.notices.clone(),
        DispatchConfig { window: Duration::ZERO, ..DispatchConfig::default() },
    );
    let pull = run(&engine, jobs::PULL_SHOPIFY_PRODUCTS, json!({})).await;
    assert_eq!(pull.status, JobStatus::Completed, "{:?}", pull.error);
    let catalog = store.db();
    for (depot, location) in &sim.truth().depot_to_location {
        set_location_mapping(&catalog, *depot, location).await.unwrap();
    }
    for (nhanh, gid) in &sim.truth().product_pairs {
        set_manual_product_mapping(&catalog, *nhanh as i64, gid, 0).await.unwrap();
    }
    sim.webhooks().set_shopify_url(Some(format!("{url}/api/webhooks/shopify")));
    Some(Env { _db: db, sim, engine, dispatcher, stop: Some(stop) })
}

async fn run(engine: &Engine, job_type: &str, input: Value) -> BackgroundJob {
    let id = engine.request(JobRequest::new(job_type, input)).await.unwrap().job.id;
    finish(engine, id).await
}

async fn finish(engine: &Engine, id: JobId) -> BackgroundJob {
    let worker = Arc::new(engine.worker(WorkerConfig::new(WorkerId::new("echo-test"))));
    let store: SharedStore = engine.store().clone();
    wait_for("the job to finish", Duration::from_secs(120), || {
        let worker = worker.clone();
        let store = store.clone();
        async move {
            worker.run_once().await.unwrap();
            let job = store.job(id).await.unwrap().unwrap();
            job.status.is_finished().then_some(job)
        }
    })
    .await
}

/// The stock deliveries dongbo has recorded, oldest first.
async fn recorded(e: &Env) -> Vec<DeliveryRow> {
    let mut rows = deliveries_page(&e.engine.store().db(), None, None, 10_000).await.unwrap();
    rows.retain(|d| d.topic == TOPIC);
    rows.reverse();
    rows
}

/// Waits until dongbo has recorded `n` stock deliveries in all.
async fn wait_recorded(e: &Env, n: usize) -> Vec<DeliveryRow> {
    wait_for(&format!("{n} stock deliveries recorded"), Duration::from_secs(30), || async move {
        let rows = recorded(e).await;
        (rows.len() >= n).then_some(rows)
    })
    .await
}

/// PRODUCT_SYNC jobs in the store.
async fn product_syncs(e: &Env) -> usize {
    let filter =
        dongbo_engine::JobFilter { job_type: Some(jobs::PRODUCT_SYNC.into()), limit: 100, ..Default::default() };
    e.engine.store().list_jobs(&filter).await.unwrap().len()
}

/// Applied `inventorySetQuantities` entries for `item` at `location`.
fn writes_to(sim: &Simulator, item: &str, location: &str) -> usize {
    sim.journal()
        .into_iter()
        .filter(|j| j.kind == "inventorySetQuantities" && j.applied && j.target == item)
        .filter(|j| j.value["locationId"].as_str() == Some(location))
        .count()
}

async fn echoes_do_not_loop(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let expected = e.sim.state().expected_inventory();
    let state = e.sim.state();
    let shown = || -> Vec<Option<i64>> {
        expected.iter().map(|l| state.inventory(&l.inventory_item_id, &l.location_id)).collect()
    };
    let before = shown();

    // A stock push: one echo per level it moved, each recorded, and none makes a job.
    let sync = run(&e.engine, jobs::PRODUCT_SYNC, json!({})).await;
    assert_eq!(sync.status, JobStatus::Completed, "{:?}", sync.error);
    let moving = before.iter().zip(shown()).filter(|(b, a)| **b != *a).count();
    assert!(moving > 0, "the seed's Shopify stock differs from Nhanh's somewhere");
    let echoes = wait_recorded(&e, moving).await;
    assert_eq!(echoes.len(), moving, "one echo per level the push moved");
    let report = e.dispatcher.tick().await.unwrap();
    assert_eq!(report.claimed, moving, "{report:?}");
    assert!(report.jobs.is_empty(), "an echo of dongbo's own push makes no job: {report:?}");
    for d in recorded(&e).await {
        assert_eq!(d.state, "IGNORED", "{d:?}");
        assert!(d.note.as_deref().unwrap_or_default().contains("echo"), "{d:?}");
    }
    assert_eq!(product_syncs(&e).await, 1, "no second push");

    // A hand change in Shopify: re-asserted once, and that push's echo makes nothing.
    let level = expected
        .iter()
        .find(|l| state.inventory(&l.inventory_item_id, &l.location_id) == Some(l.quantity))
        .expect("a level the push set to Nhanh's number");
    let (item, location) = (level.inventory_item_id.as_str(), level.location_id.as_str());
    let writes_before = writes_to(&e.sim, item, location);
    e.sim.webhooks().set_shopify_level(item, location, level.quantity + 7).unwrap();
    wait_recorded(&e, moving + 1).await;
    let report = e.dispatcher.tick().await.unwrap();
    assert_eq!(report.jobs.len(), 1, "a hand change makes one targeted job: {report:?}");
    let fix = finish(&e.engine, report.jobs[0]).await;
    assert_eq!((fix.job_type.as_str(), fix.status), (jobs::PRODUCT_SYNC, JobStatus::Completed), "{:?}", fix.error);
    assert_eq!(state.inventory(item, location), Some(level.quantity), "Nhanh's number is back");
    let rows = wait_recorded(&e, moving + 2).await;
    let report = e.dispatcher.tick().await.unwrap();
    assert!(report.jobs.is_empty(), "the re-assertion's echo makes no job: {report:?}");
    let rows_after = recorded(&e).await;
    let hand = &rows_after[moving];
    assert_eq!((hand.state.as_str(), hand.job_id.as_deref()), ("DISPATCHED", Some(fix.id.to_string().as_str())));
    let echo = &rows_after[moving + 1];
    assert_eq!(echo.state, "IGNORED", "{echo:?}");
    assert_eq!(rows.len(), moving + 2, "nothing more was delivered");
    assert_eq!(writes_to(&e.sim, item, location), writes_before + 1, "re-asserted exactly once");
    assert_eq!(product_syncs(&e).await, 2, "the full push and the one re-assertion");
    // Nothing else arrives later: the loop is closed.
    let report = e.dispatcher.tick().await.unwrap();
    assert_eq!(report.claimed, 0, "{report:?}");
}

#[tokio::test]
async fn a_push_and_its_echo_make_no_second_push_and_a_hand_change_is_reasserted_once_on_sqlite() {
    echoes_do_not_loop(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_push_and_its_echo_make_no_second_push_and_a_hand_change_is_reasserted_once_on_postgres() {
    echoes_do_not_loop(Backend::Postgres).await;
}
