//! The syncs across a SIGKILL, counted write by write from the simulator's journal: for every
//! (inventory item, location) and every (customer, metafield), how many times Shopify received
//! it — deduplicated arrivals included, so the simulator's own key deduplication is not what makes
//! this pass — and under which idempotency keys.
//!
//! A worker process is killed while a step's calls are out and before that step commits; a second
//! one finishes the job. Then:
//! - nothing written by a step that had committed before the kill is sent again;
//! - what is sent again is at most one call's items, each at most once more: the step the kill
//!   cut off had its calls out, and when it runs again it reads their items back from Shopify and
//!   sends only what Shopify does not show yet (`ReadBack` in the sync workflows);
//! - an inventory write sent again carries the key it was first sent with: a redo under a new key
//!   is a double (Shopify would apply it twice);
//! - every mapped item reached Shopify, with Nhanh's numbers.

mod sync_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dongbo_engine::{JobId, JobRequest};
use dongbo_simulator::JournalEntry;
use dongbo_tests::{spawn_worker, wait_for, Backend};
use dongbo_workflows::jobs;
use dongbo_workflows::sync::SyncSettings;
use serde_json::json;
use sync_support::SyncFixture;

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
/// its length right after the kill, and whether writes of the next step had arrived by the kill.
struct Kill {
    committed_len: usize,
    killed_len: usize,
    in_flight: bool,
}

/// Runs `job_type` in a worker process and kills it once a step has committed and writes of the
/// next one have reached Shopify; a second process finishes the job.
async fn run_killed_mid_step(f: &SyncFixture, job_type: &str) -> (JobId, Kill) {
    let (store, sim) = (&f.store, &f.sim);
    let job = f.engine.request(JobRequest::new(job_type, json!({}))).await.unwrap().job.id;
    let mut first = spawn_worker(&f.db.url, &sim.env());
    // (processed, journal length when that count was first seen): the length is read before the
    // count, so a commit in between only makes the boundary earlier, never later.
    let seen = Arc::new(Mutex::new(None::<(i64, usize)>));
    let (processed, committed_len) =
        wait_for("a step committed and the next one writing", Duration::from_secs(120), || {
            let (seen, store) = (seen.clone(), store.clone());
            let len = sim.journal_len();
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
    let killed_len = sim.journal_len();
    let at_kill = store.job(job).await.unwrap().unwrap();
    assert!(!at_kill.status.is_finished(), "{job_type} finished before the kill: the test proves nothing");
    // A commit between the last look and the kill moves the boundary: then only the weaker
    // bounds below hold.
    let in_flight = at_kill.processed == processed;

    f.finish_in_a_second_worker(job, job_type).await;
    (job, Kill { committed_len: if in_flight { committed_len } else { 0 }, killed_len, in_flight })
}

/// Per write of `kind` in `journal[from..to]`: the journal index of each arrival and their keys.
fn arrivals(journal: &[JournalEntry], kind: &str) -> BTreeMap<Write, Vec<(usize, Option<String>)>> {
    let mut out = BTreeMap::<Write, Vec<(usize, Option<String>)>>::new();
    for (i, e) in journal.iter().enumerate().filter(|(_, e)| e.kind == kind && arrived(e)) {
        out.entry(write_of(e)).or_default().push((i, e.idempotency_key.clone()));
    }
    out
}

/// How many calls the writes at these journal indexes came in: an inventory call's writes share
/// its idempotency key; one call's metafields are journalled together (one reply), so they are
/// told apart by the simulator's time of receipt.
fn calls_of(journal: &[JournalEntry], indexes: impl Iterator<Item = usize>) -> usize {
    let calls: BTreeSet<(Option<String>, i64)> = indexes
        .map(|i| &journal[i])
        .map(|e| if e.idempotency_key.is_some() { (e.idempotency_key.clone(), 0) } else { (None, e.at) })
        .collect();
    calls.len()
}

/// The per-write accounting of one sync: returns how many writes were sent again.
fn assert_at_most_one_call_redone(journal: &[JournalEntry], kind: &str, kill: &Kill, call_items: usize) -> usize {
    let per_write = arrivals(journal, kind);
    assert!(!per_write.is_empty(), "no {kind} in the journal");
    let mut redone = BTreeMap::new();
    for (write, seen) in &per_write {
        assert!(seen.len() <= 2, "{write:?} was sent {} times: {seen:?}", seen.len());
        if seen.len() == 2 {
            redone.insert(write.clone(), seen[0].0);
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
        redone.len() <= call_items,
        "{} {kind} writes (first sent in {} calls) were sent again; at most one call's items ({call_items}) may be",
        redone.len(),
        calls_of(journal, redone.values().copied()),
    );
    if kill.in_flight {
        // Else the test proves nothing: the kill must have cut off a step whose writes had
        // begun to arrive, which the next worker's first step runs again.
        let out = (kill.committed_len..kill.killed_len.min(journal.len()))
            .filter(|&i| journal[i].kind == kind && arrived(&journal[i]))
            .count();
        assert!(out > 0, "the kill interrupted a step, yet none of its {kind} writes had arrived");
    }
    redone.len()
}

async fn a_killed_sync_redoes_at_most_one_call_under_the_same_keys(backend: Backend) {
    let Some(f) = SyncFixture::start(backend).await else { return };
    let settings = SyncSettings::default();

    let (_, kill) = run_killed_mid_step(&f, jobs::PRODUCT_SYNC).await;
    let journal = f.sim.journal();
    // One step keeps `calls_per_step` calls in flight; without reading back, a kill redid every
    // one that had arrived (10 calls, 2,490 writes, in a run of 2026-12-06).
    assert_at_most_one_call_redone(&journal, "inventorySetQuantities", &kill, settings.max_quantities_per_call);
    let products_len = journal.len();

    let (_, kill) = run_killed_mid_step(&f, jobs::CUSTOMER_SYNC).await;
    f.sim.faults().clear();
    let journal = f.sim.journal();
    let kill = Kill { committed_len: kill.committed_len.max(products_len), ..kill };
    assert_at_most_one_call_redone(&journal, "metafieldsSet", &kill, settings.max_metafields_per_call);

    // Nothing missing: every mapped item reached Shopify with Nhanh's numbers (a write the
    // resumed step did not send again is the cut-off run's, in the journal before the kill).
    let state = f.sim.state();
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
    f.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_step_redoes_at_most_one_call_under_the_same_keys_on_sqlite() {
    a_killed_sync_redoes_at_most_one_call_under_the_same_keys(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_step_redoes_at_most_one_call_under_the_same_keys_on_postgres() {
    a_killed_sync_redoes_at_most_one_call_under_the_same_keys(Backend::Postgres).await;
}
