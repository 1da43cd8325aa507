//! The embedded SQLite driver: WAL, immediate write transactions, one process.
//!
//! Timestamps are stored as integer milliseconds. Write transactions start with
//! `BEGIN IMMEDIATE` so two writers never deadlock upgrading a read lock, and so claims run one
//! at a time (a claim's key check sees every committed holder); the busy timeout makes them
//! queue instead of failing. The live feed is an in-process broadcast, so another process on the
//! same file sees new work by polling (the worker's poll interval).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row, Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::broadcast;

use super::checkpointer::Checkpointer;
use super::core::Core;
use super::driver::{Driver, DueJob, QueueEntry, WaitingRow};
use super::{
    queue_state, Append, ClaimRequest, Db, EntityTouch, JobFilter, Lease, NewJob, Notice, QueueChange, Result,
    StoreError, StoreTx,
};
use crate::event::{EntityRef, Event, EventPayload, NewEvent};
use crate::ids::{JobId, WorkerId};
use crate::job::{BackgroundJob, JobStatus};

/// The SQLite store.
pub type SqliteStore = Core<SqliteDriver>;

/// The SQLite driver.
#[derive(Clone)]
pub struct SqliteDriver {
    pool: SqlitePool,
    /// The connection of the one-statement step commits ([`STEP_COMMIT`]), held apart from the
    /// pool: a pooled connection is pinged on its way back to the pool, a second trip to its
    /// thread as long as the commit itself. `None` for an in-memory database, which exists once
    /// per connection and so has only the pool's one.
    committer: Option<Arc<Committer>>,
    /// The background checkpoints of a file's log; `None` for an in-memory database.
    _checkpointer: Option<Arc<Checkpointer>>,
    feed: broadcast::Sender<Notice>,
}

/// The step commits' own connection, opened on first use and again after a failure.
struct Committer {
    options: SqliteConnectOptions,
    conn: tokio::sync::Mutex<Option<SqliteConnection>>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

impl Core<SqliteDriver> {
    /// Opens (creating if missing) the database a `sqlite:` URL names.
    pub async fn connect(url: &str) -> Result<Self> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // A step commit writes three pages (its event, the event's key, the projection; the
            // queue row too before migration 0024) where a one-row insert writes one: the commit
            // that takes the log past 4,000 pages (16 MB) rather than SQLite's 1,000 checkpoints
            // it, at most about as often per commit as a one-page commit does. The checkpointer
            // (below) has by then copied and flushed most of it.
            .pragma("wal_autocheckpoint", "4000");
        // An in-memory database exists once per connection, so it gets exactly one. A file's
        // connection does not go stale while it idles, so a checkout does not ping it first (a
        // ping is a trip to the connection's thread, as long as a whole step commit).
        let pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(if memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(opts.clone())
            .await?;
        let checkpointer = (!memory).then(|| Arc::new(Checkpointer::start(opts.clone())));
        let committer = (!memory).then(|| Arc::new(Committer { options: opts, conn: Default::default() }));
        let (feed, _) = broadcast::channel(4096);
        Ok(Core { driver: SqliteDriver { pool, committer, _checkpointer: checkpointer, feed } })
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.driver.pool
    }
}

/// The condition of a job due for `request` (`?1` now, `?3` ready, `?4` leased, the job types
/// from `?5`; `?2` is the claim order's aging period), bound by [`bind_due`].
fn due_where(request: &ClaimRequest<'_>) -> String {
    let types = (0..request.job_types.len()).map(|i| format!("?{}", i + 5)).collect::<Vec<_>>().join(", ");
    format!(
        "job_type IN ({types})
           AND ((state = ?3 AND run_at <= ?1) OR (state = ?4 AND lease_expires_at < ?1))
           AND (concurrency_key IS NULL OR key_held IS NOT NULL
                OR NOT EXISTS (SELECT 1 FROM job_queue h WHERE h.key_held = q.concurrency_key))"
    )
}

/// A job's last sequence number, for its queue row `row`: the largest in `events`. A step that
/// keeps its lease does not write its queue row (migration 0024), so the row's `last_seq` is
/// only as of its last write; it stands in when the job's events were pruned.
fn current_seq(row: &str) -> String {
    format!("COALESCE((SELECT MAX(e.seq) FROM events e WHERE e.job_id = {row}.job_id), {row}.last_seq)")
}

/// Binds [`due_where`]'s parameters.
fn bind_due<'q>(
    q: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    request: &ClaimRequest<'q>,
) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
    let mut q =
        q.bind(ms(request.now)).bind(request.policy.aging_ms()).bind(queue_state::READY).bind(queue_state::LEASED);
    for t in request.job_types {
        q = q.bind(*t);
    }
    q
}

impl SqliteDriver {
    fn announce(&self, job_id: JobId, seq: i64) {
        // Nobody listening is fine.
        let _ = self.feed.send(Notice { job_id, seq });
    }
}

fn parse_id(s: &str) -> Result<JobId> {
    JobId::from_str(s).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

fn job_from_row(r: &SqliteRow) -> Result<BackgroundJob> {
    let status: String = r.try_get("status")?;
    let metadata: String = r.try_get("metadata")?;
    let id: String = r.try_get("id")?;
    Ok(BackgroundJob {
        id: parse_id(&id)?,
        job_type: r.try_get("type")?,
        status: JobStatus::from_str(&status).map_err(|e| sqlx::Error::Decode(e.into()))?,
        priority: r.try_get::<String, _>("priority")?.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        total: r.try_get("total")?,
        processed: r.try_get("processed")?,
        successful: r.try_get("successful")?,
        failed: r.try_get("failed")?,
        metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
        error: r.try_get("error")?,
        created_at: from_ms(r.try_get("created_at")?),
        started_at: r.try_get::<Option<i64>, _>("started_at")?.map(from_ms),
        updated_at: from_ms(r.try_get("updated_at")?),
        completed_at: r.try_get::<Option<i64>, _>("completed_at")?.map(from_ms),
        attempts: r.try_get("attempts")?,
    })
}

fn event_from_row(r: &SqliteRow) -> Result<Event> {
    let id: String = r.try_get("job_id")?;
    let payload: String = r.try_get("payload")?;
    Ok(Event {
        position: r.try_get("position")?,
        job_id: parse_id(&id)?,
        seq: r.try_get("seq")?,
        event_type: r.try_get("event_type")?,
        payload: serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        recorded_at: from_ms(r.try_get("recorded_at")?),
        actor: r.try_get("actor")?,
    })
}

const EVENT_COLUMNS: &str = "position, job_id, seq, event_type, payload, recorded_at, actor";

async fn load_job(conn: &mut SqliteConnection, id: JobId) -> Result<Option<BackgroundJob>> {
    let row =
        sqlx::query("SELECT * FROM background_jobs WHERE id = ?").bind(id.to_string()).fetch_optional(conn).await?;
    row.as_ref().map(job_from_row).transpose()
}

/// `$query` with the projection row `$j`'s columns after its id bound next, in the order of
/// `background_jobs` (type, status, total, processed, successful, failed, metadata, error,
/// created_at, started_at, updated_at, completed_at, attempts, priority). A macro: sqlx's query
/// types share no trait for `bind`.
macro_rules! bind_row {
    ($query:expr, $j:expr) => {{
        let j: &BackgroundJob = $j;
        $query
            .bind(&j.job_type)
            .bind(j.status.as_str())
            .bind(j.total)
            .bind(j.processed)
            .bind(j.successful)
            .bind(j.failed)
            .bind(j.metadata.to_string())
            .bind(&j.error)
            .bind(ms(j.created_at))
            .bind(j.started_at.map(ms))
            .bind(ms(j.updated_at))
            .bind(j.completed_at.map(ms))
            .bind(j.attempts)
            .bind(j.priority.as_str())
    }};
}

async fn save_job(conn: &mut SqliteConnection, j: &BackgroundJob) -> Result<()> {
    let query = sqlx::query(
        "INSERT INTO background_jobs (id, type, status, total, processed, successful, failed, metadata, error,
             created_at, started_at, updated_at, completed_at, attempts, priority)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET type = excluded.type, status = excluded.status, total = excluded.total,
             priority = excluded.priority,
             processed = excluded.processed, successful = excluded.successful, failed = excluded.failed,
             metadata = excluded.metadata, error = excluded.error, created_at = excluded.created_at,
             started_at = excluded.started_at, updated_at = excluded.updated_at,
             completed_at = excluded.completed_at, attempts = excluded.attempts",
    )
    .bind(j.id.to_string());
    bind_row!(query, j).execute(conn).await?;
    Ok(())
}

async fn insert_events(
    conn: &mut SqliteConnection,
    job_id: JobId,
    events: &[NewEvent],
    touched: &[EntityRef],
) -> Result<()> {
    for e in events {
        let inserted = sqlx::query(
            "INSERT INTO events (job_id, seq, event_type, payload, recorded_at, actor) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (job_id, seq) DO NOTHING",
        )
        .bind(job_id.to_string())
        .bind(e.seq)
        .bind(e.payload.event_type())
        .bind(e.payload.to_text())
        .bind(ms(e.recorded_at))
        .bind(&e.actor)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Fenced(job_id));
        }
        if let EventPayload::StepCompleted(_) = &e.payload {
            file_touched(conn, job_id, inserted.last_insert_rowid(), touched).await?;
        }
    }
    Ok(())
}

/// Files the records a step touched in the audit index, under its `StepCompleted` at
/// `position`: one statement for all of them, as one JSON array of [key, action] (a step may
/// touch thousands of records).
async fn file_touched(conn: &mut SqliteConnection, job_id: JobId, position: i64, touched: &[EntityRef]) -> Result<()> {
    if touched.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, &str)> = touched.iter().map(|t| (t.key(), t.action.as_str())).collect();
    let rows = serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO event_entities (position, job_id, entity_key, action)
         SELECT ?1, ?2, e.value ->> 0, e.value ->> 1 FROM json_each(?3) e ORDER BY e.key",
    )
    .bind(position)
    .bind(job_id.to_string())
    .bind(rows)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A step commit as one statement (the `step_commits` view of migrations 0016, 0022 and 0023,
/// whose trigger, made again by 0024, fences, moves the queue row when the step gives the lease up
/// or must renew it, appends the events and saves the projection row, all or nothing), whose
/// `RETURNING` reads a pending cancel request after the trigger ran, inside the commit: the whole
/// commit of a step without local writes or audit entries, else the first statement of its
/// transaction. Parameters: ?1 job, ?2 worker, ?3 attempt, ?4 expected previous seq, ?5 last
/// seq, ?6 mode, ?7 time, ?8–?11 the first event (type, payload, time, actor; its seq is ?4 + 1),
/// ?12 the events after it (JSON, NULL if none), ?13… the projection row after them. Fetched
/// whole (`fetch_all`), never with `fetch_optional`: sqlx would stop the statement at its row,
/// before its end, and the commit would then happen when sqlx resets it, which drops the
/// commit's error (`engine/tests/sqlite_commit_failure.rs`).
const STEP_COMMIT: &str = "INSERT INTO step_commits (job_id, worker, attempt, after_seq, last_seq, mode, at,
        event_type, payload, recorded_at, actor, more_events,
        type, status, total, processed, successful, failed, metadata, error, created_at, started_at, updated_at,
        completed_at, attempts, priority)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
        ?23, ?24, ?25, ?26)
    RETURNING (SELECT cancel_requested_by FROM job_queue WHERE job_id = ?1)";

/// The message of the trigger's refusal when the fence does not hold.
const FENCED: &str = "dongbo: fenced";

/// Whether a step commit was refused because the fence did not hold or a sequence number is
/// taken (someone else appended).
fn is_fenced(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.message().contains(FENCED) || d.is_unique_violation())
}

/// [`STEP_COMMIT`] with its parameters bound.
type StepCommit<'q> = sqlx::query::QueryScalar<'q, Sqlite, Option<String>, SqliteArguments<'q>>;

/// [`STEP_COMMIT`] bound for `lease`'s append of `first` and the events after it, `more`, and
/// the projection row `j` after them.
fn step_commit<'q>(
    lease: &'q Lease,
    queue: QueueChange,
    (first, more): (&'q NewEvent, &'q [NewEvent]),
    j: &'q BackgroundJob,
) -> StepCommit<'q> {
    let (mode, at) = queue.mode();
    let last = more.last().unwrap_or(first);
    // The first event in columns of its own, the others (a finish, a failure) as JSON.
    let more: Vec<Value> = more
        .iter()
        .map(|e| serde_json::json!([e.seq, e.payload.event_type(), e.payload.to_text(), ms(e.recorded_at), e.actor]))
        .collect();
    let query = sqlx::query_scalar::<_, Option<String>>(STEP_COMMIT)
        .bind(lease.job_id.to_string())
        .bind(lease.worker.as_str())
        .bind(i64::from(lease.attempt))
        .bind(first.seq - 1)
        .bind(last.seq)
        .bind(mode)
        .bind(at.map(ms))
        .bind(first.payload.event_type())
        .bind(first.payload.to_text())
        .bind(ms(first.recorded_at))
        .bind(first.actor.as_str())
        .bind((!more.is_empty()).then(|| Value::Array(more).to_string()));
    bind_row!(query, j)
}

/// A step commit's result: the cancel request its `RETURNING` read, or `Fenced` when the fence
/// did not hold or a sequence number is taken (someone else appended).
fn step_committed(job: JobId, result: sqlx::Result<Vec<Option<String>>>) -> Result<Option<String>> {
    match result {
        // The statement's one row: the cancel request, if any.
        Ok(rows) => Ok(rows.into_iter().next().flatten()),
        Err(e) if is_fenced(&e) => Err(StoreError::Fenced(job)),
        Err(e) => Err(e.into()),
    }
}

impl SqliteDriver {
    /// A lease holder's commit without local writes or audit entries: the bound [`STEP_COMMIT`]
    /// alone, one trip to the connection's thread; `last_seq` is announced once it has committed.
    /// The cancel request it returns is read inside the commit: only a lease holder's job can
    /// carry one, and this lease holder acts on it at its next step boundary either way.
    async fn commit_in_one_statement(
        &self,
        job: JobId,
        query: StepCommit<'_>,
        last_seq: i64,
    ) -> Result<Option<String>> {
        let result = match &self.committer {
            Some(committer) => {
                let mut held = committer.conn.lock().await;
                let conn = match held.as_mut() {
                    Some(conn) => conn,
                    None => held.insert(committer.options.connect().await?),
                };
                let result = query.fetch_all(&mut *conn).await;
                if matches!(&result, Err(e) if !is_fenced(e)) {
                    // Whatever broke, the next commit starts on a new connection.
                    *held = None;
                }
                result
            }
            None => query.fetch_all(&self.pool).await,
        };
        let cancel = step_committed(job, result)?;
        self.announce(job, last_seq);
        Ok(cancel)
    }
}

#[async_trait]
impl Driver for SqliteDriver {
    type Tx = Transaction<'static, Sqlite>;

    fn db(&self) -> Db {
        Db::Sqlite(self.pool.clone())
    }

    async fn migrate(&self) -> Result<()> {
        super::migrations::sqlite().run(&self.pool).await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.feed.subscribe()
    }

    async fn begin(&self) -> Result<Self::Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn commit(&self, tx: Self::Tx, announce: Option<(JobId, i64)>) -> Result<()> {
        tx.commit().await?;
        if let Some((job, seq)) = announce {
            self.announce(job, seq);
        }
        Ok(())
    }

    async fn lock_key(&self, _tx: &mut Self::Tx, _key: &str) -> Result<()> {
        // `BEGIN IMMEDIATE` already makes every write transaction wait for the one before.
        Ok(())
    }

    async fn job_by_idempotency_key(&self, tx: &mut Self::Tx, key: &str) -> Result<Option<JobId>> {
        let found: Option<String> = sqlx::query_scalar("SELECT job_id FROM job_queue WHERE idempotency_key = ?")
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        found.as_deref().map(parse_id).transpose()
    }

    async fn unfinished_requests(&self, tx: &mut Self::Tx, key: &str) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE seq = 1 AND job_id IN
                 (SELECT job_id FROM job_queue WHERE concurrency_key = ? AND state <> ?)
             ORDER BY position"
        ))
        .bind(key)
        .bind(queue_state::DONE)
        .fetch_all(&mut **tx)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn unfinished_with_key(&self, tx: &mut Self::Tx, key: &str, except: JobId) -> Result<Option<JobId>> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT job_id FROM job_queue WHERE concurrency_key = ? AND state <> ? AND job_id <> ? LIMIT 1",
        )
        .bind(key)
        .bind(queue_state::DONE)
        .bind(except.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        found.as_deref().map(parse_id).transpose()
    }

    async fn key_holder(&self, tx: &mut Self::Tx, key: &str) -> Result<Option<JobId>> {
        let found: Option<String> = sqlx::query_scalar("SELECT job_id FROM job_queue WHERE key_held = ?")
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        found.as_deref().map(parse_id).transpose()
    }

    async fn insert_queue_row(&self, tx: &mut Self::Tx, job: &NewJob) -> Result<()> {
        sqlx::query(
            "INSERT INTO job_queue (job_id, job_type, state, run_at, last_seq, idempotency_key, concurrency_key, priority)
             VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
        )
        .bind(job.id.to_string())
        .bind(&job.job_type)
        .bind(queue_state::READY)
        .bind(ms(job.at))
        .bind(&job.idempotency_key)
        .bind(&job.concurrency_key)
        .bind(job.priority.level())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn any_due(&self, request: &ClaimRequest<'_>) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM job_queue q WHERE {})", due_where(request));
        let row = bind_due(sqlx::query(&sql), request).fetch_one(&self.pool).await?;
        Ok(row.try_get::<bool, _>(0)?)
    }

    async fn select_due(&self, tx: &mut Self::Tx, request: &ClaimRequest<'_>) -> Result<Option<DueJob>> {
        let sql = format!(
            "SELECT job_id, job_type, state, attempt, {} AS last_seq, step_failures, cancel_requested_by FROM (
                 SELECT * FROM job_queue q WHERE {}
                 ORDER BY priority + (?1 - run_at) / ?2 DESC, run_at, job_id LIMIT 1) d",
            current_seq("d"),
            due_where(request)
        );
        let q = bind_due(sqlx::query(&sql), request);
        let Some(row) = q.fetch_optional(&mut **tx).await? else { return Ok(None) };
        Ok(Some(DueJob {
            job_id: parse_id(&row.try_get::<String, _>("job_id")?)?,
            job_type: row.try_get("job_type")?,
            lost_lease: row.try_get::<String, _>("state")? == queue_state::LEASED,
            attempts: u32::try_from(row.try_get::<i64, _>("attempt")?).unwrap_or(u32::MAX),
            last_seq: row.try_get("last_seq")?,
            step_failures: u32::try_from(row.try_get::<i64, _>("step_failures")?).unwrap_or(0),
            cancel_requested: row.try_get("cancel_requested_by")?,
        }))
    }

    async fn take_lease(
        &self,
        tx: &mut Self::Tx,
        job: JobId,
        worker: &WorkerId,
        attempt: u32,
        seq: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE job_queue SET state = ?, lease_owner = ?, lease_expires_at = ?, attempt = ?, last_seq = ?,
                 key_held = concurrency_key
             WHERE job_id = ?",
        )
        .bind(queue_state::LEASED)
        .bind(worker.as_str())
        .bind(ms(lease_until))
        .bind(i64::from(attempt))
        .bind(seq)
        .bind(job.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn queue_entry(&self, tx: &mut Self::Tx, job: JobId) -> Result<Option<QueueEntry>> {
        let row = sqlx::query(&format!(
            "SELECT state, lease_expires_at, {} AS last_seq, concurrency_key FROM job_queue q WHERE job_id = ?",
            current_seq("q")
        ))
        .bind(job.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(QueueEntry {
            state: row.try_get("state")?,
            lease_expires_at: row.try_get::<Option<i64>, _>("lease_expires_at")?.map(from_ms),
            last_seq: row.try_get("last_seq")?,
            concurrency_key: row.try_get("concurrency_key")?,
        }))
    }

    async fn flag_cancel(&self, tx: &mut Self::Tx, job: JobId, requested_by: &str) -> Result<()> {
        sqlx::query("UPDATE job_queue SET cancel_requested_by = ? WHERE job_id = ?")
            .bind(requested_by)
            .bind(job.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn set_done(&self, tx: &mut Self::Tx, job: JobId, last_seq: i64) -> Result<()> {
        sqlx::query(
            "UPDATE job_queue SET state = ?, last_seq = ?, lease_owner = NULL, lease_expires_at = NULL, key_held = NULL
             WHERE job_id = ?",
        )
        .bind(queue_state::DONE)
        .bind(last_seq)
        .bind(job.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn set_ready(&self, tx: &mut Self::Tx, job: JobId, run_at: DateTime<Utc>, last_seq: i64) -> Result<()> {
        sqlx::query(
            "UPDATE job_queue SET state = ?, run_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                    step_failures = 0, cancel_requested_by = NULL, last_seq = ?
             WHERE job_id = ?",
        )
        .bind(queue_state::READY)
        .bind(ms(run_at))
        .bind(last_seq)
        .bind(job.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn event_at(&self, tx: &mut Self::Tx, job: JobId, seq: i64) -> Result<Option<Event>> {
        let row = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE job_id = ? AND seq = ?"))
            .bind(job.to_string())
            .bind(seq)
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn last_step(&self, tx: &mut Self::Tx, job: JobId) -> Result<Option<Event>> {
        let row = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE job_id = ? AND event_type = 'StepCompleted' ORDER BY seq DESC LIMIT 1"
        ))
        .bind(job.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn insert_events(
        &self,
        tx: &mut Self::Tx,
        job: JobId,
        events: &[NewEvent],
        touched: &[EntityRef],
    ) -> Result<()> {
        insert_events(tx, job, events, touched).await
    }

    async fn load_job(&self, tx: &mut Self::Tx, job: JobId) -> Result<Option<BackgroundJob>> {
        load_job(tx, job).await
    }

    async fn save_job(&self, tx: &mut Self::Tx, row: &BackgroundJob) -> Result<()> {
        save_job(tx, row).await
    }

    async fn clear_projection(&self, tx: &mut Self::Tx) -> Result<()> {
        sqlx::query("DELETE FROM background_jobs WHERE id IN (SELECT DISTINCT job_id FROM events)")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn all_events(&self, tx: &mut Self::Tx) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY job_id, seq"))
            .fetch_all(&mut **tx)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn commit_append(&self, lease: &Lease, append: &Append<'_>, row: &BackgroundJob) -> Result<Option<String>> {
        let [first, more @ ..] = &append.events[..] else {
            return Err(StoreError::Fenced(lease.job_id));
        };
        let last_seq = more.last().unwrap_or(first).seq;
        let statement = step_commit(lease, append.queue, (first, more), row);
        if append.effects.is_none() && append.touched.is_empty() {
            return self.commit_in_one_statement(lease.job_id, statement, last_seq).await;
        }
        // The same statement, then the audit entries and the local writes, in one transaction.
        let mut tx = self.begin().await?;
        let cancel_requested = step_committed(lease.job_id, statement.fetch_all(&mut *tx).await)?;
        if !append.touched.is_empty() {
            if let Some(step) = append.events.iter().find(|e| matches!(e.payload, EventPayload::StepCompleted(_))) {
                let position: i64 = sqlx::query_scalar("SELECT position FROM events WHERE job_id = ? AND seq = ?")
                    .bind(lease.job_id.to_string())
                    .bind(step.seq)
                    .fetch_one(&mut *tx)
                    .await?;
                file_touched(&mut tx, lease.job_id, position, &append.touched).await?;
            }
        }
        if let Some(effects) = append.effects {
            effects.apply(StoreTx::Sqlite(&mut tx)).await?;
        }
        self.commit(tx, Some((lease.job_id, last_seq))).await?;
        Ok(cancel_requested)
    }

    async fn heartbeat(&self, lease: &Lease, lease_until: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE job_queue SET lease_expires_at = ? WHERE job_id = ? AND state = ? AND lease_owner = ? AND attempt = ?",
        )
        .bind(ms(lease_until))
        .bind(lease.job_id.to_string())
        .bind(queue_state::LEASED)
        .bind(lease.worker.as_str())
        .bind(i64::from(lease.attempt))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        sqlx::query(
            "UPDATE job_queue SET state = ?, lease_owner = NULL, lease_expires_at = NULL
             WHERE job_id = ? AND state = ? AND lease_owner = ? AND attempt = ?",
        )
        .bind(queue_state::READY)
        .bind(lease.job_id.to_string())
        .bind(queue_state::LEASED)
        .bind(lease.worker.as_str())
        .bind(i64::from(lease.attempt))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn wake(&self, job: JobId, now: DateTime<Utc>) -> Result<bool> {
        // A wait resets the step failures; a retry's backoff counts at least one.
        let done = sqlx::query(
            "UPDATE job_queue SET run_at = ?1 WHERE job_id = ?2 AND state = ?3 AND step_failures = 0 AND run_at > ?1",
        )
        .bind(ms(now))
        .bind(job.to_string())
        .bind(queue_state::READY)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn read_job(&self, job: JobId) -> Result<Option<BackgroundJob>> {
        let mut conn = self.pool.acquire().await?;
        load_job(&mut conn, job).await
    }

    async fn list_jobs(&self, f: &JobFilter) -> Result<Vec<BackgroundJob>> {
        let rows = sqlx::query(
            "SELECT * FROM background_jobs
             WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(&f.job_type)
        .bind(f.status.map(|s| s.as_str()))
        .bind(f.before.map(|b| b.to_string()))
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn waiting(&self) -> Result<Vec<WaitingRow>> {
        let rows = sqlx::query(
            "SELECT j.*, q.priority AS queue_priority, q.run_at AS due_at,
                    (SELECT h.job_id FROM job_queue h WHERE h.key_held = q.concurrency_key AND h.job_id <> q.job_id)
                        AS behind
             FROM job_queue q JOIN background_jobs j ON j.id = q.job_id
             WHERE q.state = ?",
        )
        .bind(queue_state::READY)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let behind: Option<String> = r.try_get("behind")?;
                Ok((
                    job_from_row(r)?,
                    r.try_get::<i64, _>("queue_priority")?,
                    from_ms(r.try_get("due_at")?),
                    behind.as_deref().map(parse_id).transpose()?,
                ))
            })
            .collect()
    }

    async fn events(&self, id: JobId, after_seq: i64, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(id.to_string())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn events_by_type(
        &self,
        event_type: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        // Events that are not steps are indexed by type and position (migration 0022); the
        // literal condition lets the planner use that partial index. Steps, or every type, are
        // scanned by position.
        let indexed = event_type.is_some_and(|t| t != "StepCompleted");
        let only = if indexed {
            "event_type = ?1 AND event_type <> 'StepCompleted'"
        } else {
            "(?1 IS NULL OR event_type = ?1)"
        };
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE {only} AND recorded_at >= ?2 AND recorded_at < ?3 AND position > ?4
             ORDER BY position LIMIT ?5"
        ))
        .bind(event_type)
        .bind(ms(from))
        .bind(ms(to))
        .bind(after_position)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn entity_events(&self, entity_key: &str, limit: i64) -> Result<Vec<EntityTouch>> {
        let rows = sqlx::query(
            "SELECT e.position, e.job_id, e.seq, e.event_type, e.payload, e.recorded_at, e.actor, x.action
             FROM event_entities x JOIN events e ON e.position = x.position
             WHERE x.entity_key = ? ORDER BY x.position LIMIT ?",
        )
        .bind(entity_key)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(EntityTouch { event: event_from_row(r)?, action: r.try_get("action")? })).collect()
    }

    async fn prune_batch(&self, cutoff: DateTime<Utc>, batch: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        // The stream holding the newest event stays (until a later job's events follow it): a
        // new event's position is the largest in the table plus one (migration 0023), so the
        // largest must never go down, or positions already handed out (to the notifier's
        // cursor, to a reader paging `/api/events`) would be handed out again.
        let jobs: Vec<String> = sqlx::query_scalar(
            "SELECT j.id FROM background_jobs j
             WHERE j.completed_at IS NOT NULL AND j.completed_at < ?
               AND EXISTS (SELECT 1 FROM events e WHERE e.job_id = j.id)
               AND j.id <> (SELECT job_id FROM events ORDER BY position DESC LIMIT 1)
             LIMIT ?",
        )
        .bind(ms(cutoff))
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        // The log is append-only (migration 0010): its delete trigger lets events go only while
        // this transaction holds the prune guard's row, which it removes before committing.
        sqlx::query("INSERT INTO prune_guard (one) VALUES (1)").execute(&mut *tx).await?;
        let mut deleted = 0;
        for id in &jobs {
            sqlx::query("DELETE FROM event_entities WHERE job_id = ?").bind(id).execute(&mut *tx).await?;
            deleted +=
                sqlx::query("DELETE FROM events WHERE job_id = ?").bind(id).execute(&mut *tx).await?.rows_affected();
        }
        sqlx::query("DELETE FROM prune_guard").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn job_counts(&self) -> Result<Vec<(String, JobStatus, i64)>> {
        let rows = sqlx::query("SELECT type, status, COUNT(*) AS n FROM background_jobs GROUP BY type, status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                Ok((
                    r.try_get("type")?,
                    JobStatus::from_str(&status).map_err(|e| sqlx::Error::Decode(e.into()))?,
                    r.try_get("n")?,
                ))
            })
            .collect()
    }
}
