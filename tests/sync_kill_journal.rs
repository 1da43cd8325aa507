//! The syncs across a SIGKILL, counted write by write from the simulator's journal: for every
//! (inventory item, location) and every (customer, metafield), how many times Shopify received
//! it — deduplicated arrivals included, so the simulator's own key deduplication is not what makes
//! this pass — and under which idempotency keys.
//!
//! A worker process is killed while a step's calls are out and before that step commits; a second
//! one finishes the job. Then:
//! - nothing written by a step that had committed before the kill is sent again;
//! - what is sent again is only the interrupted step's writes, each at most once more;
//! - an inventory write sent again carries the key it was first sent with: a redo under a new key
//!   is a double (Shopify would apply it twice);
//! - every mapped item reached Shopify, with Nhanh's numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dongbo_engine::{Db, Engine, JobId, JobRequest, JobStatus, Registry, SharedStore};
use dongbo_simulator::{JournalEntry, Scope, SimConfig, Simulator};
use dongbo_tests::{fresh_db, spawn_worker, wait_for, Backend};
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, set_location_mapping, NhanhCustomerRow, ShopifyProductRow, ShopifyVariantRow,
    UpsertNhanhCustomers, UpsertShopifyProducts,
};
use dongbo_workflows::catalog::store::sync::{set_manual_customer_mapping, set_manual_product_mapping};
use dongbo_workflows::connectors::nhanh::CustomerFilters;
use dongbo_workflows::{jobs, Upstreams};
use serde_json::json;

/// Mirrors what the syncs read (Nhanh totals, Shopify inventory items), maps every true pair
/// by hand and maps the depots onto locations.
async fn prepare_catalog(db: &Db, sim: &Simulator, up: &Upstreams) {
    let nhanh = up.nhanh().unwrap();
    let mut next = None;
    loop {
        let page = nhanh.list_customers(&CustomerFilters::default(), next).await.unwrap();
        let rows = page.items.iter().map(NhanhCustomerRow::from).collect();
        apply_outside_step(db, &UpsertNhanhCustomers { job: JobId::new(), rows, seen_by_full_pull: None })
            .await
            .unwrap();
        match page.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    let shopify = up.shopify().unwrap();
    let mut after: Option<String> = None;
    loop {
        let page = shopify.products_page(100, after.as_deref(), None).await.unwrap();
        let products = page.items.iter().map(ShopifyProductRow::from).collect();
        let mut variants = Vec::new();
        for p in &page.items {
            variants.extend(p.variants.iter().map(|v| ShopifyVariantRow::new(&p.id, v)));
            let mut more = p.more_variants.clone();
            while let Some(cursor) = more {
                let vp = shopify.product_variants_page(&p.id, 100, Some(&cursor)).await.unwrap();
                variants.extend(vp.items.iter().map(|v| ShopifyVariantRow::new(&p.id, v)));
                more = vp.next;
            }
        }
        let upsert = UpsertShopifyProducts { job: JobId::new(), products, variants, seen_by_full_pull: None };
        apply_outside_step(db, &upsert).await.unwrap();
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let truth = sim.truth();
    for (depot, location) in &truth.depot_to_location {
        set_location_mapping(db, *depot, location).await.unwrap();
    }
    for (nhanh, gid) in &truth.product_pairs {
        set_manual_product_mapping(db, *nhanh as i64, gid, 0).await.unwrap();
    }
    for (nhanh, gid) in &truth.customer_pairs {
        set_manual_customer_mapping(db, *nhanh as i64, gid, 0).await.unwrap();
    }
}

/// One write Shopify received: (kind, target, location or metafield).
type Write = (String, String, String);

/// A write received and acted on: applied, or deduplicated by its key (userErrors excluded).
fn arrived(e: &JournalEntry) -> bool {
    e.applied || e.note.as_deref() == Some("deduplicated")
}

fn write_of(e: &JournalEntry) -> Write {
    let place = match e.kind.as_str() {
        "inventorySetQuantities" => e.value["locationId"].as_str().unwrap_or_default().to_owned(),
        _ => format!("{}.{}", e.value["namespace"].as_str().unwrap_or("$app"), e.value["key"].as_str().unwrap_or("")),
    };
    (e.kind.clone(), e.target.clone(), place)
}

/// Where the kill landed: the journal's length when the last step before the kill committed,
/// and whether writes of the next step had arrived by the kill (then they must be redone).
struct Kill {
    committed_len: usize,
    in_flight: bool,
}

/// Runs `job_type` in a worker process and kills it once a step has committed and writes of the
/// next one have reached Shopify; a second process finishes the job.
async fn run_killed_mid_step(
    engine: &Engine,
    store: &SharedStore,
    url: &str,
    sim: &Simulator,
    job_type: &str,
) -> (JobId, Kill) {
    let job = engine.request(JobRequest::new(job_type, json!({}))).await.unwrap().job.id;
    let mut first = spawn_worker(url, &sim.env());
    // (processed, journal length when that count was first seen): the length is read before the
    // count, so a commit in between only makes the boundary earlier, never later.
    let seen = Arc::new(Mutex::new(None::<(i64, usize)>));
    let (processed, committed_len) =
        wait_for("a step committed and the next one writing", Duration::from_secs(120), || {
            let (seen, store) = (seen.clone(), store.clone());
            let len = sim.journal().len();
            async move {
                let p = store.job(job).await.unwrap().unwrap().processed;
                let mut seen = seen.lock().unwrap();
                match *seen {
                    Some((q, at)) if q == p && p > 0 && len > at => Some((p, at)),
                    Some((q, _)) if q == p => None,
                    _ => {
                        *seen = Some((p, len));
                        None
                    }
                }
            }
        })
        .await;
    first.kill().expect("SIGKILL the first worker");
    first.wait().unwrap();
    let at_kill = store.job(job).await.unwrap().unwrap();
    assert!(!at_kill.status.is_finished(), "{job_type} finished before the kill: the test proves nothing");
    // A commit between the last look and the kill moves the boundary: then only the weaker
    // bounds below hold.
    let in_flight = at_kill.processed == processed;

    let mut second = spawn_worker(url, &sim.env());
    let row = wait_for("the second worker to finish the job", Duration::from_secs(300), || async {
        let row = store.job(job).await.unwrap().unwrap();
        row.status.is_finished().then_some(row)
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(row.status, JobStatus::Completed, "{job_type}: {:?}", row.error);
    assert_eq!(row.attempts, 2, "{job_type} resumed once");
    (job, Kill { committed_len: if in_flight { committed_len } else { 0 }, in_flight })
}

/// Per write of `kind` in `journal[from..to]`: the journal index of each arrival and their keys.
fn arrivals(journal: &[JournalEntry], kind: &str) -> BTreeMap<Write, Vec<(usize, Option<String>)>> {
    let mut out = BTreeMap::<Write, Vec<(usize, Option<String>)>>::new();
    for (i, e) in journal.iter().enumerate().filter(|(_, e)| e.kind == kind && arrived(e)) {
        out.entry(write_of(e)).or_default().push((i, e.idempotency_key.clone()));
    }
    out
}

/// The per-write accounting of one sync: returns how many writes were sent again.
fn assert_at_most_the_interrupted_step_redone(
    journal: &[JournalEntry],
    kind: &str,
    kill: &Kill,
    step_writes: usize,
) -> usize {
    let per_write = arrivals(journal, kind);
    assert!(!per_write.is_empty(), "no {kind} in the journal");
    let mut redone = BTreeSet::new();
    for (write, seen) in &per_write {
        assert!(seen.len() <= 2, "{write:?} was sent {} times: {seen:?}", seen.len());
        if seen.len() == 2 {
            redone.insert(write.clone());
            assert!(
                seen[0].0 >= kill.committed_len,
                "{write:?} was written by a step that had committed, and sent again: {seen:?}"
            );
        }
        let keys: BTreeSet<_> = seen.iter().map(|(_, k)| k.clone()).collect();
        if kind == "inventorySetQuantities" {
            assert!(keys.iter().all(Option::is_some), "{write:?} was sent without a key");
            assert_eq!(keys.len(), 1, "{write:?} was sent again under a new key (a double): {seen:?}");
        }
    }
    assert!(
        redone.len() <= step_writes,
        "{} {kind} writes were sent again; one step sends at most {step_writes}",
        redone.len()
    );
    if kill.in_flight {
        assert!(!redone.is_empty(), "the kill interrupted a step with writes out, yet nothing of {kind} was redone");
    }
    redone.len()
}

async fn a_killed_sync_redoes_at_most_its_interrupted_step_under_the_same_keys(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let config = SimConfig { products: 3_000, customers: 3_000, ..SimConfig::default() };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.unwrap();
    let env = sim.env();
    let up = Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    prepare_catalog(&store.db(), &sim, &up).await;
    let mut registry = Registry::new();
    dongbo_workflows::sync::register(&mut registry, &up);
    let engine = Engine::new(store.clone(), registry);
    let settings = dongbo_workflows::sync::SyncSettings::default();
    // Slow replies so that a step's calls are out long enough for the kill to land among them.
    sim.faults().update(Scope::Both, |f| f.latency_ms = 250);

    let (_, kill) = run_killed_mid_step(&engine, &store, &db.url, &sim, jobs::PRODUCT_SYNC).await;
    let journal = sim.journal();
    // One step: `calls_per_step` calls of at most `max_quantities_per_call` quantities.
    assert_at_most_the_interrupted_step_redone(
        &journal,
        "inventorySetQuantities",
        &kill,
        settings.calls_per_step * settings.max_quantities_per_call,
    );
    let products_len = journal.len();

    let (_, kill) = run_killed_mid_step(&engine, &store, &db.url, &sim, jobs::CUSTOMER_SYNC).await;
    sim.faults().clear();
    let journal = sim.journal();
    let kill = Kill { committed_len: kill.committed_len.max(products_len), in_flight: kill.in_flight };
    assert_at_most_the_interrupted_step_redone(
        &journal,
        "metafieldsSet",
        &kill,
        settings.calls_per_step * settings.max_metafields_per_call,
    );

    // Nothing missing: every mapped item reached Shopify with Nhanh's numbers.
    let state = sim.state();
    let inventory = arrivals(&journal, "inventorySetQuantities");
    let expected = state.expected_inventory();
    assert!(!expected.is_empty());
    for level in &expected {
        let write = ("inventorySetQuantities".to_owned(), level.inventory_item_id.clone(), level.location_id.clone());
        assert!(inventory.contains_key(&write), "no write for {} at {}", level.inventory_item_id, level.location_id);
        assert_eq!(state.inventory(&level.inventory_item_id, &level.location_id), Some(level.quantity));
    }
    for (gid, total) in state.expected_total_spent() {
        assert_eq!(state.customer_metafield(&gid, "custom", "total_spent"), Some(total.to_string()), "{gid}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_step_redoes_only_that_step_under_the_same_keys_on_sqlite() {
    a_killed_sync_redoes_at_most_its_interrupted_step_under_the_same_keys(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_step_redoes_only_that_step_under_the_same_keys_on_postgres() {
    a_killed_sync_redoes_at_most_its_interrupted_step_under_the_same_keys(Backend::Postgres).await;
}
