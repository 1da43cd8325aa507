//! Databases made by an earlier release are upgraded by this build's `dongbo migrate` without
//! loss, and end with the schema a fresh database gets; and SQLite and PostgreSQL have the same
//! schema (tables, columns, index names) apart from what is meant to differ.
//!
//! The fixtures in `fixtures/upgrade/` were made by the release their README names, running
//! `dongbo demo` at a small size (every job type, a kill and a resume): a SQLite file and a
//! plain-SQL `pg_dump` of the same story on PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::process::Command;

use dongbo_engine::JobFilter;
use dongbo_tests::{dongbo_bin, fresh_db, Backend};
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

/// A fixture's bytes, ungzipped.
fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("upgrade").join(format!("{name}.gz"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).expect("ungzip the fixture");
    bytes
}

/// `dongbo migrate --db url` with this build's binary.
fn migrate(url: &str) {
    let out = Command::new(dongbo_bin()).args(["migrate", "--db", url]).output().expect("run dongbo migrate");
    assert!(
        out.status.success(),
        "dongbo migrate failed on {url}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What must survive an upgrade: every table's row count, and every event as stored.
#[derive(Debug, PartialEq)]
struct Data {
    counts: BTreeMap<String, i64>,
    events: Vec<Vec<String>>,
}

/// A schema as sorted, whitespace-normalised descriptions of its objects.
type Schema = BTreeSet<String>;

fn squash(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- SQLite ----

async fn sqlite_tables(c: &mut SqliteConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .fetch_all(c)
        .await
        .unwrap()
}

async fn sqlite_data(url: &str) -> Data {
    let mut c = SqliteConnection::connect(url).await.unwrap();
    let mut counts = BTreeMap::new();
    for t in sqlite_tables(&mut c).await {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{t}\"")).fetch_one(&mut c).await.unwrap();
        counts.insert(t, n);
    }
    let events = sqlx::query(
        "SELECT CAST(position AS TEXT), job_id, CAST(seq AS TEXT), event_type, payload, CAST(recorded_at AS TEXT), actor
         FROM events ORDER BY position",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| (0..7).map(|i| r.get::<String, _>(i)).collect())
    .collect();
    Data { counts, events }
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut c = SqliteConnection::connect(url).await.unwrap();
    let mut s = Schema::new();
    for t in sqlite_tables(&mut c).await {
        let cols =
            sqlx::query(&format!("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{t}')"))
                .fetch_all(&mut c)
                .await
                .unwrap();
        for r in cols {
            let (name, ty, notnull, dflt, pk): (String, String, i64, Option<String>, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            s.insert(format!("column {t}.{name} {ty} notnull={notnull} default={dflt:?} pk={pk}"));
        }
    }
    let objects = sqlx::query(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('index', 'trigger', 'view')
         AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for r in objects {
        let (ty, name, table, sql): (String, String, String, Option<String>) = (r.get(0), r.get(1), r.get(2), r.get(3));
        s.insert(format!("{ty} {name} on {table}: {}", squash(sql.as_deref().unwrap_or(""))));
    }
    s
}

#[tokio::test]
async fn a_sqlite_database_of_the_previous_release_upgrades_without_loss_to_the_fresh_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    std::fs::write(&path, fixture("sqlite.db")).expect("write the fixture");
    let url = format!("sqlite://{}", path.display());
    let before = sqlite_data(&url).await;
    assert_fixture_holds_the_story(&before);

    migrate(&url);
    migrate(&url); // a second run is a no-op
    let after = sqlite_data(&url).await;
    assert_data_kept(&before, &after);
    assert_old_jobs_fold(&url).await;

    let fresh = dongbo_tests::sqlite_db();
    migrate(&fresh.url);
    assert_same_schema(&sqlite_schema(&url).await, &sqlite_schema(&fresh.url).await);
}

// ---- PostgreSQL ----

async fn pg_data(url: &str) -> Data {
    let mut c = PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut counts = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{t}\"")).fetch_one(&mut c).await.unwrap();
        counts.insert(t, n);
    }
    let events = sqlx::query(
        "SELECT position::text, job_id::text, seq::text, event_type, payload::text, recorded_at::text, actor
         FROM events ORDER BY position",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| (0..7).map(|i| r.get::<String, _>(i)).collect())
    .collect();
    Data { counts, events }
}

async fn pg_schema(url: &str) -> Schema {
    let mut c = PgConnection::connect(url).await.unwrap();
    let queries = [
        "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' nullable=' || is_nullable
                || ' default=' || coalesce(column_default, '-')
         FROM information_schema.columns WHERE table_schema = 'public'",
        "SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(c.oid)
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'",
        "SELECT 'trigger ' || trigger_name || ' ' || action_timing || ' ' || event_manipulation || ' on '
                || event_object_table || ': ' || action_statement
         FROM information_schema.triggers WHERE trigger_schema = 'public'",
        "SELECT 'function ' || p.proname || ': ' || pg_get_functiondef(p.oid)
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
        "SELECT 'sequence ' || sequence_name || ' ' || data_type FROM information_schema.sequences
         WHERE sequence_schema = 'public'",
    ];
    let mut s = Schema::new();
    for q in queries {
        for line in sqlx::query_scalar::<_, String>(q).fetch_all(&mut c).await.unwrap() {
            s.insert(squash(&line));
        }
    }
    s
}

/// Loads a plain-SQL dump: psql meta-commands (`\restrict`, `\unrestrict`) are dropped, the rest
/// is run as one script.
async fn load_dump(url: &str, dump: &str) {
    let script: String = dump.lines().filter(|l| !l.starts_with('\\')).map(|l| format!("{l}\n")).collect();
    let mut c = PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(&script).execute(&mut c).await.expect("load the dump");
}

#[tokio::test]
async fn a_postgres_dump_of_the_previous_release_upgrades_without_loss_to_the_fresh_schema() {
    let Some(old) = fresh_db(Backend::Postgres).await else { return };
    let dump = String::from_utf8(fixture("postgres.sql")).expect("the dump is UTF-8");
    load_dump(&old.url, &dump).await;
    let before = pg_data(&old.url).await;
    assert_fixture_holds_the_story(&before);

    migrate(&old.url);
    migrate(&old.url);
    let after = pg_data(&old.url).await;
    assert_data_kept(&before, &after);
    assert_old_jobs_fold(&old.url).await;

    let fresh = fresh_db(Backend::Postgres).await.expect("a second database");
    migrate(&fresh.url);
    assert_same_schema(&pg_schema(&old.url).await, &pg_schema(&fresh.url).await);
}

// ---- shared ----

/// The fixture is the demo's story, not an empty schema: jobs, events, audit entries, catalog
/// rows and mappings.
fn assert_fixture_holds_the_story(data: &Data) {
    let count = |t: &str| data.counts.get(t).copied().unwrap_or_else(|| panic!("no table {t} in the fixture"));
    assert!(count("background_jobs") >= 9, "{:?}", data.counts);
    assert!(count("events") >= 50, "{:?}", data.counts);
    assert!(count("event_entities") > 0, "{:?}", data.counts);
    let filled = data.counts.values().filter(|&&n| n > 0).count();
    assert!(filled >= 10, "only {filled} tables hold rows: {:?}", data.counts);
    assert_eq!(data.events.len() as i64, count("events"));
}

/// Every table of the old database is still there with as many rows, and every event is byte for
/// byte as it was.
fn assert_data_kept(before: &Data, after: &Data) {
    for (table, n) in &before.counts {
        if table == "_sqlx_migrations" {
            continue; // grows by the new migrations
        }
        assert_eq!(after.counts.get(table), Some(n), "table {table} after the upgrade");
    }
    assert_eq!(after.events.len(), before.events.len(), "events after the upgrade");
    for (a, b) in after.events.iter().zip(&before.events) {
        assert_eq!(a, b, "an event changed in the upgrade");
    }
}

/// This build reads the old log: the projection rebuilt from it equals the stored one.
async fn assert_old_jobs_fold(url: &str) {
    let store = dongbo_engine::open(url).await.expect("open the upgraded database");
    let filter = JobFilter { limit: 100_000, ..JobFilter::default() };
    let stored = store.list_jobs(&filter).await.unwrap();
    let rebuilt = store.rebuild_projection().await.expect("the old log folds");
    assert!(rebuilt > 0);
    assert_eq!(store.list_jobs(&filter).await.unwrap(), stored, "the old log folds to another projection");
}

fn assert_same_schema(upgraded: &Schema, fresh: &Schema) {
    let missing: Vec<_> = fresh.difference(upgraded).collect();
    let extra: Vec<_> = upgraded.difference(fresh).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the upgraded schema differs from a fresh one\nonly in a fresh database: {missing:#?}\nonly in the upgraded one: {extra:#?}"
    );
}

// ---- parity ----

/// (table → columns, table → index names) of a fresh database on each backend. Index names are
/// those a migration names (constraint-backed and automatic indexes left out).
async fn sqlite_shape() -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, BTreeSet<String>>) {
    let db = dongbo_tests::sqlite_db();
    migrate(&db.url);
    let mut c = SqliteConnection::connect(&db.url).await.unwrap();
    let (mut columns, mut indexes) = (BTreeMap::new(), BTreeMap::new());
    for t in sqlite_tables(&mut c).await {
        let cols: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{t}')")).fetch_all(&mut c).await.unwrap();
        columns.insert(t.clone(), cols.into_iter().collect());
        indexes.insert(t, BTreeSet::new());
    }
    let rows = sqlx::query("SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .fetch_all(&mut c)
        .await
        .unwrap();
    for r in rows {
        indexes.entry(r.get::<String, _>(0)).or_insert_with(BTreeSet::new).insert(r.get(1));
    }
    (columns, indexes)
}

async fn pg_shape(url: &str) -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, BTreeSet<String>>) {
    migrate(url);
    let mut c = PgConnection::connect(url).await.unwrap();
    let (mut columns, mut indexes) = (BTreeMap::new(), BTreeMap::new());
    let rows = sqlx::query(
        "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for r in rows {
        let t: String = r.get(0);
        columns.entry(t.clone()).or_insert_with(BTreeSet::new).insert(r.get(1));
        indexes.entry(t).or_insert_with(BTreeSet::new);
    }
    let rows = sqlx::query(
        "SELECT tablename::text, indexname::text FROM pg_indexes WHERE schemaname = 'public'
         AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for r in rows {
        indexes.entry(r.get::<String, _>(0)).or_insert_with(BTreeSet::new).insert(r.get(1));
    }
    (columns, indexes)
}

/// Tables only PostgreSQL has, on purpose: the cluster-wide Nhanh limiter (migration 0008), which
/// only several processes sharing one database need; SQLite's limiter lives in the process.
const POSTGRES_ONLY_TABLES: [&str; 2] = ["shared_limit_locks", "shared_limit_slots"];

/// Tables only SQLite has, on purpose: the prune's guard row (migration 0010), which SQLite's
/// append-only trigger checks; PostgreSQL's trigger reads a transaction-local setting instead.
const SQLITE_ONLY_TABLES: [&str; 1] = ["prune_guard"];

/// Indexes that serve one query under a different name and shape on each backend, on purpose:
/// (table, SQLite name, PostgreSQL name). The events' audit query by type and time: a BRIN index on
/// `recorded_at` on PostgreSQL (migration 0006), a partial index by type and position on the events
/// that are not steps on SQLite (migration 0022).
const RENAMED_INDEXES: [(&str, &str, &str); 1] = [("events", "events_type_position", "events_time_brin")];

#[tokio::test]
async fn sqlite_and_postgres_have_the_same_tables_columns_and_indexes() {
    let Some(pg) = fresh_db(Backend::Postgres).await else { return };
    let (mut lite_cols, mut lite_idx) = sqlite_shape().await;
    for t in SQLITE_ONLY_TABLES {
        assert!(lite_cols.remove(t).is_some(), "{t} is listed as SQLite-only but does not exist");
        lite_idx.remove(t);
    }
    let (mut pg_cols, mut pg_idx) = pg_shape(&pg.url).await;
    for t in POSTGRES_ONLY_TABLES {
        assert!(pg_cols.remove(t).is_some(), "{t} is listed as PostgreSQL-only but does not exist");
        pg_idx.remove(t);
    }
    // Apart on purpose (see `RENAMED_INDEXES`).
    for (table, lite, pg) in RENAMED_INDEXES {
        if let Some(idx) = pg_idx.get_mut(table) {
            if idx.remove(pg) {
                idx.insert(lite.to_owned());
            }
        }
    }
    let lite_tables: BTreeSet<_> = lite_cols.keys().collect();
    let pg_tables: BTreeSet<_> = pg_cols.keys().collect();
    assert_eq!(lite_tables, pg_tables, "the two backends have different tables");
    for (t, cols) in &lite_cols {
        assert_eq!(Some(cols), pg_cols.get(t), "columns of {t} differ between SQLite and PostgreSQL");
    }
    for (t, idx) in &lite_idx {
        assert_eq!(Some(idx), pg_idx.get(t), "indexes of {t} differ between SQLite and PostgreSQL");
    }
}
