//! The migrations as two sets, the engine's and the catalog's, sharing `_sqlx_migrations`: a
//! database made by the single migrator of the release before the split migrates without
//! anything running again or any data lost, and ends with the schema of a fresh database; the
//! engine alone creates none of the catalog's tables; a database holding a migration this binary
//! does not know is refused.

use std::path::Path;
use std::str::FromStr;

use dongbo_engine::{Db, JobId};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, list_nhanh_customer_keys, list_nhanh_customers, watermark, NhanhCustomerRow, PullSource,
    SetWatermark, UpsertNhanhCustomers,
};
use sqlx::migrate::Migrator;

/// `_sqlx_migrations` as recorded: version, checksum, when, success.
type Bookkeeping = Vec<(i64, Vec<u8>, String, bool)>;

/// The migrator of the release before the split: every migration of the backend from one folder
/// (the same files, now in `engine/` and `catalog/`), resolved and checked as one set.
async fn single_folder_migrator(backend: Backend) -> (tempfile::TempDir, Migrator) {
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let dir = tempfile::tempdir().unwrap();
    for set in ["engine", "catalog"] {
        for file in std::fs::read_dir(root.join(set).join(name)).unwrap() {
            let file = file.unwrap().path();
            let version: i64 = file.file_name().unwrap().to_str().unwrap()[..4].parse().unwrap();
            if version <= 11 {
                std::fs::copy(&file, dir.path().join(file.file_name().unwrap())).unwrap();
            }
        }
    }
    let migrator = Migrator::new(dir.path()).await.unwrap();
    (dir, migrator)
}

async fn pool(url: &str, backend: Backend) -> Db {
    match backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).unwrap().create_if_missing(true);
            Db::Sqlite(sqlx::SqlitePool::connect_with(opts).await.unwrap())
        }
        Backend::Postgres => Db::Postgres(sqlx::PgPool::connect(url).await.unwrap()),
    }
}

async fn bookkeeping(db: &Db) -> Bookkeeping {
    const SQL: &str =
        "SELECT version, checksum, CAST(installed_on AS TEXT), success FROM _sqlx_migrations ORDER BY version";
    match db {
        Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
    }
}

/// Every table, column, index and trigger, one line each, sorted (`_sqlx_migrations` left out).
async fn schema(db: &Db) -> Vec<String> {
    match db {
        Db::Sqlite(pool) => sqlx::query_scalar(
            "SELECT type || ' ' || name || ' ON ' || tbl_name || ': ' || COALESCE(sql, '') FROM sqlite_master
              WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> '_sqlx_migrations' ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(
            "SELECT line FROM (
               SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
                      || ' ' || COALESCE(column_default, '') AS line, table_name AS t
                 FROM information_schema.columns WHERE table_schema = current_schema()
               UNION ALL
               SELECT 'index ' || indexdef, tablename FROM pg_indexes WHERE schemaname = current_schema()
               UNION ALL
               SELECT 'trigger ' || trigger_name || ' ' || event_manipulation || ' ON ' || event_object_table
                      || ': ' || action_statement, event_object_table
                 FROM information_schema.triggers WHERE trigger_schema = current_schema()
             ) s WHERE t <> '_sqlx_migrations' ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}

async fn execute(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn table_names(db: &Db) -> Vec<String> {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(pool)
                .await
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
                  WHERE table_schema = current_schema() ORDER BY 1",
            )
            .fetch_all(pool)
            .await
        }
    }
    .unwrap()
}

fn customer(id: u64, mobile: &str) -> NhanhCustomerRow {
    NhanhCustomerRow {
        id,
        name: Some(format!("Khách {id}")),
        mobile: Some(mobile.into()),
        total_amount: Some(1_000 * id as i64),
        updated_at: Some(1_700_000_000),
    }
}

async fn a_database_made_before_the_split_migrates_without_running_anything_again(backend: Backend) {
    let Some(old) = dongbo_tests::fresh_db(backend).await else { return };
    let (_files, single) = single_folder_migrator(backend).await;
    let raw = pool(&old.url, backend).await;
    match &raw {
        Db::Sqlite(pool) => single.run(pool).await.unwrap(),
        Db::Postgres(pool) => single.run(pool).await.unwrap(),
    }
    let recorded = bookkeeping(&raw).await;
    let versions: Vec<i64> = recorded.iter().map(|r| r.0).collect();
    let expect: &[i64] = match backend {
        Backend::Sqlite => &[1, 2, 4, 6, 7, 9, 10, 11],
        Backend::Postgres => &[1, 2, 4, 6, 7, 8, 9, 10, 11],
    };
    assert_eq!(versions, expect, "the release's migrator recorded 0001-0011");

    // The release's data, written on its schema without migrating it: customers, keys and a
    // watermark in the catalog's tables by the catalog's own effects, a ledger row in the
    // engine's (a job cannot be requested through this engine: its queue needs later engine
    // migrations than the release had).
    let store = dongbo_engine::connect(&old.url).await.unwrap();
    let db = store.db();
    let job = JobId::new();
    let rows = vec![customer(1, "0912 345 678 / 0987654321"), customer(2, "0903000003")];
    apply_outside_step(&db, &UpsertNhanhCustomers { job, rows: rows.clone(), seen_by_full_pull: None }).await.unwrap();
    let mark = SetWatermark { source: PullSource::NhanhCustomers, watermark: 1_700_000_123, job };
    apply_outside_step(&db, &mark).await.unwrap();
    let keys = list_nhanh_customer_keys(&db).await.unwrap();
    execute(&raw, "INSERT INTO example_ledger (job_id, item) VALUES ('0193e000-0000-7000-8000-000000000007', 7)").await;
    drop((store, db));

    let store = dongbo_workflows::open(&old.url).await.unwrap();
    let db = store.db();
    let upgraded = bookkeeping(&raw).await;
    assert_eq!(upgraded[..recorded.len()], recorded[..], "no migration ran again and no row was rewritten");
    assert!(upgraded[recorded.len()..].iter().all(|r| r.0 > 11), "only later migrations were added");
    assert_eq!(list_nhanh_customers(&db).await.unwrap(), rows);
    assert_eq!(list_nhanh_customer_keys(&db).await.unwrap(), keys);
    assert_eq!(watermark(&db, PullSource::NhanhCustomers).await.unwrap(), Some(1_700_000_123));
    let ledger: i64 = match &raw {
        Db::Sqlite(pool) => sqlx::query_scalar("SELECT item FROM example_ledger").fetch_one(pool).await.unwrap(),
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT CAST(item AS BIGINT) FROM example_ledger").fetch_one(pool).await.unwrap()
        }
    };
    assert_eq!(ledger, 7);

    // Opened again, it is left as it is.
    drop(dongbo_workflows::open(&old.url).await.unwrap());
    assert_eq!(bookkeeping(&raw).await, upgraded);
    let versions: Vec<i64> = upgraded.iter().map(|r| r.0).collect();

    let Some(fresh) = dongbo_tests::fresh_db(backend).await else { return };
    let fresh_db = dongbo_workflows::open(&fresh.url).await.unwrap().db();
    let fresh_schema = schema(&fresh_db).await;
    assert!(fresh_schema.len() > 20, "{fresh_schema:?}");
    assert_eq!(schema(&db).await, fresh_schema, "the upgraded schema is a fresh one");
    let fresh_versions: Vec<i64> = bookkeeping(&fresh_db).await.iter().map(|r| r.0).collect();
    assert_eq!(fresh_versions, versions);
}

async fn the_engine_alone_creates_none_of_the_catalogs_tables(backend: Backend) {
    let Some(t) = dongbo_tests::fresh_db(backend).await else { return };
    let db = dongbo_engine::open(&t.url).await.unwrap().db();
    let engine_only = table_names(&db).await;
    assert!(engine_only.contains(&"events".to_string()), "{engine_only:?}");
    assert!(engine_only.contains(&"job_queue".to_string()), "{engine_only:?}");
    let catalog = ["nhanh_", "shopify_", "_mappings", "match_", "sync_", "pull_", "location", "shared_limit"];
    let named = |t: &String| catalog.iter().any(|c| t.contains(c));
    assert_eq!(engine_only.iter().filter(|t| named(t)).collect::<Vec<_>>(), Vec::<&String>::new());

    let db = dongbo_workflows::open(&t.url).await.unwrap().db();
    let both = table_names(&db).await;
    for table in ["nhanh_customers", "shopify_variant_keys", "product_mappings", "nhanh_token", "events"] {
        assert!(both.contains(&table.to_string()), "{table} missing from {both:?}");
    }
}

async fn a_database_holding_a_migration_this_binary_does_not_know_is_refused(backend: Backend) {
    let Some(t) = dongbo_tests::fresh_db(backend).await else { return };
    let db = dongbo_workflows::open(&t.url).await.unwrap().db();
    let newer = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES (9999, 'from a newer release', TRUE, $1, 0)";
    let checksum = vec![0u8; 48];
    match &db {
        Db::Sqlite(pool) => sqlx::query(newer).bind(checksum).execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query(newer).bind(checksum).execute(pool).await.map(drop),
    }
    .unwrap();
    let refused = dongbo_workflows::open(&t.url).await.err().map(|e| e.to_string());
    let refused = refused.expect("a database with an unknown migration must be refused");
    assert!(refused.contains("9999"), "{refused}");
    // The engine alone, which knows only its own set, leaves other sets' rows alone.
    assert!(dongbo_engine::open(&t.url).await.is_ok());
}

dongbo_tests::on_both_stores!(
    a_database_made_before_the_split_migrates_without_running_anything_again,
    the_engine_alone_creates_none_of_the_catalogs_tables,
    a_database_holding_a_migration_this_binary_does_not_know_is_refused,
);
