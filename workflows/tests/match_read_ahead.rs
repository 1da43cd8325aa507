//! The match job's read ahead (`matching::read_ahead`): a batch read ahead is taken only by the
//! step it was read for — the same cursor, batch size and claim — and any other step reads its
//! own batch; after the last batch it reads the stale mappings the prune deletes. On SQLite and
//! PostgreSQL.

mod match_support;

use dongbo_engine::{JobId, JobStatus};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::matching::MatchKind;
use dongbo_workflows::catalog::store::pulls::{MarkRemoved, PullSource, UpsertNhanhCustomers, UpsertShopifyCustomers};
use dongbo_workflows::jobs::AUTO_MATCH_CUSTOMERS;
use dongbo_workflows::matching::read_ahead::{read_next, Ahead, AheadKey, ReadAhead};
use dongbo_workflows::matching::strategy::next_batch;
use dongbo_workflows::matching::Strategy;
use match_support::{nhanh, shopify, Harness};
use serde_json::json;

const KIND: MatchKind = MatchKind::Customers;

/// Twelve customers a side, paired by number.
async fn paired(h: &Harness) {
    let job = JobId::new();
    let rows = (0..12).map(|i| nhanh(100 + i, &format!("09012345{i:02}"))).collect();
    h.apply(UpsertNhanhCustomers { job, rows, seen_by_full_pull: None }).await;
    let rows = (0..12)
        .map(|i| shopify(&format!("gid://shopify/Customer/{}", 500 + i), &format!("+849012345{i:02}")))
        .collect();
    h.apply(UpsertShopifyCustomers { job, rows, seen_by_full_pull: None }).await;
}

async fn only_the_step_it_was_read_for_takes_a_batch_read_ahead(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    paired(&h).await;
    let db = h.db();
    let job = JobId::new();
    let key = |cursor: &str, strategy, size| AheadKey { job, attempt: 1, cursor: cursor.into(), strategy, size };
    for strategy in [Strategy::Sql, Strategy::Memory, Strategy::Batch] {
        let first = next_batch(&db, KIND, strategy, "", 4).await.unwrap().expect("a first batch");
        let second = next_batch(&db, KIND, strategy, &first.0, 4).await.unwrap().expect("a second batch");
        assert_ne!(first, second, "{strategy:?}: the batches differ, so taking the wrong one shows");

        let batch = |(upto, decision): (String, _)| Ahead::Batch(upto, decision);

        // Read ahead for the first batch, taken by its step.
        let ahead = ReadAhead::default();
        ahead.start(&db, KIND, key("", strategy, 4));
        assert_eq!(ahead.next(&db, KIND, &key("", strategy, 4)).await.unwrap(), batch(first.clone()), "{strategy:?}");

        // Read ahead for the first batch; the step after it reads its own.
        ahead.start(&db, KIND, key("", strategy, 4));
        let next = ahead.next(&db, KIND, &key(&first.0, strategy, 4)).await.unwrap();
        assert_eq!(next, batch(second.clone()), "{strategy:?}: another cursor reads its own batch");

        // Another batch size reads its own batch.
        ahead.start(&db, KIND, key("", strategy, 4));
        let bigger = next_batch(&db, KIND, strategy, "", 8).await.unwrap().expect("a bigger batch");
        assert_ne!(bigger, first, "{strategy:?}: the sizes cut different batches");
        let next = ahead.next(&db, KIND, &key("", strategy, 8)).await.unwrap();
        assert_eq!(next, batch(bigger), "{strategy:?}: another size");

        // Another claim of the job reads again: it sees a pair added after the read ahead.
        ahead.start(&db, KIND, key("", strategy, 4));
        let n = 50 + strategy as u64;
        let job = JobId::new();
        let rows = vec![nhanh(n, &format!("0901234{n:03}"))];
        h.apply(UpsertNhanhCustomers { job, rows, seen_by_full_pull: None }).await;
        let rows = vec![shopify(&format!("gid://shopify/Customer/{n}"), &format!("+84901234{n:03}"))];
        h.apply(UpsertShopifyCustomers { job, rows, seen_by_full_pull: None }).await;
        let mut other_claim = key("", strategy, 4);
        other_claim.attempt = 2;
        let fresh = ahead.next(&db, KIND, &other_claim).await.unwrap();
        let Ahead::Batch(_, ref decision) = fresh else { panic!("{strategy:?}: a batch, not {fresh:?}") };
        assert!(decision.mappings.iter().any(|m| m.nhanh_id == n as i64), "{strategy:?}: {fresh:?}");
        assert_eq!(fresh, read_next(&db, KIND, strategy, "", 4).await.unwrap(), "{strategy:?}");
    }
}

/// Past the last key, the read ahead carries the prune's reading: the Nhanh records whose
/// non-manual mappings are stale. Twelve pairs are matched; then Nhanh 103 and 107 are removed
/// (a removed record keeps no key).
async fn past_the_last_key_the_read_ahead_reads_the_stale_mappings(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    paired(&h).await;
    let first = h.run(AUTO_MATCH_CUSTOMERS, json!({})).await;
    assert_eq!(first.status, JobStatus::Completed, "{:?}", first.error);
    let db = h.db();
    let sweep = JobId::new();
    let rows = (0..12).filter(|i| ![3, 7].contains(i)).map(|i| nhanh(100 + i, &format!("09012345{i:02}"))).collect();
    h.apply(UpsertNhanhCustomers { job: sweep, rows, seen_by_full_pull: Some(sweep) }).await;
    h.apply(MarkRemoved { source: PullSource::NhanhCustomers, job: sweep, at_ms: 5 }).await;
    let job = JobId::new();
    for strategy in [Strategy::Sql, Strategy::Memory, Strategy::Batch] {
        let mut cursor = String::new();
        let ahead = ReadAhead::default();
        let done = loop {
            let key = AheadKey { job, attempt: 1, cursor: cursor.clone(), strategy, size: 4 };
            ahead.start(&db, KIND, key.clone());
            match ahead.next(&db, KIND, &key).await.unwrap() {
                Ahead::Batch(upto, _) => cursor = upto,
                done @ Ahead::Done { .. } => break done,
            }
        };
        assert_eq!(done, Ahead::Done { stale: vec![103, 107] }, "{strategy:?}");
        // Read without the read ahead, past the last key: the same.
        assert_eq!(read_next(&db, KIND, strategy, &cursor, 4).await.unwrap(), done, "{strategy:?}");
    }
    // The job prunes them: their mappings go, the other ten stay.
    let second = h.run(AUTO_MATCH_CUSTOMERS, json!({ "strategy": "batch", "batchSize": 4 })).await;
    assert_eq!(second.status, JobStatus::Completed, "{:?}", second.error);
    assert_eq!(second.metadata["removed"], json!(2), "{:?}", second.metadata);
    let left: Vec<i64> = h.mappings(KIND).await.into_iter().map(|m| m.0).collect();
    assert_eq!(left, (0..12).filter(|i| ![3, 7].contains(i)).map(|i| 100 + i).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_last_key_the_read_ahead_reads_the_stale_mappings_on_sqlite() {
    past_the_last_key_the_read_ahead_reads_the_stale_mappings(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_last_key_the_read_ahead_reads_the_stale_mappings_on_postgres() {
    past_the_last_key_the_read_ahead_reads_the_stale_mappings(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_step_it_was_read_for_takes_a_batch_read_ahead_on_sqlite() {
    only_the_step_it_was_read_for_takes_a_batch_read_ahead(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_step_it_was_read_for_takes_a_batch_read_ahead_on_postgres() {
    only_the_step_it_was_read_for_takes_a_batch_read_ahead(Backend::Postgres).await;
}
