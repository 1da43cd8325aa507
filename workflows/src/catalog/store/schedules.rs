//! SQL of durable schedules (`migrations/*/0014_schedules.sql`): the schedules, their firings,
//! and the links between pipeline parents and their child jobs.
//!
//! One firing per slot rests on one statement: a process fires slot S only if it moves the
//! schedule's `after_ms` from below S to S ([`claim_slot`]); PostgreSQL's row lock and SQLite's
//! single writer make that a compare-and-set, so exactly one process wins, however many tick.
//! The statements are written once (`$n` parameters read the same on both backends), each body
//! once for both ([`on_db!`], [`on_tx!`]).

use async_trait::async_trait;
use dongbo_engine::{Db, EffectError, StepEffects, StoreTx};
use serde_json::Value;
use sqlx::Row;

use super::dialect::{on_db, on_tx, returned};

type R<T> = Result<T, sqlx::Error>;

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRow {
    /// Its name, e.g. `incremental`.
    pub id: String,
    /// The cron expression.
    pub cron: String,
    /// The IANA zone it is read in.
    pub time_zone: String,
    /// The job type a firing requests.
    pub job_type: String,
    /// The job's input.
    pub input: Value,
    /// Whether it is paused.
    pub paused: bool,
    /// Slots at or before this instant (unix ms) never fire.
    pub after_ms: i64,
    /// When created (unix ms).
    pub created_at: i64,
    /// When last changed (unix ms).
    pub updated_at: i64,
}

/// One firing of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringRow {
    /// The schedule.
    pub schedule_id: String,
    /// `slot` or `manual` (run now).
    pub kind: String,
    /// The slot, or when "run now" was asked (unix ms).
    pub at_ms: i64,
    /// The process that fired it.
    pub fired_by: String,
    /// When it fired (unix ms).
    pub fired_at_ms: i64,
    /// The job it requested (`None` only between winning the slot and the engine's answer).
    pub job_id: Option<String>,
}

/// A firing kind: a cron slot.
pub const SLOT: &str = "slot";
/// A firing kind: "run now".
pub const MANUAL: &str = "manual";

const SCHEDULE_COLUMNS: &str = "id, cron, time_zone, job_type, input, paused, after_ms, created_at, updated_at";

fn schedule_row(r: &impl RowLike) -> R<ScheduleRow> {
    let input: String = r.text("input")?;
    Ok(ScheduleRow {
        id: r.text("id")?,
        cron: r.text("cron")?,
        time_zone: r.text("time_zone")?,
        job_type: r.text("job_type")?,
        input: serde_json::from_str(&input).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        paused: r.flag("paused")?,
        after_ms: r.int("after_ms")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

fn firing_row(r: &impl RowLike) -> R<FiringRow> {
    Ok(FiringRow {
        schedule_id: r.text("schedule_id")?,
        kind: r.text("kind")?,
        at_ms: r.int("at_ms")?,
        fired_by: r.text("fired_by")?,
        fired_at_ms: r.int("fired_at_ms")?,
        job_id: r.opt_text("job_id")?,
    })
}

/// Column reads shared by both backends' rows.
trait RowLike {
    fn text(&self, c: &str) -> R<String>;
    fn opt_text(&self, c: &str) -> R<Option<String>>;
    fn int(&self, c: &str) -> R<i64>;
    fn flag(&self, c: &str) -> R<bool>;
}

macro_rules! row_like {
    ($t:ty) => {
        impl RowLike for $t {
            fn text(&self, c: &str) -> R<String> {
                self.try_get(c)
            }
            fn opt_text(&self, c: &str) -> R<Option<String>> {
                self.try_get(c)
            }
            fn int(&self, c: &str) -> R<i64> {
                self.try_get(c)
            }
            fn flag(&self, c: &str) -> R<bool> {
                self.try_get(c)
            }
        }
    };
}
row_like!(sqlx::sqlite::SqliteRow);
row_like!(sqlx::postgres::PgRow);

/// Every schedule, by name.
pub async fn list_schedules(db: &Db) -> R<Vec<ScheduleRow>> {
    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY id");
    on_db!(db, |pool, d| {
        let rows = sqlx::query(&sql).fetch_all(pool).await?;
        rows.iter().map(schedule_row).collect()
    })
}

/// One schedule.
pub async fn get_schedule(db: &Db, id: &str) -> R<Option<ScheduleRow>> {
    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1");
    on_db!(db, |pool, d| {
        let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
        row.as_ref().map(schedule_row).transpose()
    })
}

/// Creates a schedule; `false` when one of that name exists (nothing changes then).
pub async fn insert_schedule(db: &Db, row: &ScheduleRow) -> R<bool> {
    const SQL: &str =
        "INSERT INTO schedules (id, cron, time_zone, job_type, input, paused, after_ms, created_at, updated_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING";
    let input = row.input.to_string();
    on_db!(db, |pool, d| {
        let done = sqlx::query(SQL)
            .bind(&row.id)
            .bind(&row.cron)
            .bind(&row.time_zone)
            .bind(&row.job_type)
            .bind(&input)
            .bind(row.paused)
            .bind(row.after_ms)
            .bind(row.created_at)
            .bind(row.updated_at)
            .execute(pool)
            .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// What [`update_schedule`] changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleChange {
    /// The cron expression.
    pub cron: String,
    /// The zone.
    pub time_zone: String,
    /// The job type.
    pub job_type: String,
    /// The job's input.
    pub input: Value,
}

/// Replaces a schedule's timing and job; slots before `now_ms` will not fire for it (a changed
/// expression does not reach back). `None` when there is no such schedule.
pub async fn update_schedule(db: &Db, id: &str, change: &ScheduleChange, now_ms: i64) -> R<Option<ScheduleRow>> {
    let sql = format!(
        "UPDATE schedules SET cron = $2, time_zone = $3, job_type = $4, input = $5, updated_at = $6,
             after_ms = CASE WHEN after_ms < $6 THEN $6 ELSE after_ms END
         WHERE id = $1 RETURNING {SCHEDULE_COLUMNS}"
    );
    let input = change.input.to_string();
    on_db!(db, |pool, d| {
        let rows = sqlx::query(&sql)
            .bind(id)
            .bind(&change.cron)
            .bind(&change.time_zone)
            .bind(&change.job_type)
            .bind(&input)
            .bind(now_ms)
            .fetch_all(pool)
            .await?;
        returned(rows).as_ref().map(schedule_row).transpose()
    })
}

/// Pauses or resumes a schedule. Resuming moves the guard to `now_ms`: the slots that passed
/// while it was paused do not fire. `None` when there is no such schedule.
pub async fn set_paused(db: &Db, id: &str, paused: bool, now_ms: i64) -> R<Option<ScheduleRow>> {
    let sql = format!(
        "UPDATE schedules SET paused = $2, updated_at = $3,
             after_ms = CASE WHEN $2 = FALSE AND paused = TRUE AND after_ms < $3 THEN $3 ELSE after_ms END
         WHERE id = $1 RETURNING {SCHEDULE_COLUMNS}"
    );
    on_db!(db, |pool, d| {
        let rows = sqlx::query(&sql).bind(id).bind(paused).bind(now_ms).fetch_all(pool).await?;
        returned(rows).as_ref().map(schedule_row).transpose()
    })
}

/// Deletes a schedule and its firings; `false` when there was none.
pub async fn delete_schedule(db: &Db, id: &str) -> R<bool> {
    on_db!(db, |pool, d| {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM schedule_firings WHERE schedule_id = $1").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM schedules WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Takes slot `slot_ms` of an unpaused schedule for `fired_by`: moves the guard to it and files
/// the firing (without its job yet) in one transaction. `true` for exactly one caller per slot;
/// `false` when the slot (or a later one) was taken, or the schedule is paused or gone.
pub async fn claim_slot(db: &Db, id: &str, slot_ms: i64, fired_by: &str, now_ms: i64) -> R<bool> {
    const GUARD: &str = "UPDATE schedules SET after_ms = $2 WHERE id = $1 AND paused = FALSE AND after_ms < $2";
    const FILE: &str = "INSERT INTO schedule_firings (schedule_id, kind, at_ms, fired_by, fired_at_ms, job_id)
                        VALUES ($1, $2, $3, $4, $5, NULL)";
    on_db!(db, |pool, d| {
        let mut tx = pool.begin().await?;
        let won = sqlx::query(GUARD).bind(id).bind(slot_ms).execute(&mut *tx).await?.rows_affected() == 1;
        if won {
            sqlx::query(FILE).bind(id).bind(SLOT).bind(slot_ms).bind(fired_by).bind(now_ms).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(won)
    })
}

/// Files a firing that already has its job (a "run now"); a second filing of the same
/// `(schedule, kind, at)` is ignored.
pub async fn file_firing(db: &Db, firing: &FiringRow) -> R<()> {
    const SQL: &str = "INSERT INTO schedule_firings (schedule_id, kind, at_ms, fired_by, fired_at_ms, job_id)
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (schedule_id, kind, at_ms) DO NOTHING";
    on_db!(db, |pool, d| {
        sqlx::query(SQL)
            .bind(&firing.schedule_id)
            .bind(&firing.kind)
            .bind(firing.at_ms)
            .bind(&firing.fired_by)
            .bind(firing.fired_at_ms)
            .bind(&firing.job_id)
            .execute(pool)
            .await?;
        Ok(())
    })
}

/// Records the job a won slot requested (the same job whoever records it: the request's
/// idempotency key names the slot).
pub async fn set_firing_job(db: &Db, schedule_id: &str, kind: &str, at_ms: i64, job_id: &str) -> R<()> {
    const SQL: &str =
        "UPDATE schedule_firings SET job_id = $4 WHERE schedule_id = $1 AND kind = $2 AND at_ms = $3 AND job_id IS NULL";
    on_db!(db, |pool, d| {
        sqlx::query(SQL).bind(schedule_id).bind(kind).bind(at_ms).bind(job_id).execute(pool).await?;
        Ok(())
    })
}

/// Firings whose job was never recorded (the process that won them stopped in between).
pub async fn open_firings(db: &Db) -> R<Vec<FiringRow>> {
    const SQL: &str = "SELECT schedule_id, kind, at_ms, fired_by, fired_at_ms, job_id FROM schedule_firings
                       WHERE job_id IS NULL ORDER BY at_ms";
    on_db!(db, |pool, d| {
        let rows = sqlx::query(SQL).fetch_all(pool).await?;
        rows.iter().map(firing_row).collect()
    })
}

/// A schedule's firings, newest first.
pub async fn firings(db: &Db, schedule_id: &str, limit: i64) -> R<Vec<FiringRow>> {
    const SQL: &str = "SELECT schedule_id, kind, at_ms, fired_by, fired_at_ms, job_id FROM schedule_firings
                       WHERE schedule_id = $1 ORDER BY fired_at_ms DESC, at_ms DESC LIMIT $2";
    on_db!(db, |pool, d| {
        let rows = sqlx::query(SQL).bind(schedule_id).bind(limit).fetch_all(pool).await?;
        rows.iter().map(firing_row).collect()
    })
}

/// A child job of a pipeline parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildLink {
    /// The parent job.
    pub parent_job_id: String,
    /// The child job.
    pub child_job_id: String,
    /// The parent's stage that requested it.
    pub stage: String,
    /// Its place among the parent's children.
    pub position: i64,
}

fn link_row(r: &impl RowLike) -> R<ChildLink> {
    Ok(ChildLink {
        parent_job_id: r.text("parent_job_id")?,
        child_job_id: r.text("child_job_id")?,
        stage: r.text("stage")?,
        position: r.int("position")?,
    })
}

/// A parent's children, in the order it requested them.
pub async fn children_of(db: &Db, parent_job_id: &str) -> R<Vec<ChildLink>> {
    const SQL: &str = "SELECT parent_job_id, child_job_id, stage, position FROM job_children
                       WHERE parent_job_id = $1 ORDER BY position";
    on_db!(db, |pool, d| {
        let rows = sqlx::query(SQL).bind(parent_job_id).fetch_all(pool).await?;
        rows.iter().map(link_row).collect()
    })
}

/// The parent of a child job, if it has one.
pub async fn parent_of(db: &Db, child_job_id: &str) -> R<Option<ChildLink>> {
    const SQL: &str = "SELECT parent_job_id, child_job_id, stage, position FROM job_children WHERE child_job_id = $1";
    on_db!(db, |pool, d| {
        let row = sqlx::query(SQL).bind(child_job_id).fetch_optional(pool).await?;
        row.as_ref().map(link_row).transpose()
    })
}

/// Files child links in the step that checkpoints them (a re-run files nothing twice).
pub struct LinkChildren(pub Vec<ChildLink>);

#[async_trait]
impl StepEffects for LinkChildren {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        const SQL: &str =
            "INSERT INTO job_children (child_job_id, parent_job_id, stage, position) VALUES ($1, $2, $3, $4)
                           ON CONFLICT (child_job_id) DO NOTHING";
        on_tx!(&mut tx, |conn, d| {
            for l in &self.0 {
                sqlx::query(SQL)
                    .bind(&l.child_job_id)
                    .bind(&l.parent_job_id)
                    .bind(&l.stage)
                    .bind(l.position)
                    .execute(&mut *conn)
                    .await?;
            }
        });
        Ok(())
    }
}
