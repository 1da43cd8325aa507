//! Replays the old front end's requests to the job routes against dongbo, through the router and
//! real workflows on the simulator, and checks every answer against what the old pages read.
//!
//! The requests and the fields read are in `tests/fixtures/old_front_end.json`, captured from the
//! old tool's `src/lib/api-client.ts` and pages (repository and commit named in the file). The test
//! fails if a route refuses a body the old client sends, or an answer lacks a field (or has a field
//! of another type) that an old page reads. Where the old client's option must change what the job
//! does, the job is checked too: a Shopify `query` pulls only what it matches, `forceRestart`
//! replaces the unfinished pull, Nhanh filters reach the job as a filtered pull, and the mapping
//! ids the front end sends back as strings select exactly those mappings.

mod http_support;

use std::collections::HashMap;

use axum::http::StatusCode;
use dongbo_api::http::{router, AppState};
use dongbo_api::registry::registry;
use dongbo_engine::{Engine, JobId, WorkerConfig, WorkerId};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_workflows::catalog::store::sync::{customer_rows, product_rows, Selection};
use dongbo_workflows::Upstreams;
use http_support::{call, within, Answer};
use serde::Deserialize;
use serde_json::{json, Value};

/// The fixture.
#[derive(Debug, Deserialize)]
struct Fixture {
    source: Source,
    requests: Vec<Captured>,
}

#[derive(Debug, Deserialize)]
struct Source {
    repo: String,
    commit: String,
}

/// One request the old front end sends.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Captured {
    label: String,
    from: String,
    method: String,
    path: String,
    content_type: Option<String>,
    body: Option<Value>,
    reads: Vec<String>,
    run: bool,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/old_front_end.json");
    serde_json::from_str(text).expect("the fixture parses")
}

/// Whether `value` has the JSON type `ty` (`string`, `number`, `boolean`, `object`, `array`, `null`).
fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        other => panic!("unknown type {other} in the fixture"),
    }
}

/// Checks one `path:type` read against `root`; a field under a null parent is not read.
fn check_read(root: &Value, read: &str, problems: &mut Vec<String>) {
    let (path, types) = read.split_once(':').unwrap_or_else(|| panic!("malformed read {read}"));
    let types: Vec<&str> = types.split('|').collect();
    let mut values = vec![(String::new(), root)];
    for part in path.split('.') {
        let (name, each) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for (at, value) in values {
            if value.is_null() {
                continue;
            }
            let Some(field) = value.as_object().and_then(|o| o.get(name)) else {
                problems.push(format!("{read}: `{name}` missing at `{at}` in {value}"));
                continue;
            };
            let at = format!("{at}.{name}");
            if each {
                match field.as_array() {
                    Some(items) => next.extend(items.iter().enumerate().map(|(i, v)| (format!("{at}[{i}]"), v))),
                    None => problems.push(format!("{read}: `{at}` is not an array")),
                }
            } else {
                next.push((at, field));
            }
        }
        values = next;
    }
    for (at, value) in values {
        if !types.iter().any(|t| has_type(value, t)) {
            problems.push(format!("{read}: `{at}` is {value}, not {}", types.join("|")));
        }
    }
}

/// Fills the `$NAME` placeholders of a string.
fn fill_text(text: &str, vars: &HashMap<&str, Value>) -> Value {
    if let Some(name) = text.strip_prefix('$') {
        if let Some(v) = vars.get(name) {
            return v.clone();
        }
    }
    let mut out = text.to_owned();
    for (name, v) in vars {
        if let Some(s) = v.as_str() {
            out = out.replace(&format!("${name}"), s);
        }
    }
    Value::String(out)
}

fn fill(body: &Value, vars: &HashMap<&str, Value>) -> Value {
    match body {
        Value::String(s) => fill_text(s, vars),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, vars)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), fill(v, vars))).collect()),
        other => other.clone(),
    }
}

/// The app on real workflows over the simulator.
struct World {
    sim: Simulator,
    engine: Engine,
    router: axum::Router,
    _db: dongbo_tests::TestDb,
}

async fn world() -> World {
    let sim = Simulator::start(
        SimConfig { customers: 120, products: 30, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .expect("start the simulator");
    let env = sim.env();
    let upstreams = Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    let db = dongbo_tests::sqlite_db();
    let engine = Engine::new(dongbo_workflows::open(&db.url).await.unwrap(), registry(&upstreams));
    let router = router(AppState::new(engine.clone(), None));
    World { sim, engine, router, _db: db }
}

impl World {
    /// Runs every runnable job to its end.
    async fn run_jobs(&self) {
        let worker = self.engine.worker(WorkerConfig::new(WorkerId::new("replay")));
        within(120, "the jobs finish", async { while worker.run_once().await.expect("a worker pass").is_some() {} })
            .await;
    }

    async fn job(&self, id: &str) -> dongbo_engine::BackgroundJob {
        let id: JobId = id.parse().expect("a job id");
        self.engine.store().job(id).await.unwrap().expect("the job exists")
    }

    async fn input(&self, id: &str) -> Value {
        let id: JobId = id.parse().expect("a job id");
        self.engine.store().events(id, 0, 1).await.unwrap()[0].payload["input"].clone()
    }

    async fn send(&self, c: &Captured, vars: &HashMap<&str, Value>) -> Answer {
        let path = match fill_text(&c.path, vars) {
            Value::String(s) => s,
            other => panic!("{}: the path became {other}", c.label),
        };
        let mut request = call(&c.method, &path);
        request = match (&c.content_type, &c.body) {
            (Some(ct), Some(body)) => request.raw(ct, fill(body, vars).to_string().into_bytes()),
            (Some(ct), None) => request.raw(ct, Vec::new()),
            (None, Some(body)) => panic!("{}: a body without a content type: {body}", c.label),
            (None, None) => request,
        };
        request.send(&self.router).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_front_ends_requests_are_accepted_honoured_and_answered_in_the_shapes_its_pages_read() {
    let fixture = fixture();
    assert_eq!(fixture.source.repo, "dinhdungweb/Tool-shopify");
    assert_eq!(fixture.source.commit.len(), 40, "the fixture names the commit it was captured at");
    let w = world().await;
    let truth = w.sim.truth();
    // A customer whose phone is one search token (real phones come in every format).
    let phone = truth
        .customer_pairs
        .iter()
        .filter_map(|(_, gid)| w.sim.state().shopify_customer_phone(gid))
        .find(|p| !p.is_empty() && !p.contains(char::is_whitespace) && !p.contains(['"', '\'', ':']))
        .expect("some mapped customer has a phone without spaces");
    let mut vars: HashMap<&str, Value> = HashMap::new();
    vars.insert("PHONE_QUERY", json!(format!("phone:{phone}")));
    let mut jobs: HashMap<String, String> = HashMap::new();
    let mut problems = Vec::new();

    for c in &fixture.requests {
        assert!(!c.from.is_empty(), "{}: every request names where the old client sends it", c.label);
        if c.label == "sync-customers" {
            let db = w.engine.store().db();
            let rows = customer_rows(&db, Selection::After { after: 0, limit: 2 }).await.unwrap();
            assert_eq!(rows.len(), 2, "the customer match mapped customers");
            let ids: Vec<Value> = rows.iter().map(|r| json!(r.mapping_id.to_string())).collect();
            vars.insert("CUSTOMER_MAPPING_IDS", Value::Array(ids));
        }
        if c.label == "sync-products" {
            let db = w.engine.store().db();
            let rows = product_rows(&db, Selection::After { after: 0, limit: 3 }).await.unwrap();
            assert_eq!(rows.len(), 3, "the product match mapped products");
            let ids: Vec<Value> = rows.iter().map(|r| json!(r.mapping_id.to_string())).collect();
            vars.insert("PRODUCT_MAPPING_IDS", Value::Array(ids));
        }
        let answer = w.send(c, &vars).await;
        let json = answer.json.clone().unwrap_or_else(|| panic!("{}: not JSON: {answer:?}", c.label));
        if !answer.status.is_success() || json["success"] != json!(true) {
            problems
                .push(format!("{} ({} {}): answered {}: {}", c.label, c.method, c.path, answer.status, answer.text));
            continue;
        }
        for read in &c.reads {
            check_read(&json, read, &mut problems);
        }
        if c.method == "POST" {
            assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", c.label);
            let id = json["data"]["jobId"].as_str().expect("a trigger answers the job id").to_owned();
            if json["jobId"] != json!(id) {
                problems.push(format!("{}: no top-level jobId, where the old pull routes had it", c.label));
            }
            vars.insert("LAST_JOB", json!(id.clone()));
            jobs.insert(c.label.clone(), id);
        }
        if c.run {
            w.run_jobs().await;
        }
    }
    assert!(problems.is_empty(), "the old front end would break:\n{}", problems.join("\n"));

    // A Shopify search pulls only what it matches; a blank one, and none, pull the whole store.
    let query = w.job(&jobs["shopify-customers-query"]).await;
    let all = w.job(&jobs["shopify-customers-all"]).await;
    let blank = w.job(&jobs["shopify-customers-blank-query"]).await;
    assert_eq!(all.status.as_str(), "COMPLETED", "{:?}", all.error);
    assert_eq!(all.processed as usize, truth.shopify_customers);
    assert_eq!(blank.processed as usize, truth.shopify_customers);
    assert_eq!(query.status.as_str(), "COMPLETED", "{:?}", query.error);
    assert!(
        query.processed >= 1 && (query.processed as usize) < truth.shopify_customers,
        "phone:{phone} pulled {} of {}",
        query.processed,
        truth.shopify_customers
    );
    assert_eq!(query.metadata["summary"]["mode"], json!("filtered"), "{}", query.metadata);
    assert_eq!(w.input(&jobs["shopify-customers-query"]).await["query"], json!(format!("phone:{phone}")));

    // forceRestart cancelled the pending filtered pull and started a full one in its place.
    let replaced = w.job(&jobs["nhanh-customers-filtered"]).await;
    assert_eq!(replaced.status.as_str(), "CANCELLED");
    let restarted = w.job(&jobs["nhanh-customers-force-restart"]).await;
    assert_ne!(jobs["nhanh-customers-filtered"], jobs["nhanh-customers-force-restart"]);
    assert_eq!(restarted.status.as_str(), "COMPLETED", "{:?}", restarted.error);
    assert_eq!(restarted.processed as usize, truth.nhanh_customers);
    assert_eq!(
        w.input(&jobs["nhanh-customers-filtered"]).await,
        json!({"mode": "full", "type": 1, "lastBoughtDateFrom": "2025-01-01", "lastBoughtDateTo": "2025-12-31"})
    );
    let filtered = w.job(&jobs["nhanh-customers-filtered-restart"]).await;
    assert_eq!(w.input(&jobs["nhanh-customers-filtered-restart"]).await, json!({"mode": "full", "type": 2}));
    assert_eq!(filtered.metadata["summary"]["mode"], json!("filtered"), "{}", filtered.metadata);

    // Product status becomes the search term.
    let status = w.job(&jobs["shopify-products-draft"]).await;
    assert_eq!(status.status.as_str(), "COMPLETED", "{:?}", status.error);
    assert_eq!(status.metadata["query"], json!("status:draft"), "{}", status.metadata);

    // The batch size the old client sends reaches the match.
    assert_eq!(w.input(&jobs["match-customers"]).await["batchSize"], json!(1000));

    // The mapping ids sent back as strings select exactly those mappings, pushed by default.
    let ids = vars["CUSTOMER_MAPPING_IDS"].clone();
    let numbers: Vec<i64> = ids.as_array().unwrap().iter().map(|v| v.as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(w.input(&jobs["sync-customers"]).await, json!({"mappingIds": numbers, "forceSync": true}));
    let sync = w.job(&jobs["sync-customers"]).await;
    assert_eq!(sync.status.as_str(), "COMPLETED", "{:?}", sync.error);
    assert_eq!((sync.total, sync.processed, sync.successful), (Some(2), 2, 2));
    let mut pushed: Vec<String> =
        w.sim.journal().into_iter().filter(|e| e.kind == "metafieldsSet" && e.applied).map(|e| e.target).collect();
    let db = w.engine.store().db();
    let chosen = customer_rows(&db, Selection::Ids(&numbers)).await.unwrap();
    let mut chosen: Vec<String> = chosen.into_iter().map(|r| r.shopify_customer_id).collect();
    chosen.sort();
    pushed.sort();
    pushed.dedup();
    assert_eq!(pushed, chosen, "only the chosen customers were written");
    let product_ids = vars["PRODUCT_MAPPING_IDS"].as_array().unwrap().len();
    let products_input = w.input(&jobs["sync-products"]).await;
    assert_eq!(products_input["mappingIds"].as_array().map(Vec::len), Some(product_ids));
    assert_eq!(products_input["forceSync"], json!(true));
    assert_eq!(w.input(&jobs["retry-failed"]).await, json!({"limit": 100}));
}

#[tokio::test]
async fn ids_the_old_tool_made_itself_are_refused_with_the_id_named() {
    let app = http_support::app(None).await;
    for path in ["/api/sync/bulk-sync-background", "/api/sync/bulk-sync-products"] {
        let a = call("POST", path)
            .json(&json!({"mappingIds": ["12", "clx9k2m3n0000qwe8rty1uiop"]}))
            .send(&app.router)
            .await;
        let error = a.error(StatusCode::BAD_REQUEST);
        assert!(error.contains("`clx9k2m3n0000qwe8rty1uiop`"), "{path}: {error}");
        let none = call("POST", path).json(&json!({"mappingIds": []})).send(&app.router).await;
        none.error(StatusCode::BAD_REQUEST);
    }
    let jobs = app.engine.store().job_counts().await.unwrap();
    assert!(jobs.is_empty(), "nothing was requested: {jobs:?}");
}

#[tokio::test]
async fn the_tracking_page_gets_fifty_jobs_a_page_with_the_last_days_counts_by_type() {
    let app = http_support::app(None).await;
    let r = &app.router;
    // Sixty jobs of one type: the stubs allow one unfinished job per type, so finish each first.
    let worker = app.engine.worker(WorkerConfig::new(WorkerId::new("w")));
    for _ in 0..60 {
        http_support::trigger(r, "/api/sync/retry-failed", None).await;
        while worker.run_once().await.unwrap().is_some() {}
    }
    http_support::trigger(r, "/api/nhanh/pull-products", None).await;
    let first = call("GET", "/api/sync/job-progress?all=true").send(r).await;
    let data = first.data();
    assert_eq!(data["jobs"].as_array().unwrap().len(), 50, "the old page size");
    assert_eq!(data["totalCount"], json!(61));
    assert_eq!(data["runningCount"], json!(1));
    assert_eq!(data["currentPage"], json!(1));
    assert_eq!(data["totalPages"], json!(2));
    assert_eq!(
        data["stats"],
        json!([
            {"type": "PULL_NHANH_PRODUCTS", "_count": {"id": 1}},
            {"type": "RETRY_FAILED_SYNC", "_count": {"id": 60}},
        ])
    );
    let second = call("GET", "/api/sync/job-progress?all=true&page=2").send(r).await;
    assert_eq!(second.data()["jobs"].as_array().unwrap().len(), 11);
    let latest = call("GET", "/api/sync/job-progress?type=RETRY_FAILED_SYNC").send(r).await;
    assert_eq!(latest.data()["hasRunningJob"], json!(false));
    assert_eq!(latest.data()["latestJob"]["status"], json!("COMPLETED"));
}
