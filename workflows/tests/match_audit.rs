//! The audit trail of matching: which match jobs touched a Nhanh customer and what they did
//! to it (mapped, unmapped), through the engine's entity index — on SQLite and PostgreSQL.

mod match_support;

use dongbo_engine::{Db, JobId, JobStatus};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::matching::{list_mappings, MappingWrite, MatchKind, MatchWrites};
use dongbo_workflows::catalog::store::pulls::{MarkRemoved, PullSource, UpsertNhanhCustomers, UpsertShopifyCustomers};
use dongbo_workflows::catalog::store::sync::set_manual_customer_mapping;
use dongbo_workflows::jobs::AUTO_MATCH_CUSTOMERS;
use dongbo_workflows::matching::decide::BatchDecision;
use dongbo_workflows::matching::strategy::next_batch;
use dongbo_workflows::matching::Strategy;
use match_support::{nhanh, shopify, try_apply, Harness};
use serde_json::json;

/// `(job, action)` of every audit entry of `entity`, oldest first.
async fn touches(h: &Harness, entity: &str) -> Vec<(JobId, String)> {
    h.store.entity_events(entity, 100).await.unwrap().into_iter().map(|t| (t.event.job_id, t.action)).collect()
}

async fn each_match_job_that_touched_a_customer_is_in_its_audit_trail(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let pull = JobId::new();
    let rows = vec![nhanh(1, "0901234501"), nhanh(2, "0901234502")];
    h.apply(UpsertNhanhCustomers { job: pull, rows, seen_by_full_pull: None }).await;
    let rows = vec![
        shopify("gid://shopify/Customer/11", "+84901234501"),
        shopify("gid://shopify/Customer/12", "+84901234502"),
    ];
    h.apply(UpsertShopifyCustomers { job: pull, rows, seen_by_full_pull: Some(pull) }).await;

    let first = h.run(AUTO_MATCH_CUSTOMERS, json!({ "strategy": "sql" })).await;
    assert_eq!(first.status, JobStatus::Completed, "{:?}", first.error);
    for entity in ["nhanh_customer:1", "nhanh_customer:2"] {
        assert_eq!(touches(&h, entity).await, vec![(first.id, "mapped:created".to_string())], "{entity}");
    }

    // A second run confirms both mappings: nothing changed, nothing recorded.
    let again = h.run(AUTO_MATCH_CUSTOMERS, json!({ "strategy": "memory" })).await;
    assert_eq!(again.status, JobStatus::Completed, "{:?}", again.error);
    assert_eq!(touches(&h, "nhanh_customer:1").await.len(), 1);

    // Customer 12 disappears from Shopify (a full pull that saw only customer 11): the next
    // run unmaps Nhanh customer 2, and its trail says which job did.
    let sweep = JobId::new();
    let rows = vec![shopify("gid://shopify/Customer/11", "+84901234501")];
    h.apply(UpsertShopifyCustomers { job: sweep, rows, seen_by_full_pull: Some(sweep) }).await;
    h.apply(MarkRemoved { source: PullSource::ShopifyCustomers, job: sweep, at_ms: 5 }).await;
    let third = h.run(AUTO_MATCH_CUSTOMERS, json!({ "strategy": "batch" })).await;
    assert_eq!(third.status, JobStatus::Completed, "{:?}", third.error);
    assert_eq!(
        touches(&h, "nhanh_customer:2").await,
        vec![(first.id, "mapped:created".to_string()), (third.id, "unmapped".to_string())]
    );
    assert_eq!(touches(&h, "nhanh_customer:1").await.len(), 1, "an unchanged mapping is not recorded again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_match_job_that_touched_a_customer_is_in_its_audit_trail_on_sqlite() {
    each_match_job_that_touched_a_customer_is_in_its_audit_trail(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_match_job_that_touched_a_customer_is_in_its_audit_trail_on_postgres() {
    each_match_job_that_touched_a_customer_is_in_its_audit_trail(Backend::Postgres).await;
}

/// The sync failures recorded against each customer mapping, by Nhanh id.
async fn failures(h: &Harness) -> Vec<i64> {
    let sql = "SELECT m.nhanh_customer_id FROM sync_failures f JOIN customer_mappings m ON m.id = f.mapping_id
               WHERE f.kind = 'customer' ORDER BY 1";
    let orphans = "SELECT COUNT(*) FROM sync_failures f
                   WHERE NOT EXISTS (SELECT 1 FROM customer_mappings m WHERE m.id = f.mapping_id)";
    let (held, orphans): (Vec<i64>, i64) = match h.db() {
        Db::Sqlite(pool) => (
            sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap(),
            sqlx::query_scalar(orphans).fetch_one(&pool).await.unwrap(),
        ),
        Db::Postgres(pool) => (
            sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap(),
            sqlx::query_scalar(orphans).fetch_one(&pool).await.unwrap(),
        ),
    };
    assert_eq!(orphans, 0, "a sync failure outlived its mapping");
    held
}

async fn a_mapping_matching_deletes_or_repoints_takes_its_sync_failures_with_it(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let pull = JobId::new();
    let rows = vec![nhanh(1, "0901234501"), nhanh(2, "0901234502"), nhanh(3, "0901234503"), nhanh(4, "0901234504")];
    h.apply(UpsertNhanhCustomers { job: pull, rows, seen_by_full_pull: Some(pull) }).await;
    let all =
        ["01", "02", "03", "04"].map(|n| shopify(&format!("gid://shopify/Customer/1{n}"), &format!("+849012345{n}")));
    h.apply(UpsertShopifyCustomers { job: pull, rows: all.to_vec(), seen_by_full_pull: Some(pull) }).await;
    let first = h.run(AUTO_MATCH_CUSTOMERS, json!({})).await;
    assert_eq!(first.status, JobStatus::Completed, "{:?}", first.error);

    // A sync failed on every mapping.
    let record = "INSERT INTO sync_failures (kind, mapping_id, reason, job_id, failed_at)
                  SELECT 'customer', id, 'HTTP 500', {job}, 1 FROM customer_mappings";
    match h.db() {
        Db::Sqlite(pool) => {
            let sql = record.replace("{job}", &format!("'{}'", JobId::new()));
            sqlx::query(&sql).execute(&pool).await.unwrap();
        }
        Db::Postgres(pool) => {
            let sql = record.replace("{job}", &format!("'{}'::uuid", JobId::new()));
            sqlx::query(&sql).execute(&pool).await.unwrap();
        }
    }
    assert_eq!(failures(&h).await, vec![1, 2, 3, 4]);

    // Shopify customer 102 is gone (a batch unmaps Nhanh 2) and Nhanh customer 3 is gone (the
    // prune step deletes its mapping); Shopify 104 changed its number and a new customer 105
    // holds Nhanh 4's (a batch repoints Nhanh 4's mapping, whose failure was about 104): their
    // failures go, customer 1's stays.
    let sweep = JobId::new();
    let rows = vec![nhanh(1, "0901234501"), nhanh(2, "0901234502"), nhanh(4, "0901234504")];
    h.apply(UpsertNhanhCustomers { job: sweep, rows, seen_by_full_pull: Some(sweep) }).await;
    h.apply(MarkRemoved { source: PullSource::NhanhCustomers, job: sweep, at_ms: 5 }).await;
    let moved = shopify("gid://shopify/Customer/104", "+84901234599");
    let new = shopify("gid://shopify/Customer/105", "+84901234504");
    let rows = vec![all[0].clone(), all[2].clone(), moved, new];
    h.apply(UpsertShopifyCustomers { job: sweep, rows, seen_by_full_pull: Some(sweep) }).await;
    h.apply(MarkRemoved { source: PullSource::ShopifyCustomers, job: sweep, at_ms: 5 }).await;
    let second = h.run(AUTO_MATCH_CUSTOMERS, json!({ "strategy": "sql" })).await;
    assert_eq!(second.status, JobStatus::Completed, "{:?}", second.error);
    assert_eq!(
        (&second.metadata["removed"], &second.metadata["changed"]),
        (&json!(2), &json!(1)),
        "{:?}",
        second.metadata
    );
    let four = h.mappings(MatchKind::Customers).await.into_iter().find(|m| m.0 == 4).map(|m| m.1);
    assert_eq!(four.as_deref(), Some("gid://shopify/Customer/105"));
    assert_eq!(failures(&h).await, vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_matching_deletes_or_repoints_takes_its_sync_failures_with_it_on_sqlite() {
    a_mapping_matching_deletes_or_repoints_takes_its_sync_failures_with_it(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_matching_deletes_or_repoints_takes_its_sync_failures_with_it_on_postgres() {
    a_mapping_matching_deletes_or_repoints_takes_its_sync_failures_with_it(Backend::Postgres).await;
}

/// A match batch inserts the mappings of records it read no mapping of (`MatchWrites::inserts`).
/// A mapping made by hand between the batch's read and its commit makes that insert fail on the
/// Nhanh id's unique key — the whole batch is written or none of it — and leaves the mapping made
/// by hand as it is; the step's next run reads afresh, finds the record no longer eligible, and
/// writes the rest.
async fn a_mapping_made_by_hand_while_a_batch_was_read_fails_its_insert_and_stays(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let pull = JobId::new();
    let rows = (1..=3).map(|i| nhanh(i, &format!("09012345{i:02}"))).collect();
    h.apply(UpsertNhanhCustomers { job: pull, rows, seen_by_full_pull: None }).await;
    let rows =
        (1..=3).map(|i| shopify(&format!("gid://shopify/Customer/1{i}"), &format!("+849012345{i:02}"))).collect();
    h.apply(UpsertShopifyCustomers { job: pull, rows, seen_by_full_pull: None }).await;
    let db = h.db();
    // A batch's writes as the match step routes them: a mapping of a record read without one is
    // an insert.
    let writes = |d: &BatchDecision| MatchWrites {
        kind: MatchKind::Customers,
        job: JobId::new(),
        now_ms: 7,
        inserts: d
            .mappings
            .iter()
            .filter(|m| d.considered.iter().any(|c| c.nhanh_id == m.nhanh_id && c.existing.is_none()))
            .map(|m| MappingWrite {
                nhanh_id: m.nhanh_id,
                shopify_id: m.shopify_id.clone(),
                method: "phone".into(),
                key: m.key.clone(),
            })
            .collect(),
        upserts: Vec::new(),
        deletes: Vec::new(),
        conflicts: d.conflicts.clone(),
    };

    let (_, read) = next_batch(&db, MatchKind::Customers, Strategy::Sql, "", 10).await.unwrap().expect("a batch");
    assert_eq!(writes(&read).inserts.len(), 3, "three new mappings: {read:?}");
    set_manual_customer_mapping(&db, 2, "gid://shopify/Customer/99", 5).await.unwrap();
    let by_hand = || async {
        list_mappings(&h.db(), MatchKind::Customers)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.nhanh_id, m.shopify_id.unwrap_or_default(), m.method))
            .collect::<Vec<_>>()
    };
    let failed = try_apply(&db, writes(&read)).await;
    assert!(failed.is_err(), "the batch's insert of Nhanh 2 meets the mapping made by hand");
    assert_eq!(by_hand().await, vec![(2, "gid://shopify/Customer/99".into(), "manual".into())], "nothing else written");

    let (_, again) = next_batch(&db, MatchKind::Customers, Strategy::Sql, "", 10).await.unwrap().expect("a batch");
    assert!(!again.considered.iter().any(|c| c.nhanh_id == 2), "Nhanh 2 is no longer eligible: {again:?}");
    try_apply(&db, writes(&again)).await.expect("the fresh batch commits");
    assert_eq!(
        by_hand().await,
        vec![
            (1, "gid://shopify/Customer/11".into(), "phone".into()),
            (2, "gid://shopify/Customer/99".into(), "manual".into()),
            (3, "gid://shopify/Customer/13".into(), "phone".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_made_by_hand_while_a_batch_was_read_fails_its_insert_and_stays_on_sqlite() {
    a_mapping_made_by_hand_while_a_batch_was_read_fails_its_insert_and_stays(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_made_by_hand_while_a_batch_was_read_fails_its_insert_and_stays_on_postgres() {
    a_mapping_made_by_hand_while_a_batch_was_read_fails_its_insert_and_stays(Backend::Postgres).await;
}
