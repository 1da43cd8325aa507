//! The benchmark's baselines for matching: the bare join of the two key tables, and the same
//! join written into a copy of the mapping table and into a table keyed by the Nhanh id alone, and
//! the join decided by the matching rule in SQL — on SQLite and PostgreSQL.

mod match_support;

use dongbo_engine::JobId;
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::matching::{
    bare_key_join, key_join_written, list_mappings, JoinFloor, MatchKind,
};
use dongbo_workflows::catalog::store::pulls::{
    nhanh_customer_keys, shopify_customer_keys, ShopifyCustomerRow, UpsertNhanhCustomers, UpsertShopifyCustomers,
};
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

/// The keyed table's rows `(n, s, k)`.
async fn keyed_rows(db: &dongbo_engine::Db) -> match_support::Mappings {
    let sql = "SELECT n, s, k FROM customer_mappings_join_keyed";
    let rows: Vec<(i64, String, String)> = match db {
        dongbo_engine::Db::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        dongbo_engine::Db::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
    };
    rows.into_iter().collect()
}

async fn the_join_decided_in_sql_writes_exactly_the_rules_mappings(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let job = JobId::new();
    // 1–11: a pair. 2, 3–13: a number shared on the Nhanh side. 4–14, 15: shared on Shopify's.
    // 5 holds two numbers, both Shopify 16's (its phone and address phone): a pair. 6 holds two
    // numbers of two Shopify customers (17, 18): neither. 7–19 pair on one number while 19's
    // other number is 8's: torn. 9 holds two numbers, one of them 20's alone: a pair across keys.
    let nhanh = [
        (1, "0901000001"),
        (2, "0901000002"),
        (3, "0901000002"),
        (4, "0901000004"),
        (5, "0901000005 / 0901000055"),
        (6, "0901000006 / 0901000066"),
        (7, "0901000007"),
        (8, "0901000077"),
        (9, "0901000009 / 0901000099"),
    ];
    let nhanh_rows: Vec<_> = nhanh.iter().map(|(id, mobile)| match_support::nhanh(*id, mobile)).collect();
    let nhanh_keys: Vec<(i64, Vec<String>)> =
        nhanh_rows.iter().map(|r| (r.id as i64, nhanh_customer_keys(r.mobile.as_deref()))).collect();
    h.apply(UpsertNhanhCustomers { job, rows: nhanh_rows, seen_by_full_pull: None }).await;
    let shopify = [
        ("11", "+84901000001", None),
        ("13", "+84901000002", None),
        ("14", "+84901000004", None),
        ("15", "+84901000004", None),
        ("16", "+84901000005", Some("+84901000055")),
        ("17", "+84901000006", None),
        ("18", "+84901000066", None),
        ("19", "+84901000007", Some("+84901000077")),
        ("20", "+84901000099", None),
    ];
    let shopify_rows: Vec<ShopifyCustomerRow> = shopify
        .iter()
        .map(|(id, phone, address)| ShopifyCustomerRow {
            address_phone: address.map(str::to_owned),
            ..match_support::shopify(&format!("gid://shopify/Customer/{id}"), phone)
        })
        .collect();
    let shopify_keys: Vec<(String, Vec<String>)> = shopify_rows
        .iter()
        .map(|r| (r.id.clone(), shopify_customer_keys(r.phone.as_deref(), r.address_phone.as_deref())))
        .collect();
    h.apply(UpsertShopifyCustomers { job, rows: shopify_rows, seen_by_full_pull: None }).await;

    let db = h.store.db();
    let (expected, _) = match_support::reference(&nhanh_keys, &shopify_keys);
    let pairs: Vec<(i64, &str)> = expected.iter().map(|(n, s, _)| (*n, s.rsplit('/').next().unwrap())).collect();
    assert_eq!(pairs, [(1, "11"), (5, "16"), (9, "20")], "the fixture's pairs, by the brute-force rule");
    for _ in 0..2 {
        let (written, _) = key_join_written(&db, MatchKind::Customers, JoinFloor::DecidedWithAudit).await.unwrap();
        assert_eq!(written, 3);
        assert_eq!(keyed_rows(&db).await, expected, "each pair with its smallest shared key");
    }
    assert!(list_mappings(&db, MatchKind::Customers).await.unwrap().is_empty(), "the real mappings are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_decided_in_sql_writes_exactly_the_rules_mappings_on_sqlite() {
    the_join_decided_in_sql_writes_exactly_the_rules_mappings(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_decided_in_sql_writes_exactly_the_rules_mappings_on_postgres() {
    the_join_decided_in_sql_writes_exactly_the_rules_mappings(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_written_join_holds_one_row_per_joined_nhanh_record_on_sqlite() {
    the_written_join_holds_one_row_per_joined_nhanh_record_and_touches_no_mapping(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_written_join_holds_one_row_per_joined_nhanh_record_on_postgres() {
    the_written_join_holds_one_row_per_joined_nhanh_record_and_touches_no_mapping(Backend::Postgres).await;
}
