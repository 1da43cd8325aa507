//! The match job's read ahead (`matching::read_ahead`): a batch read ahead is taken only by the
//! step it was read for — the same cursor, batch size and claim — and any other step reads its
//! own batch, on SQLite and PostgreSQL.

mod match_support;

use dongbo_engine::JobId;
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::matching::MatchKind;
use dongbo_workflows::catalog::store::pulls::{UpsertNhanhCustomers, UpsertShopifyCustomers};
use dongbo_workflows::matching::read_ahead::{AheadKey, ReadAhead};
use dongbo_workflows::matching::strategy::next_batch;
use dongbo_workflows::matching::Strategy;
use match_support::{nhanh, shopify, Harness};

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

        // Read ahead for the first batch, taken by its step.
        let ahead = ReadAhead::default();
        ahead.start(&db, KIND, key("", strategy, 4));
        assert_eq!(ahead.next(&db, KIND, &key("", strategy, 4)).await.unwrap(), Some(first.clone()), "{strategy:?}");

        // Read ahead for the first batch; the step after it reads its own.
        ahead.start(&db, KIND, key("", strategy, 4));
        let next = ahead.next(&db, KIND, &key(&first.0, strategy, 4)).await.unwrap();
        assert_eq!(next, Some(second.clone()), "{strategy:?}: another cursor reads its own batch");

        // Another batch size reads its own batch.
        ahead.start(&db, KIND, key("", strategy, 4));
        let bigger = next_batch(&db, KIND, strategy, "", 8).await.unwrap();
        assert_ne!(bigger.as_ref(), Some(&first), "{strategy:?}: the sizes cut different batches");
        assert_eq!(ahead.next(&db, KIND, &key("", strategy, 8)).await.unwrap(), bigger, "{strategy:?}: another size");

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
        let fresh = ahead.next(&db, KIND, &other_claim).await.unwrap().expect("a batch");
        assert!(fresh.1.mappings.iter().any(|m| m.nhanh_id == n as i64), "{strategy:?}: {fresh:?}");
        assert_eq!(Some(fresh), next_batch(&db, KIND, strategy, "", 4).await.unwrap(), "{strategy:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_step_it_was_read_for_takes_a_batch_read_ahead_on_sqlite() {
    only_the_step_it_was_read_for_takes_a_batch_read_ahead(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_step_it_was_read_for_takes_a_batch_read_ahead_on_postgres() {
    only_the_step_it_was_read_for_takes_a_batch_read_ahead(Backend::Postgres).await;
}
