//! The benchmark's baselines for matching: the bare join of the two key tables, and the same
//! join written into a copy of the mapping table and into a table keyed by the Nhanh id alone —
//! on SQLite and PostgreSQL.

mod match_support;

use dongbo_engine::JobId;
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::matching::{
    bare_key_join, key_join_written, list_mappings, JoinFloor, MatchKind,
};
use dongbo_workflows::catalog::store::pulls::{UpsertNhanhCustomers, UpsertShopifyCustomers};
use match_support::Harness;

async fn the_written_join_holds_one_row_per_joined_nhanh_record_and_touches_no_mapping(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let job = JobId::new();
    // Nhanh 1 and 2 share a number (two join rows, one Nhanh record each); Nhanh 3 holds two
    // numbers that both reach Shopify (two join rows, one record); Nhanh 4 has no partner.
    let nhanh = [(1, "0901000001"), (2, "0901000001"), (3, "0901000003 / 0901000033"), (4, "0901000004")];
    let rows = nhanh.iter().map(|(id, mobile)| match_support::nhanh(*id, mobile)).collect();
    h.apply(UpsertNhanhCustomers { job, rows, seen_by_full_pull: None }).await;
    let shopify = [("11", "+84901000001"), ("13", "+84901000003"), ("33", "+84901000033")];
    let rows = shopify
        .iter()
        .map(|(id, phone)| match_support::shopify(&format!("gid://shopify/Customer/{id}"), phone))
        .collect();
    h.apply(UpsertShopifyCustomers { job, rows, seen_by_full_pull: None }).await;

    let db = h.store.db();
    assert_eq!(bare_key_join(&db, MatchKind::Customers).await.unwrap(), 4);
    // Twice: the copy is emptied before each run, so both write the same rows.
    for floor in [JoinFloor::MappingCopy, JoinFloor::KeyedOnly] {
        for _ in 0..2 {
            let (written, _) = key_join_written(&db, MatchKind::Customers, floor).await.unwrap();
            assert_eq!(written, 3, "{floor:?}: Nhanh 1, 2 and 3, once each");
        }
    }
    assert!(list_mappings(&db, MatchKind::Customers).await.unwrap().is_empty(), "the real mappings are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_written_join_holds_one_row_per_joined_nhanh_record_on_sqlite() {
    the_written_join_holds_one_row_per_joined_nhanh_record_and_touches_no_mapping(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_written_join_holds_one_row_per_joined_nhanh_record_on_postgres() {
    the_written_join_holds_one_row_per_joined_nhanh_record_and_touches_no_mapping(Backend::Postgres).await;
}
