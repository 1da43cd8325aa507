//! The facts matching reads from each key row — the record's key count and the key's rank among
//! its keys — as the pulls write them and as migration 0009 fills them into an older catalog,
//! on SQLite and PostgreSQL.

mod match_support;

use dongbo_engine::{Db, JobId};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::pulls::{MarkRemoved, PullSource, UpsertNhanhCustomers, UpsertShopifyCustomers};
use match_support::Harness;

/// `(record, key, key_count, key_rank)` of every row of a customer key table.
type Facts = Vec<(String, String, i64, i64)>;

async fn facts(db: &Db, table: &str) -> Facts {
    let sql = format!(
        "SELECT CAST(customer_id AS TEXT), phone_key, CAST(key_count AS BIGINT), CAST(key_rank AS BIGINT)
           FROM {table} ORDER BY customer_id, phone_key"
    );
    match db {
        Db::Sqlite(pool) => sqlx::query_as(&sql).fetch_all(pool).await.unwrap(),
        Db::Postgres(pool) => sqlx::query_as(&sql).fetch_all(pool).await.unwrap(),
    }
}

async fn execute(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn row(id: &str, key: &str, count: i64, rank: i64) -> (String, String, i64, i64) {
    (id.into(), key.into(), count, rank)
}

/// The statements of migration 0009 that change rows (not the `ALTER`s, already applied).
fn migration_0009(backend: Backend) -> Vec<String> {
    let text = match backend {
        Backend::Sqlite => include_str!("../../migrations/catalog/sqlite/0009_match_key_facts.sql"),
        Backend::Postgres => include_str!("../../migrations/catalog/postgres/0009_match_key_facts.sql"),
    };
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    code.split(';').map(str::trim).filter(|s| !s.is_empty() && !s.starts_with("ALTER")).map(String::from).collect()
}

async fn key_rows_carry_their_records_facts(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let job = JobId::new();
    // Nhanh 1 holds three numbers (listed out of order, one twice), Nhanh 2 one.
    let rows = vec![
        match_support::nhanh(1, "0903000003 / 0901000001, 0902000002 / 0901000001"),
        match_support::nhanh(2, "0904000004"),
    ];
    h.apply(UpsertNhanhCustomers { job, rows, seen_by_full_pull: None }).await;
    let mut two = match_support::shopify("gid://shopify/Customer/9", "+84905000005");
    two.address_phone = Some("0904 000 004".into());
    h.apply(UpsertShopifyCustomers { job, rows: vec![two], seen_by_full_pull: None }).await;
    let db = h.db();
    let pulled = facts(&db, "nhanh_customer_keys").await;
    assert_eq!(
        pulled,
        vec![
            row("1", "+84901000001", 3, 0),
            row("1", "+84902000002", 3, 1),
            row("1", "+84903000003", 3, 2),
            row("2", "+84904000004", 1, 0),
        ]
    );
    let shopify = facts(&db, "shopify_customer_keys").await;
    assert_eq!(
        shopify,
        vec![
            row("gid://shopify/Customer/9", "+84904000004", 2, 0),
            row("gid://shopify/Customer/9", "+84905000005", 2, 1)
        ]
    );

    // A later pull that sees Nhanh 1 with one number rewrites its facts with its keys.
    let rows = vec![match_support::nhanh(1, "0902000002")];
    h.apply(UpsertNhanhCustomers { job, rows, seen_by_full_pull: None }).await;
    assert_eq!(
        facts(&db, "nhanh_customer_keys").await,
        vec![row("1", "+84902000002", 1, 0), row("2", "+84904000004", 1, 0)]
    );

    // An older catalog: facts at the columns' defaults and a removed record that kept its keys.
    let rows =
        vec![match_support::nhanh(1, "0903000003 / 0901000001 / 0902000002"), match_support::nhanh(3, "0906000006")];
    let full = JobId::new();
    h.apply(UpsertNhanhCustomers { job: full, rows, seen_by_full_pull: Some(full) }).await;
    h.apply(MarkRemoved { source: PullSource::NhanhCustomers, job: full, at_ms: 5 }).await;
    let live = facts(&db, "nhanh_customer_keys").await;
    assert_eq!(live.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["1", "1", "1", "3"], "Nhanh 2 was removed");
    execute(&db, "UPDATE nhanh_customer_keys SET key_count = 1, key_rank = 0").await;
    execute(&db, "UPDATE shopify_customer_keys SET key_count = 1, key_rank = 0").await;
    execute(&db, "INSERT INTO nhanh_customer_keys (customer_id, phone_key) VALUES (2, '+84904000004')").await;
    for statement in migration_0009(backend) {
        execute(&db, &statement).await;
    }
    assert_eq!(facts(&db, "nhanh_customer_keys").await, live, "the migration fills what the pulls write");
    assert_eq!(facts(&db, "shopify_customer_keys").await, shopify);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rows_carry_their_records_facts_on_sqlite() {
    key_rows_carry_their_records_facts(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rows_carry_their_records_facts_on_postgres() {
    key_rows_carry_their_records_facts(Backend::Postgres).await;
}
