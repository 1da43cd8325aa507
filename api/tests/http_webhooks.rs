//! Webhooks end to end, on SQLite and PostgreSQL, through the router and against the simulator:
//! forged and unreadable deliveries are refused with nothing recorded, a replay is recorded
//! once, a Nhanh stock delivery becomes a PRODUCT_SYNC that pushes only its products and links
//! back to the delivery, an out-of-order pair of Shopify deliveries does not regress a value, and
//! `app/uninstalled` stops every push until the app is declared reinstalled; a burst of
//! concurrent deliveries (copies included) is recorded once each, many per transaction.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use dongbo_api::http::webhooks::WebhookSecrets;
use dongbo_api::http::{self, AppState};
use dongbo_engine::{
    BackgroundJob, Engine, JobId, JobRequest, JobStatus, Priority, SharedStore, WorkerConfig, WorkerId,
};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_tests::{fresh_db, wait_for, Backend, TestDb};
use dongbo_workflows::catalog::store::pulls::set_location_mapping;
use dongbo_workflows::catalog::store::sync::set_manual_product_mapping;
use dongbo_workflows::webhooks::dispatch::{DispatchConfig, Dispatcher};
use dongbo_workflows::webhooks::{shopify, APP_UNINSTALLED_NOTICE};
use dongbo_workflows::{jobs, Upstreams};
use serde_json::{json, Value};
use tower::ServiceExt;

const NHANH_TOKEN: &str = "nhanh-verify-token";
const SHOPIFY_SECRET: &str = "shopify-client-secret";

struct Env {
    _db: TestDb,
    sim: Simulator,
    engine: Engine,
    state: AppState,
    router: Router,
    dispatcher: Dispatcher,
    /// (mapping id, nhanh product id, variant gid) of the mapped pairs.
    mapped: Vec<(i64, u64, String)>,
}

async fn env(backend: Backend) -> Option<Env> {
    let db = fresh_db(backend).await?;
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let sim = Simulator::start(
        SimConfig { products: 40, customers: 20, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let vars = sim.env();
    let up = Upstreams::from_vars(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    let engine = Engine::new(store.clone(), dongbo_api::registry::registry(&up));
    let state =
        AppState::new(engine.clone(), None).with_notices(up.notices.clone()).with_webhook_secrets(WebhookSecrets {
            nhanh_token: Some(NHANH_TOKEN.into()),
            shopify_secret: Some(SHOPIFY_SECRET.into()),
        });
    let router = http::router(state.clone());
    let config = DispatchConfig { window: Duration::ZERO, ..DispatchConfig::default() };
    let dispatcher = Dispatcher::new(engine.clone(), up.notices.clone(), config);
    // The catalog a webhook needs: Shopify's variants mirrored, depots mapped, pairs mapped.
    let pull = run(&engine, jobs::PULL_SHOPIFY_PRODUCTS, json!({})).await;
    assert_eq!(pull.status, JobStatus::Completed, "{:?}", pull.error);
    let db_handle = store.db();
    for (depot, location) in &sim.truth().depot_to_location {
        set_location_mapping(&db_handle, *depot, location).await.unwrap();
    }
    let mut mapped = Vec::new();
    for (nhanh, gid) in sim.truth().product_pairs.iter().take(10) {
        let id = set_manual_product_mapping(&db_handle, *nhanh as i64, gid, 0).await.unwrap();
        mapped.push((id, *nhanh, gid.clone()));
    }
    Some(Env { _db: db, sim, engine, state, router, dispatcher, mapped })
}

async fn run(engine: &Engine, job_type: &str, input: Value) -> BackgroundJob {
    let id = engine.request(JobRequest::new(job_type, input)).await.unwrap().job.id;
    finish(engine, id).await
}

async fn finish(engine: &Engine, id: JobId) -> BackgroundJob {
    let worker = Arc::new(engine.worker(WorkerConfig::new(WorkerId::new("webhook-test"))));
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

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn nhanh(body: &[u8], token: Option<&str>) -> Request<Body> {
    let mut r = Request::post("/api/webhooks/nhanh").header("content-type", "application/json");
    if let Some(t) = token {
        r = r.header("verifyToken", t);
    }
    r.body(Body::from(body.to_vec())).unwrap()
}

fn shopify_req(topic: &str, event: &str, triggered: Option<&str>, body: &[u8], hmac: Option<String>) -> Request<Body> {
    let mut r = Request::post("/api/webhooks/shopify")
        .header("content-type", "application/json")
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Event-Id", event)
        .header("X-Shopify-Shop-Domain", "dongbo-sim.myshopify.com");
    if let Some(t) = triggered {
        r = r.header("X-Shopify-Triggered-At", t);
    }
    if let Some(h) = hmac {
        r = r.header("X-Shopify-Hmac-SHA256", h);
    }
    r.body(Body::from(body.to_vec())).unwrap()
}

fn signed(topic: &str, event: &str, triggered: Option<&str>, body: &[u8]) -> Request<Body> {
    shopify_req(topic, event, triggered, body, Some(shopify::sign(SHOPIFY_SECRET, body)))
}

async fn deliveries(router: &Router, query: &str) -> Vec<Value> {
    let (status, body) =
        send(router, Request::get(format!("/api/webhook-deliveries{query}")).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().cloned().unwrap_or_default()
}

fn inventory_change(ids: &[u64]) -> Vec<u8> {
    let data: serde_json::Map<String, Value> =
        ids.iter().map(|id| (id.to_string(), json!({"id": id, "available": 1, "depots": {}}))).collect();
    json!({"event": "inventoryChange", "businessId": 1, "data": data}).to_string().into_bytes()
}

async fn forged_unreadable_and_replayed(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let body = inventory_change(&[e.mapped[0].1]);
    for (req, want) in [
        (nhanh(&body, Some("wrong")), StatusCode::UNAUTHORIZED),
        (nhanh(&body, None), StatusCode::UNAUTHORIZED),
        (nhanh(br#"{"event":"orderAdd","webhooksVerifyToken":"wrong","data":{}}"#, None), StatusCode::UNAUTHORIZED),
        (nhanh(b"{not json", Some(NHANH_TOKEN)), StatusCode::BAD_REQUEST),
        (nhanh(br#"{"event":"inventoryChange","data":"x"}"#, Some(NHANH_TOKEN)), StatusCode::BAD_REQUEST),
    ] {
        let (status, reply) = send(&e.router, req).await;
        assert_eq!(status, want, "{reply}");
        assert_eq!(reply["success"], json!(false));
    }
    let payload = br#"{"id": 706405506930370084, "updated_at": "2026-12-01T10:00:00Z"}"#;
    for (req, want) in [
        (
            shopify_req("customers/update", "e-1", None, payload, Some(shopify::sign("not-the-secret", payload))),
            StatusCode::UNAUTHORIZED,
        ),
        (shopify_req("customers/update", "e-1", None, payload, None), StatusCode::UNAUTHORIZED),
        (shopify_req("customers/update", "e-1", None, payload, Some("bm90IGl0".into())), StatusCode::UNAUTHORIZED),
        (signed("customers/update", "e-1", None, b"garbage"), StatusCode::BAD_REQUEST),
        (signed("customers/update", "e-1", None, b"{}"), StatusCode::BAD_REQUEST),
    ] {
        let (status, reply) = send(&e.router, req).await;
        assert_eq!(status, want, "{reply}");
    }
    assert!(deliveries(&e.router, "").await.is_empty(), "nothing refused was recorded");
    // The receivers are documented with their own refusals, not the browser guard's.
    let doc = serde_json::to_value(http::openapi()).unwrap();
    for path in ["/api/webhooks/nhanh", "/api/webhooks/shopify"] {
        let post = &doc["paths"][path]["post"]["responses"];
        assert!(post.get("401").is_some() && post.get("400").is_some() && post.get("415").is_none(), "{path}: {post}");
    }

    // The same Shopify event twice (a retry or a duplicate): recorded once.
    let (s1, first) = send(&e.router, signed("customers/update", "e-1", None, payload)).await;
    let (s2, second) = send(&e.router, signed("customers/update", "e-1", None, payload)).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first["data"]["duplicate"], json!(false));
    assert_eq!(second["data"]["duplicate"], json!(true));
    assert_eq!(second["data"]["deliveryId"], first["data"]["deliveryId"]);
    // The same Nhanh body twice before it is dispatched (Nhanh's retry): recorded once.
    let (_, n1) = send(&e.router, nhanh(&body, Some(NHANH_TOKEN))).await;
    let (_, n2) = send(&e.router, nhanh(&body, Some(NHANH_TOKEN))).await;
    assert_eq!(n2["data"]["duplicate"], json!(true));
    assert_eq!(n1["data"]["deliveryId"], n2["data"]["deliveryId"]);
    assert_eq!(deliveries(&e.router, "").await.len(), 2);
    // The body's verify token (v2 style) is accepted, and never stored.
    let v2 = json!({"event": "orderAdd", "webhooksVerifyToken": NHANH_TOKEN, "data": {"customer": {"id": 3}}});
    let (status, _) = send(&e.router, nhanh(v2.to_string().as_bytes(), None)).await;
    assert_eq!(status, StatusCode::OK);
    let all = deliveries(&e.router, "").await;
    assert_eq!(all.len(), 3);
    assert!(!all.iter().any(|d| d.to_string().contains(NHANH_TOKEN)));
}

#[tokio::test]
async fn forged_unreadable_and_replayed_deliveries_on_sqlite() {
    forged_unreadable_and_replayed(Backend::Sqlite).await;
}

#[tokio::test]
async fn forged_unreadable_and_replayed_deliveries_on_postgres() {
    forged_unreadable_and_replayed(Backend::Postgres).await;
}

/// Many deliveries at once — each Shopify event twice, concurrently, and distinct Nhanh bodies —
/// go through the process's one recorder, many per transaction: every request is answered 200,
/// each event is recorded exactly once with both copies naming the same delivery, and nothing is
/// lost.
async fn concurrent_deliveries(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    const EVENTS: usize = 120;
    const NHANH: usize = 60;
    let mut requests = Vec::new();
    for i in 0..EVENTS {
        let payload =
            format!(r#"{{"id": {}, "updated_at": "2026-12-01T10:00:00Z"}}"#, 706405506930370000u64 + i as u64);
        for _ in 0..2 {
            requests.push((
                format!("shopify-{i}"),
                signed("customers/update", &format!("burst-{i}"), None, payload.as_bytes()),
            ));
        }
    }
    for i in 0..NHANH {
        requests.push((
            format!("nhanh-{i}"),
            nhanh(&inventory_change(&[e.mapped[0].1, 1_000_000 + i as u64]), Some(NHANH_TOKEN)),
        ));
    }
    let sent = requests.len();
    let mut answers = tokio::task::JoinSet::new();
    for (name, req) in requests {
        let router = e.router.clone();
        answers.spawn(async move { (name, send(&router, req).await) });
    }
    let mut by_name: std::collections::HashMap<String, Vec<(i64, bool)>> = Default::default();
    while let Some(answer) = answers.join_next().await {
        let (name, (status, reply)) = answer.unwrap();
        assert_eq!(status, StatusCode::OK, "{name}: {reply}");
        let id = reply["data"]["deliveryId"].as_i64().unwrap();
        let duplicate = reply["data"]["duplicate"].as_bool().unwrap();
        by_name.entry(name).or_default().push((id, duplicate));
    }
    assert_eq!(by_name.values().map(Vec::len).sum::<usize>(), sent, "every request answered");
    let mut ids = HashSet::new();
    for (name, copies) in &by_name {
        let firsts = copies.iter().filter(|(_, dup)| !dup).count();
        assert_eq!(firsts, 1, "{name}: exactly one copy recorded, the other named as a duplicate: {copies:?}");
        assert!(copies.iter().all(|(id, _)| *id == copies[0].0), "{name}: both copies name one delivery: {copies:?}");
        assert!(ids.insert(copies[0].0), "{name}: its own delivery id");
    }
    let recorded = deliveries(&e.router, "?limit=500").await;
    assert_eq!(recorded.len(), EVENTS + NHANH, "one row per event and per Nhanh body");
    let listed: HashSet<i64> = recorded.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, ids, "the rows are the deliveries the answers named");
}

/// A delivery to act on from `source` with the key `key` (its content key too).
fn received(source: &'static str, key: &str) -> dongbo_workflows::catalog::store::webhooks::NewDelivery {
    dongbo_workflows::catalog::store::webhooks::NewDelivery {
        source,
        topic: "customers/update".into(),
        dedup_key: key.into(),
        content_key: key.into(),
        received_at: 10,
        triggered_at: None,
        body: "{}".into(),
        touches: "[]".into(),
        state: "RECEIVED",
        note: None,
    }
}

/// One batch holding a new delivery, another, and a second copy of the first: the copy names
/// the first's row; a batch after it finds the earlier rows.
async fn batch_with_a_copy(backend: Backend) {
    use dongbo_workflows::catalog::store::webhooks::record_all;
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let delivery = |key: &str| received("shopify", key);
    let first = record_all(&store.db(), &[delivery("a"), delivery("b"), delivery("a")]).await.unwrap();
    assert!(!first[0].duplicate && !first[1].duplicate && first[2].duplicate, "{first:?}");
    assert_ne!(first[0].id, first[1].id);
    assert_eq!(first[2].id, first[0].id);
    let second = record_all(&store.db(), &[delivery("b"), delivery("c")]).await.unwrap();
    assert!(second[0].duplicate && !second[1].duplicate, "{second:?}");
    assert_eq!(second[0].id, first[1].id);
    assert!(record_all(&store.db(), &[]).await.unwrap().is_empty());
}

/// The dispatcher's set-based finish: each of the four outcomes lands on its own rows (a Nhanh
/// delivery's key freed once it is handed on), a row another token holds is left alone, a
/// released row can be claimed again, and an item named twice keeps its newest time.
async fn finish_outcomes(backend: Backend) {
    use dongbo_workflows::catalog::store::webhooks::{claim, deliveries_page, finish, record_all, versions, Outcome};
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let db = store.db();
    let delivery = received;
    let ids: Vec<i64> = record_all(
        &db,
        &[
            delivery("nhanh", "n1"),
            delivery("shopify", "s1"),
            delivery("shopify", "s2"),
            delivery("nhanh", "n2"),
            delivery("nhanh", "n3"),
        ],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.id)
    .collect();
    let held = claim(&db, "tok", 100, 1_000, 100, 4).await.unwrap();
    assert_eq!(held.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..4].to_vec(), "the oldest four");
    let outcomes = [
        (ids[0], Outcome::Dispatched { job_id: "job-a".into(), note: Some("2 mappings".into()) }),
        (ids[1], Outcome::Waiting { job_id: "pull-b".into() }),
        (ids[2], Outcome::Closed { state: "STALE", note: "older than applied".into() }),
        (ids[3], Outcome::Released),
        // Not held by this token: left alone.
        (ids[4], Outcome::Dispatched { job_id: "job-x".into(), note: None }),
    ];
    let versions_in =
        [("item-1".to_owned(), 5), ("item-2".to_owned(), 7), ("item-1".to_owned(), 9), ("item-1".to_owned(), 6)];
    let written = finish(&db, "tok", 200, &outcomes, &versions_in).await.unwrap();
    assert_eq!(written, 4, "the four rows the token held");
    let rows: std::collections::HashMap<i64, _> =
        deliveries_page(&db, None, None, 50).await.unwrap().into_iter().map(|r| (r.id, r)).collect();
    let a = &rows[&ids[0]];
    assert_eq!(
        (a.state.as_str(), a.job_id.as_deref(), a.note.as_deref(), a.dispatched_at),
        ("DISPATCHED", Some("job-a"), Some("2 mappings"), Some(200))
    );
    let b = &rows[&ids[1]];
    assert_eq!((b.state.as_str(), b.pull_job_id.as_deref(), b.dispatched_at), ("WAITING", Some("pull-b"), None));
    let c = &rows[&ids[2]];
    assert_eq!(
        (c.state.as_str(), c.note.as_deref(), c.dispatched_at),
        ("STALE", Some("older than applied"), Some(200))
    );
    for id in [ids[3], ids[4]] {
        assert_eq!((rows[&id].state.as_str(), rows[&id].job_id.as_deref()), ("RECEIVED", None), "{:?}", rows[&id]);
    }
    // The dispatched Nhanh delivery's key is free again (Nhanh may send the same body later);
    // the held-back Shopify one keeps its event id.
    let again = record_all(&db, &[delivery("nhanh", "n1"), delivery("shopify", "s1")]).await.unwrap();
    assert!(!again[0].duplicate && again[1].duplicate, "{again:?}");
    // Released and never-held rows are claimable; the WAITING one is too (its pull decides).
    let next: Vec<i64> = claim(&db, "tok-2", 300, 1_300, 300, 10).await.unwrap().iter().map(|r| r.id).collect();
    assert!(next.contains(&ids[3]) && next.contains(&ids[4]) && next.contains(&ids[1]), "{next:?}");
    assert!(!next.contains(&ids[0]) && !next.contains(&ids[2]), "{next:?}");
    let v = versions(&db, &["item-1".to_owned(), "item-2".to_owned(), "item-3".to_owned()]).await.unwrap();
    assert_eq!((v.get("item-1"), v.get("item-2"), v.get("item-3")), (Some(&9), Some(&7), None));
    // An older time never lowers a newer one.
    finish(&db, "tok-2", 400, &[], &[("item-1".to_owned(), 3)]).await.unwrap();
    assert_eq!(versions(&db, &["item-1".to_owned()]).await.unwrap()["item-1"], 9);
}

#[tokio::test]
async fn finish_writes_each_outcome_on_sqlite() {
    finish_outcomes(Backend::Sqlite).await;
}

#[tokio::test]
async fn finish_writes_each_outcome_on_postgres() {
    finish_outcomes(Backend::Postgres).await;
}

/// On a SQLite file the recorder's connection does not give up when another writer holds the
/// lock: it asks again until the lock is free, then sees what that writer committed (here the
/// same Shopify event, so it names that row as the earlier copy).
#[tokio::test]
async fn the_recorder_waits_for_the_sqlite_writer_lock_and_sees_its_commit() {
    use dongbo_workflows::catalog::store::webhooks::DeliveryWriter;
    use std::sync::atomic::Ordering;
    let Some(db) = fresh_db(Backend::Sqlite).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let dongbo_engine::Db::Sqlite(pool) = store.db() else { panic!("a SQLite store") };
    // Another writer takes the lock and records the event first.
    let mut holder = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let held_id: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (source, topic, dedup_key, content_key, received_at, body, touches, state)
         VALUES ('shopify', 'customers/update', 'ev-held', 'c', 1, '{}', '[]', 'RECEIVED') RETURNING id",
    )
    .fetch_one(&mut *holder)
    .await
    .unwrap();
    let mut writer = DeliveryWriter::new(store.db());
    let asks = writer.lock_asks();
    let copy = received("shopify", "ev-held");
    let recording = tokio::spawn(async move { writer.record_all(&[copy]).await });
    wait_for("the recorder to find the lock taken", Duration::from_secs(30), || {
        let asks = asks.clone();
        async move { (asks.load(Ordering::Relaxed) > 0).then_some(()) }
    })
    .await;
    assert!(!recording.is_finished(), "no answer while the lock is held");
    holder.commit().await.unwrap();
    let recorded = recording.await.unwrap().expect("recorded once the lock was free");
    assert_eq!((recorded[0].id, recorded[0].duplicate), (held_id, true), "{recorded:?}");
}

/// A delivery the database refuses (PostgreSQL takes no NUL character in text) fails alone: the
/// deliveries recorded with it in one batch are recorded all the same.
#[tokio::test]
async fn a_refused_delivery_does_not_take_its_batch_with_it_on_postgres() {
    use dongbo_workflows::webhooks::recorder::Recorder;
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let recorder = Recorder::start(store.db());
    let mut refused = received("shopify", "ev-bad");
    refused.body = "{\"note\": \"a\u{0}b\"}".into();
    // Handed over together, before the recorder's task runs, so they wait for it as one batch.
    let (a, bad, b) = tokio::join!(
        recorder.record(received("shopify", "ev-a")),
        recorder.record(refused),
        recorder.record(received("shopify", "ev-b"))
    );
    assert!(bad.is_err(), "{bad:?}");
    let (a, b) = (a.expect("recorded"), b.expect("recorded"));
    assert!(!a.duplicate && !b.duplicate && a.id != b.id);
    let rows = dongbo_workflows::catalog::store::webhooks::deliveries_page(&store.db(), None, None, 10).await.unwrap();
    let mut ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, {
        let mut want = vec![a.id, b.id];
        want.sort_unstable();
        want
    });
}

#[tokio::test]
async fn a_batch_records_a_copy_once_on_sqlite() {
    batch_with_a_copy(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_batch_records_a_copy_once_on_postgres() {
    batch_with_a_copy(Backend::Postgres).await;
}

#[tokio::test]
async fn concurrent_deliveries_are_each_recorded_once_on_sqlite() {
    concurrent_deliveries(Backend::Sqlite).await;
}

#[tokio::test]
async fn concurrent_deliveries_are_each_recorded_once_on_postgres() {
    concurrent_deliveries(Backend::Postgres).await;
}

/// The inventory items of the journal's applied `inventorySetQuantities` writes of job `job`.
fn pushed_items(sim: &Simulator, job: JobId) -> HashSet<String> {
    sim.journal()
        .into_iter()
        .filter(|e| e.kind == "inventorySetQuantities" && e.applied)
        .filter(|e| e.idempotency_key.as_deref().is_some_and(|k| k.contains(&job.to_string())))
        .map(|e| e.target)
        .collect()
}

async fn stock_delivery_to_targeted_job(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.sim.touch_nhanh_products(40);
    let chosen = [e.mapped[2].clone(), e.mapped[5].clone()];
    let body = inventory_change(&[chosen[0].1, chosen[1].1]);
    let (status, reply) = send(&e.router, nhanh(&body, Some(NHANH_TOKEN))).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let delivery = reply["data"]["deliveryId"].as_i64().unwrap();

    let report = e.dispatcher.tick().await.unwrap();
    assert_eq!(report.jobs.len(), 1, "{report:?}");
    let job_id = report.jobs[0];
    let job = finish(&e.engine, job_id).await;
    assert_eq!(job.job_type, jobs::PRODUCT_SYNC);
    assert_eq!(job.priority, Priority::Webhook, "claimed before manual and scheduled work");
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let input = &e.engine.store().events(job_id, 0, 1).await.unwrap()[0].payload;
    assert_eq!(input["input"]["mappingIds"], json!([chosen[0].0, chosen[1].0]), "{input}");
    assert_eq!(input["input"]["webhookDeliveryIds"], json!([delivery]));

    // Only the two products were pushed, and Shopify now holds Nhanh's numbers for them.
    let items: HashSet<String> = e
        .sim
        .state()
        .expected_inventory()
        .into_iter()
        .filter(|l| l.nhanh_product_id == chosen[0].1 || l.nhanh_product_id == chosen[1].1)
        .map(|l| {
            assert_eq!(e.sim.state().inventory(&l.inventory_item_id, &l.location_id), Some(l.quantity));
            l.inventory_item_id
        })
        .collect();
    assert_eq!(items.len(), 2);
    assert_eq!(pushed_items(&e.sim, job_id), items);

    // The delivery names its job.
    let linked = deliveries(&e.router, &format!("?jobId={job_id}")).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["id"], json!(delivery));
    assert_eq!(linked[0]["state"], json!("DISPATCHED"));
    assert_eq!(linked[0]["jobId"], json!(job_id.to_string()));
}

#[tokio::test]
async fn a_nhanh_stock_delivery_becomes_a_product_sync_of_its_items_only_on_sqlite() {
    stock_delivery_to_targeted_job(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_nhanh_stock_delivery_becomes_a_product_sync_of_its_items_only_on_postgres() {
    stock_delivery_to_targeted_job(Backend::Postgres).await;
}

/// An `inventory_levels/update` of `item` (a gid) at the first mapped location, as Shopify sends it.
fn level_update(item: &str, location: &str, available: i64, updated_at: &str) -> Vec<u8> {
    let numeric = |gid: &str| gid.rsplit('/').next().unwrap().parse::<i64>().unwrap();
    json!({"inventory_item_id": numeric(item), "location_id": numeric(location), "available": available, "updated_at": updated_at})
        .to_string()
        .into_bytes()
}

async fn out_of_order_pair(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let level = e.sim.state().expected_inventory().into_iter().find(|l| l.nhanh_product_id == e.mapped[1].1).unwrap();
    let (item, location) = (level.inventory_item_id.clone(), level.location_id.clone());
    let newer = level_update(&item, &location, 999, "2026-12-06T10:00:02Z");
    let older = level_update(&item, &location, 5, "2026-12-06T10:00:01Z");

    // Newer first: it re-asserts Nhanh's number; the older, arriving after, changes nothing.
    let (s, _) = send(&e.router, signed("inventory_levels/update", "ev-2", Some("2026-12-06T10:00:02Z"), &newer)).await;
    assert_eq!(s, StatusCode::OK);
    let first = e.dispatcher.tick().await.unwrap();
    assert_eq!(first.jobs.len(), 1);
    let (s, reply) =
        send(&e.router, signed("inventory_levels/update", "ev-1", Some("2026-12-06T10:00:01Z"), &older)).await;
    assert_eq!(s, StatusCode::OK);
    let second = e.dispatcher.tick().await.unwrap();
    assert!(second.jobs.is_empty(), "the older delivery makes no job: {second:?}");
    let stale = reply["data"]["deliveryId"].as_i64().unwrap();
    let rows = deliveries(&e.router, "").await;
    let row = rows.iter().find(|d| d["id"] == json!(stale)).unwrap();
    assert_eq!(row["state"], json!("STALE"), "{row}");
    let job = finish(&e.engine, first.jobs[0]).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert_eq!(e.sim.state().inventory(&item, &location), Some(level.quantity), "Nhanh's number, not 999 nor 5");

    // The other order, in one window: only the newer acts.
    let newest = level_update(&item, &location, 100_007, "2026-12-06T10:00:04Z");
    let middle = level_update(&item, &location, 100_006, "2026-12-06T10:00:03Z");
    send(&e.router, signed("inventory_levels/update", "ev-4", None, &newest)).await;
    send(&e.router, signed("inventory_levels/update", "ev-3", None, &middle)).await;
    let third = e.dispatcher.tick().await.unwrap();
    assert_eq!(third.jobs.len(), 1);
    let rows = deliveries(&e.router, "").await;
    let states: Vec<&str> = rows.iter().take(2).map(|d| d["state"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["STALE", "DISPATCHED"], "newest first: ev-3 stale, ev-4 dispatched");
    finish(&e.engine, third.jobs[0]).await;
    assert_eq!(e.sim.state().inventory(&item, &location), Some(level.quantity));
}

#[tokio::test]
async fn an_out_of_order_pair_does_not_regress_a_value_on_sqlite() {
    out_of_order_pair(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_out_of_order_pair_does_not_regress_a_value_on_postgres() {
    out_of_order_pair(Backend::Postgres).await;
}

async fn app_uninstalled_stops_pushes(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let shop = std::fs::read(format!(
        "{}/../workflows/tests/fixtures/shopify/webhooks/app_uninstalled.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let (s, _) = send(&e.router, signed("app/uninstalled", "ev-u", None, &shop)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(e.state.notices.get(APP_UNINSTALLED_NOTICE).is_some(), "a loud notice");
    let (_, health) = send(&e.router, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert!(health.to_string().contains("shopify_app_uninstalled"), "{health}");

    // A push asked for by hand fails with the reason; a stock delivery makes no job.
    let before = e.sim.journal().len();
    let manual = run(&e.engine, jobs::PRODUCT_SYNC, json!({})).await;
    assert_eq!(manual.status, JobStatus::Failed);
    assert!(manual.error.as_deref().unwrap_or("").contains("uninstalled"), "{:?}", manual.error);
    send(&e.router, nhanh(&inventory_change(&[e.mapped[0].1]), Some(NHANH_TOKEN))).await;
    let report = e.dispatcher.tick().await.unwrap();
    assert!(report.jobs.is_empty(), "{report:?}");
    assert_eq!(e.sim.journal().len(), before, "nothing was written to Shopify");

    // Declared reinstalled: pushes resume.
    assert!(dongbo_workflows::webhooks::reinstalled(&e.engine.store().db(), &e.state.notices).await.unwrap());
    assert!(e.state.notices.get(APP_UNINSTALLED_NOTICE).is_none());
    send(&e.router, nhanh(&inventory_change(&[e.mapped[0].1]), Some(NHANH_TOKEN))).await;
    let report = e.dispatcher.tick().await.unwrap();
    assert_eq!(report.jobs.len(), 1);
    let job = finish(&e.engine, report.jobs[0]).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
}

#[tokio::test]
async fn app_uninstalled_stops_pushes_until_reinstalled_on_sqlite() {
    app_uninstalled_stops_pushes(Backend::Sqlite).await;
}

#[tokio::test]
async fn app_uninstalled_stops_pushes_until_reinstalled_on_postgres() {
    app_uninstalled_stops_pushes(Backend::Postgres).await;
}
