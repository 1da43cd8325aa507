//! A catalog write outside a transaction whose commit fails is an error, never a success: on both
//! stores, for each such write that returns a row (`RETURNING`).
//!
//! The commit is made to fail by a deferred check on the written table (a foreign key on SQLite,
//! a constraint trigger on PostgreSQL), which runs when the write commits, not when it runs. On
//! SQLite, fetching such a write with `fetch_optional` hands its row back before the commit and
//! sqlx drops the commit's error: these tests then see `Ok` with a row although nothing was
//! written. After each refused commit the row is read back unchanged.

use dongbo_engine::Db;
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::console::{claim_due, enqueue};
use dongbo_workflows::catalog::store::credentials::{issue_oauth_state, take_oauth_state};
use dongbo_workflows::catalog::store::pulls::{location_mappings, remove_location_mapping, set_location_mapping};
use dongbo_workflows::catalog::store::schedules::{
    get_schedule, insert_schedule, set_paused, update_schedule, ScheduleChange, ScheduleRow,
};
use serde_json::json;

async fn db(backend: Backend) -> Option<(dongbo_tests::TestDb, Db)> {
    let t = dongbo_tests::fresh_db(backend).await?;
    let store = dongbo_workflows::open(&t.url).await.expect("open store");
    let db = store.db();
    Some((t, db))
}

/// Makes every commit that deleted or updated a row of `table` fail, until [`allow`].
async fn refuse_commits(db: &Db, table: &str) {
    let statements = match db {
        Db::Sqlite(_) => vec![
            "CREATE TABLE IF NOT EXISTS refused_parent (id INTEGER PRIMARY KEY)".to_owned(),
            "CREATE TABLE IF NOT EXISTS refused_child
                 (parent INTEGER REFERENCES refused_parent (id) DEFERRABLE INITIALLY DEFERRED)"
                .to_owned(),
            format!("CREATE TRIGGER refuse_{table}_delete AFTER DELETE ON {table} BEGIN INSERT INTO refused_child VALUES (1); END"),
            format!("CREATE TRIGGER refuse_{table}_update AFTER UPDATE ON {table} BEGIN INSERT INTO refused_child VALUES (1); END"),
        ],
        Db::Postgres(_) => vec![
            "CREATE OR REPLACE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$"
                .to_owned(),
            format!(
                "CREATE CONSTRAINT TRIGGER refuse_{table} AFTER DELETE OR UPDATE ON {table}
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
            ),
        ],
    };
    for s in statements {
        run(db, &s).await;
    }
}

/// Lets commits on `table` through again.
async fn allow(db: &Db, table: &str) {
    let statements = match db {
        Db::Sqlite(_) => {
            vec![format!("DROP TRIGGER refuse_{table}_delete"), format!("DROP TRIGGER refuse_{table}_update")]
        }
        Db::Postgres(_) => vec![format!("DROP TRIGGER refuse_{table} ON {table}")],
    };
    for s in statements {
        run(db, &s).await;
    }
}

async fn run(db: &Db, statement: &str) {
    match db {
        Db::Sqlite(pool) => sqlx::query(statement).execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query(statement).execute(pool).await.map(drop),
    }
    .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

async fn a_used_oauth_state_whose_commit_failed_is_an_error_and_stays_usable(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    issue_oauth_state(&db, "s1", 1000, 0).await.unwrap();
    refuse_commits(&db, "nhanh_oauth_states").await;
    let taken = take_oauth_state(&db, "s1", 0).await;
    assert!(taken.is_err(), "a state whose use did not commit was reported as {taken:?}");
    allow(&db, "nhanh_oauth_states").await;
    assert!(take_oauth_state(&db, "s1", 0).await.unwrap(), "the state was used up by a failed commit");
}

async fn a_location_unmapping_whose_commit_failed_is_an_error_and_the_mapping_stays(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    let gid = "gid://shopify/Location/71";
    set_location_mapping(&db, 7, gid).await.unwrap();
    refuse_commits(&db, "location_mappings").await;
    let removed = remove_location_mapping(&db, 7).await;
    assert!(removed.is_err(), "an unmapping that did not commit was reported as {removed:?}");
    allow(&db, "location_mappings").await;
    assert_eq!(location_mappings(&db).await.unwrap(), vec![(7, gid.to_owned())]);
}

async fn an_outbox_claim_whose_commit_failed_is_an_error_and_holds_nothing(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    assert!(enqueue(&db, "job:1:COMPLETED", "job.completed", r#"{"id":1}"#, 1_000).await.unwrap());
    refuse_commits(&db, "notify_outbox").await;
    let claimed = claim_due(&db, 2_000, 60_000).await;
    assert!(claimed.is_err(), "a claim that did not commit was reported as {claimed:?}");
    allow(&db, "notify_outbox").await;
    // Nothing holds the entry: it can be claimed at once, its attempts untouched.
    let due = claim_due(&db, 2_000, 60_000).await.unwrap().expect("the entry is still due");
    assert_eq!((due.body.as_str(), due.attempts), (r#"{"id":1}"#, 0));
}

fn nightly() -> ScheduleRow {
    ScheduleRow {
        id: "nightly".into(),
        cron: "0 2 * * *".into(),
        time_zone: "Asia/Ho_Chi_Minh".into(),
        job_type: "CUSTOMER_SYNC".into(),
        input: json!({}),
        paused: false,
        after_ms: 1_000,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

async fn a_schedule_change_whose_commit_failed_is_an_error_and_the_schedule_stays(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    assert!(insert_schedule(&db, &nightly()).await.unwrap());
    refuse_commits(&db, "schedules").await;
    let change = ScheduleChange {
        cron: "*/15 * * * *".into(),
        time_zone: "UTC".into(),
        job_type: "PRODUCT_SYNC".into(),
        input: json!({"dryRun": true}),
    };
    let updated = update_schedule(&db, "nightly", &change, 5_000).await;
    assert!(updated.is_err(), "a schedule change that did not commit was reported as {updated:?}");
    allow(&db, "schedules").await;
    assert_eq!(get_schedule(&db, "nightly").await.unwrap(), Some(nightly()));
}

async fn a_pause_whose_commit_failed_is_an_error_and_the_schedule_stays(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    assert!(insert_schedule(&db, &nightly()).await.unwrap());
    refuse_commits(&db, "schedules").await;
    let paused = set_paused(&db, "nightly", true, 5_000).await;
    assert!(paused.is_err(), "a pause that did not commit was reported as {paused:?}");
    allow(&db, "schedules").await;
    assert_eq!(get_schedule(&db, "nightly").await.unwrap(), Some(nightly()));
}

dongbo_tests::on_both_stores!(
    a_used_oauth_state_whose_commit_failed_is_an_error_and_stays_usable,
    a_location_unmapping_whose_commit_failed_is_an_error_and_the_mapping_stays,
    an_outbox_claim_whose_commit_failed_is_an_error_and_holds_nothing,
    a_schedule_change_whose_commit_failed_is_an_error_and_the_schedule_stays,
    a_pause_whose_commit_failed_is_an_error_and_the_schedule_stays,
);
