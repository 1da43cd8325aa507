//! The PostgreSQL driver: many worker processes on many machines.
//!
//! Claims take the due row of the highest effective priority with `FOR UPDATE SKIP LOCKED`, so
//! workers never wait on each other; the unique index on `key_held` makes two claims of one
//! concurrency key exclusive (the loser's update fails and it looks again). Requests for one key
//! take a transaction-scoped advisory lock, so two with the same input cannot both queue. Appends
//! call `pg_notify` inside their transaction (delivered on commit; a running job's mid-job commits
//! coalesced, see `notify_gate`); one listener connection per store turns those into the live
//! feed, which wakes idle workers and streams progress to the API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgListener, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Row, Transaction};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::core::Core;
use super::driver::{Driver, DueJob, QueueEntry, WaitingRow};
use super::notify_gate::{Deferred, NotifyGate};
use super::{
    queue_state, Append, ClaimRequest, Db, EntityTouch, JobFilter, Lease, NewJob, Notice, QueueChange, Result,
    StoreError, StoreTx,
};
use crate::event::{EntityRef, Event, EventPayload, NewEvent};
use crate::ids::{JobId, WorkerId};
use crate::job::{BackgroundJob, JobStatus};

/// The notification channel appends announce on.
const CHANNEL: &str = "dongbo_events";

/// The PostgreSQL store.
pub type PgStore = Core<PgDriver>;

/// The PostgreSQL driver.
#[derive(Clone)]
pub struct PgDriver {
    pool: PgPool,
    feed: broadcast::Sender<Notice>,
    gate: Arc<NotifyGate>,
    /// The connection each running job of this process commits its steps on, kept from one step
    /// to the next: a pool checkout costs more than the single-statement commit it serves.
    held: Arc<Mutex<HashMap<JobId, PoolConnection<Postgres>>>>,
    /// At most this many connections are held, leaving the rest of the pool to everything else.
    held_cap: usize,
}

impl Core<PgDriver> {
    /// Connects with a pool of default size and starts the live feed.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, 16).await
    }

    /// Connects with `max_connections` and starts the live feed.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(60))
            .connect(url)
            .await?;
        let (feed, _) = broadcast::channel(4096);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let weak = feed.downgrade();
        tokio::spawn(async move {
            // PgListener reconnects by itself after a dropped connection; notices sent meanwhile
            // are lost, which only delays a wake-up until the next poll. The task ends with the
            // store (when the feed's last sender is gone).
            loop {
                let received = listener.recv().await;
                let Some(tx) = weak.upgrade() else { break };
                match received {
                    Ok(n) => {
                        if let Some(notice) = parse_notice(n.payload()) {
                            let _ = tx.send(notice);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "live feed listener failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let held_cap = usize::try_from(max_connections / 2).unwrap_or(1);
        Ok(Core { driver: PgDriver { pool, feed, gate: Arc::default(), held: Arc::default(), held_cap } })
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.driver.pool
    }
}

impl PgDriver {
    /// The connection `job`'s lease holder commits on: the one it held since its last step
    /// (`true`), or a fresh checkout.
    async fn lease_conn(&self, job: JobId) -> Result<(PoolConnection<Postgres>, bool)> {
        let held = self.held.lock().expect("held connections poisoned").remove(&job);
        match held {
            Some(conn) => Ok((conn, true)),
            None => Ok((self.pool.acquire().await?, false)),
        }
    }

    /// Keeps `conn` for `job`'s next step (a connection that failed is never kept: it goes back
    /// to the pool, which closes a broken one).
    fn hold_conn(&self, job: JobId, conn: PoolConnection<Postgres>) {
        let mut held = self.held.lock().expect("held connections poisoned");
        if held.len() < self.held_cap {
            held.insert(job, conn);
        }
    }

    /// Returns `job`'s held connection to the pool.
    fn drop_conn(&self, job: JobId) {
        self.held.lock().expect("held connections poisoned").remove(&job);
    }
}

fn parse_notice(payload: &str) -> Option<Notice> {
    let (job, seq) = payload.split_once(':')?;
    Some(Notice { job_id: job.parse().ok()?, seq: seq.parse().ok()? })
}

fn job_from_row(r: &PgRow) -> Result<BackgroundJob> {
    let status: String = r.try_get("status")?;
    let id: Uuid = r.try_get("id")?;
    Ok(BackgroundJob {
        id: JobId::from(id),
        job_type: r.try_get("type")?,
        status: status.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        priority: r.try_get::<String, _>("priority")?.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        total: r.try_get("total")?,
        processed: r.try_get("processed")?,
        successful: r.try_get("successful")?,
        failed: r.try_get("failed")?,
        metadata: r.try_get("metadata")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        updated_at: r.try_get("updated_at")?,
        completed_at: r.try_get("completed_at")?,
        attempts: r.try_get("attempts")?,
    })
}

fn event_from_row(r: &PgRow) -> Result<Event> {
    let id: Uuid = r.try_get("job_id")?;
    Ok(Event {
        position: r.try_get("position")?,
        job_id: JobId::from(id),
        seq: r.try_get("seq")?,
        event_type: r.try_get("event_type")?,
        payload: r.try_get("payload")?,
        recorded_at: r.try_get("recorded_at")?,
        actor: r.try_get("actor")?,
    })
}

const EVENT_COLUMNS: &str = "position, job_id, seq, event_type, payload, recorded_at, actor";

async fn load_job(conn: &mut PgConnection, id: JobId) -> Result<Option<BackgroundJob>> {
    let row =
        sqlx::query("SELECT * FROM background_jobs WHERE id = $1").bind(id.as_uuid()).fetch_optional(conn).await?;
    row.as_ref().map(job_from_row).transpose()
}

async fn save_job(conn: &mut PgConnection, j: &BackgroundJob) -> Result<()> {
    sqlx::query(
        "INSERT INTO background_jobs (id, type, status, total, processed, successful, failed, metadata, error,
             created_at, started_at, updated_at, completed_at, attempts, priority)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO UPDATE SET type = excluded.type, status = excluded.status, total = excluded.total,
             priority = excluded.priority,
             processed = excluded.processed, successful = excluded.successful, failed = excluded.failed,
             metadata = excluded.metadata, error = excluded.error, created_at = excluded.created_at,
             started_at = excluded.started_at, updated_at = excluded.updated_at,
             completed_at = excluded.completed_at, attempts = excluded.attempts",
    )
    .bind(j.id.as_uuid())
    .bind(&j.job_type)
    .bind(j.status.as_str())
    .bind(j.total)
    .bind(j.processed)
    .bind(j.successful)
    .bind(j.failed)
    .bind(&j.metadata)
    .bind(&j.error)
    .bind(j.created_at)
    .bind(j.started_at)
    .bind(j.updated_at)
    .bind(j.completed_at)
    .bind(j.attempts)
    .bind(j.priority.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts events (failing with `Fenced` on a taken sequence number) and files `touched` in the
/// audit index under the `StepCompleted` event among them.
async fn insert_events(
    conn: &mut PgConnection,
    job_id: JobId,
    events: &[NewEvent],
    touched: &[EntityRef],
) -> Result<()> {
    for e in events {
        let position: Option<i64> = sqlx::query_scalar(
            "INSERT INTO events (job_id, seq, event_type, payload, recorded_at, actor) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (job_id, seq) DO NOTHING RETURNING position",
        )
        .bind(job_id.as_uuid())
        .bind(e.seq)
        .bind(e.payload.event_type())
        .bind(sqlx::types::Json(e.payload.as_stored()))
        .bind(e.recorded_at)
        .bind(&e.actor)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(position) = position else {
            return Err(StoreError::Fenced(job_id));
        };
        if let EventPayload::StepCompleted(_) = &e.payload {
            if !touched.is_empty() {
                // One statement for all of them: a step may touch thousands of records.
                let keys: Vec<String> = touched.iter().map(|t| t.key()).collect();
                let actions: Vec<&str> = touched.iter().map(|t| t.action.as_str()).collect();
                sqlx::query(
                    "INSERT INTO event_entities (position, job_id, entity_key, action)
                     SELECT $1, $2, k, a FROM unnest($3::text[], $4::text[]) AS t(k, a)",
                )
                .bind(position)
                .bind(job_id.as_uuid())
                .bind(&keys)
                .bind(&actions)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}

/// Announces `job_id`'s growth to `seq` (on commit, inside a transaction).
async fn notify_on(conn: &mut PgConnection, job_id: JobId, seq: i64) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(format!("{job_id}:{seq}")).execute(conn).await?;
    Ok(())
}

/// Which of the four kinds of queue change `change` is (an index into the cached texts).
fn change_kind(change: QueueChange) -> usize {
    match change {
        QueueChange::Continue { .. } => 0,
        QueueChange::RetryAt { .. } => 1,
        QueueChange::WaitUntil { .. } => 2,
        QueueChange::Finish => 3,
    }
}

/// Fencing and the queue change in one statement: the row must still be ours, at the sequence
/// number before the first new event. Parameters: $1 last seq, $2 the change's time (the lease's
/// new expiry, or when the job runs again; unused by a finish), $3 job, $4 worker, $5 attempt, $6
/// expected previous seq. One text per kind of change, each setting only what that change sets,
/// built once per process: PostgreSQL prepares each once, and a step's statement evaluates no
/// `CASE` on the mode (the executor sets up every expression of a statement on each run: one text
/// for all changes, with its events as arrays, committed at 0.36 of a bare insert's rate on the
/// test cluster where these texts commit at 0.46, measured with `pgbench`).
fn queue_update(change: QueueChange) -> &'static str {
    static TEXTS: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    TEXTS[change_kind(change)].get_or_init(|| {
        let set = match change {
            QueueChange::Continue { .. } => "lease_expires_at = $2, step_failures = 0",
            QueueChange::RetryAt { .. } => {
                "state = 'ready', run_at = $2, lease_owner = NULL, lease_expires_at = NULL, step_failures = step_failures + 1"
            }
            QueueChange::WaitUntil { .. } => {
                "state = 'ready', run_at = $2, lease_owner = NULL, lease_expires_at = NULL, step_failures = 0"
            }
            QueueChange::Finish => "state = 'done', lease_owner = NULL, lease_expires_at = NULL, key_held = NULL",
        };
        format!(
            "UPDATE job_queue SET last_seq = $1, {set}
              WHERE job_id = $3 AND state = 'leased' AND lease_owner = $4 AND attempt = $5 AND last_seq = $6
              RETURNING cancel_requested_by"
        )
    })
}

/// The one-statement step commit for `change`, one event or several, with the notice or
/// without (sixteen texts, each built once per process; sqlx finds its prepared statement by the
/// text): the fenced queue update, the events (one from plain parameters, several as arrays), the
/// projection row and, when `notify`, the notice.
fn one_statement_text(change: QueueChange, one: bool, notify: bool) -> &'static str {
    static TEXTS: [OnceLock<String>; 16] = [const { OnceLock::new() }; 16];
    let slot = change_kind(change) * 4 + usize::from(one) * 2 + usize::from(notify);
    TEXTS[slot].get_or_init(|| {
        let source = if one {
            "SELECT $3, $7, $8, $9, $10, $11 FROM q"
        } else {
            "SELECT $3, e.seq, e.event_type, e.payload, e.recorded_at, e.actor
               FROM unnest($7::bigint[], $8::text[], $9::jsonb[], $10::timestamptz[], $11::text[])
                    AS e(seq, event_type, payload, recorded_at, actor)
              WHERE EXISTS (SELECT 1 FROM q)"
        };
        let (nt, notified) = match notify {
            true => (", nt AS (SELECT pg_notify($23, $24) FROM q)", ", (SELECT count(*) FROM nt) AS notified"),
            false => ("", ""),
        };
        // Data-modifying parts run whether or not the final select reads them; the notice is a
        // plain select, so the final select reads it.
        format!(
            "WITH q AS ({}),
             ev AS (INSERT INTO events (job_id, seq, event_type, payload, recorded_at, actor) {source}),
             pj AS (
                UPDATE background_jobs SET status = $12, total = $13, processed = $14, successful = $15,
                    failed = $16, metadata = $17, error = $18, started_at = $19, updated_at = $20,
                    completed_at = $21, attempts = $22
                WHERE id = $3 AND EXISTS (SELECT 1 FROM q)){nt}
             SELECT q.cancel_requested_by AS cancel{notified} FROM q",
            queue_update(change)
        )
    })
}

/// Binds [`queue_update`]'s parameters for `change` by `lease`, from `first_seq` to `last_seq`.
fn bind_queue_update<'q, O>(
    q: sqlx::query::QueryAs<'q, Postgres, O, PgArguments>,
    lease: &'q Lease,
    change: QueueChange,
    first_seq: i64,
    last_seq: i64,
) -> sqlx::query::QueryAs<'q, Postgres, O, PgArguments> {
    q.bind(last_seq)
        .bind(change.mode().1)
        .bind(lease.job_id.as_uuid())
        .bind(lease.worker.as_str())
        .bind(i32::try_from(lease.attempt).unwrap_or(i32::MAX))
        .bind(first_seq - 1)
}

/// The condition of a job due for a claim (`$1` the job types, `$2` ready, `$3` now, `$4`
/// leased; `$5` is the claim order's aging period), bound by [`bind_due`].
const DUE_WHERE: &str = "job_type = ANY($1)
    AND ((state = $2 AND run_at <= $3) OR (state = $4 AND lease_expires_at < $3))
    AND (concurrency_key IS NULL OR key_held IS NOT NULL
         OR NOT EXISTS (SELECT 1 FROM job_queue h WHERE h.key_held = q.concurrency_key))";

/// Binds [`DUE_WHERE`]'s parameters.
fn bind_due<'q>(
    q: sqlx::query::Query<'q, Postgres, PgArguments>,
    request: &ClaimRequest<'_>,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    let types: Vec<String> = request.job_types.iter().map(|t| (*t).to_owned()).collect();
    q.bind(types).bind(queue_state::READY).bind(request.now).bind(queue_state::LEASED).bind(request.policy.aging_ms())
}

impl PgDriver {
    /// The common step commit — no local writes, no audit entries — as one statement, so it
    /// costs one round trip and one commit: the fenced queue update, the events, the projection
    /// row (folded by the caller from the row it holds) and the notification. A step's usual
    /// append, one event, is inserted from plain parameters; several come as arrays.
    async fn append_in_one_statement(
        &self,
        lease: &Lease,
        events: &[NewEvent],
        queue: QueueChange,
        row: &BackgroundJob,
        notify: bool,
        conn: &mut PgConnection,
    ) -> Result<Option<String>> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Err(StoreError::Fenced(lease.job_id));
        };
        let one = events.len() == 1;
        let sql = one_statement_text(queue, one, notify);
        let q = bind_queue_update(sqlx::query_as::<_, (Option<String>,)>(sql), lease, queue, first.seq, last.seq);
        let q = if one {
            let e = first;
            let payload = sqlx::types::Json(e.payload.as_stored());
            q.bind(e.seq).bind(e.payload.event_type()).bind(payload).bind(e.recorded_at).bind(&e.actor)
        } else {
            let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            let types: Vec<&str> = events.iter().map(|e| e.payload.event_type()).collect();
            let payloads: Vec<Value> = events.iter().map(|e| e.payload.to_json()).collect();
            let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.recorded_at).collect();
            let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
            q.bind(seqs).bind(types).bind(payloads).bind(times).bind(actors)
        };
        let q = q
            .bind(row.status.as_str())
            .bind(row.total)
            .bind(row.processed)
            .bind(row.successful)
            .bind(row.failed)
            .bind(&row.metadata)
            .bind(&row.error)
            .bind(row.started_at)
            .bind(row.updated_at)
            .bind(row.completed_at)
            .bind(row.attempts);
        let q = if notify { q.bind(CHANNEL).bind(format!("{}:{}", lease.job_id, last.seq)) } else { q };
        match q.fetch_optional(conn).await {
            Ok(Some((cancel,))) => Ok(cancel),
            // The row is not ours at the sequence number before ours.
            Ok(None) => Err(StoreError::Fenced(lease.job_id)),
            // A taken sequence number: someone else appended first.
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => {
                Err(StoreError::Fenced(lease.job_id))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl PgDriver {
    /// One try of a step commit on `conn`.
    async fn append_on(
        &self,
        conn: &mut PgConnection,
        lease: &Lease,
        append: &Append<'_>,
        row: &BackgroundJob,
        notify: bool,
    ) -> Result<Option<String>> {
        if append.effects.is_none() && append.touched.is_empty() {
            self.append_in_one_statement(lease, &append.events, append.queue, row, notify, conn).await
        } else {
            self.append_in_transaction(lease, append, row, notify, conn).await
        }
    }

    /// A step commit with local writes or audit entries, as one transaction.
    async fn append_in_transaction(
        &self,
        lease: &Lease,
        append: &Append<'_>,
        row: &BackgroundJob,
        notify: bool,
        conn: &mut PgConnection,
    ) -> Result<Option<String>> {
        let (Some(first_seq), Some(last_seq)) =
            (append.events.first().map(|e| e.seq), append.events.last().map(|e| e.seq))
        else {
            return Err(StoreError::Fenced(lease.job_id));
        };
        let mut tx = conn.begin().await?;
        let held: Option<(Option<String>,)> =
            bind_queue_update(sqlx::query_as(queue_update(append.queue)), lease, append.queue, first_seq, last_seq)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((cancel_requested,)) = held else {
            return Err(StoreError::Fenced(lease.job_id));
        };
        insert_events(&mut tx, lease.job_id, &append.events, &append.touched).await?;
        save_job(&mut tx, row).await?;
        if let Some(effects) = append.effects {
            effects.apply(StoreTx::Postgres(&mut tx)).await?;
        }
        if notify {
            notify_on(&mut tx, lease.job_id, last_seq).await?;
        }
        tx.commit().await?;
        Ok(cancel_requested)
    }

    /// Sends the trailing notice of `job`'s coalesced commits at `at`.
    fn flush_later(&self, job: JobId, at: Instant) {
        let (gate, pool) = (self.gate.clone(), self.pool.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let Some(seq) = gate.flush(job, Instant::now()) else { return };
            let sent =
                sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(format!("{job}:{seq}")).execute(&pool).await;
            if let Err(e) = sent {
                // Listeners then see this job's progress with its next notice.
                tracing::warn!(job = %job, error = %e, "trailing notice failed");
            }
        });
    }
}

/// Whether `e` says the connection itself failed (it broke, or the server ended the session), as
/// opposed to the statement.
fn is_connection_failure(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) => true,
        // Class 08: connection exception; 57P01-57P03: the server is shutting down or restarting.
        StoreError::Database(sqlx::Error::Database(d)) => {
            d.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

#[async_trait]
impl Driver for PgDriver {
    type Tx = Transaction<'static, Postgres>;

    fn db(&self) -> Db {
        Db::Postgres(self.pool.clone())
    }

    async fn migrate(&self) -> Result<()> {
        super::migrations::postgres().run(&self.pool).await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.feed.subscribe()
    }

    async fn begin(&self) -> Result<Self::Tx> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(&self, mut tx: Self::Tx, announce: Option<(JobId, i64)>) -> Result<()> {
        if let Some((job, seq)) = announce {
            notify_on(&mut tx, job, seq).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn lock_key(&self, tx: &mut Self::Tx, key: &str) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(&mut **tx).await?;
        Ok(())
    }

    async fn job_by_idempotency_key(&self, tx: &mut Self::Tx, key: &str) -> Result<Option<JobId>> {
        let found: Option<Uuid> = sqlx::query_scalar("SELECT job_id FROM job_queue WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(found.map(JobId::from))
    }

    async fn unfinished_requests(&self, tx: &mut Self::Tx, key: &str) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE seq = 1 AND job_id IN
                 (SELECT job_id FROM job_queue WHERE concurrency_key = $1 AND state <> $2)
             ORDER BY position"
        ))
        .bind(key)
        .bind(queue_state::DONE)
        .fetch_all(&mut **tx)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn unfinished_with_key(&self, tx: &mut Self::Tx, key: &str, except: JobId) -> Result<Option<JobId>> {
        let found: Option<Uuid> = sqlx::query_scalar(
            "SELECT job_id FROM job_queue WHERE concurrency_key = $1 AND state <> $2 AND job_id <> $3 LIMIT 1",
        )
        .bind(key)
        .bind(queue_state::DONE)
        .bind(except.as_uuid())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(found.map(JobId::from))
    }

    async fn key_holder(&self, tx: &mut Self::Tx, key: &str) -> Result<Option<JobId>> {
        let found: Option<Uuid> = sqlx::query_scalar("SELECT job_id FROM job_queue WHERE key_held = $1")
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(found.map(JobId::from))
    }

    async fn insert_queue_row(&self, tx: &mut Self::Tx, job: &NewJob) -> Result<()> {
        sqlx::query(
            "INSERT INTO job_queue (job_id, job_type, state, run_at, last_seq, idempotency_key, concurrency_key, priority)
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7)",
        )
        .bind(job.id.as_uuid())
        .bind(&job.job_type)
        .bind(queue_state::READY)
        .bind(job.at)
        .bind(&job.idempotency_key)
        .bind(&job.concurrency_key)
        .bind(i32::try_from(job.priority.level()).unwrap_or(i32::MAX))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn any_due(&self, request: &ClaimRequest<'_>) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM job_queue q WHERE {DUE_WHERE})");
        let row = bind_due(sqlx::query(&sql), request).fetch_one(&self.pool).await?;
        Ok(row.try_get::<bool, _>(0)?)
    }

    async fn select_due(&self, tx: &mut Self::Tx, request: &ClaimRequest<'_>) -> Result<Option<DueJob>> {
        let sql = format!(
            "SELECT job_id, job_type, state, attempt, last_seq, step_failures, cancel_requested_by FROM job_queue q
             WHERE {DUE_WHERE}
             ORDER BY priority + (EXTRACT(EPOCH FROM ($3 - run_at)) * 1000)::bigint / $5 DESC, run_at, job_id
             LIMIT 1
             FOR UPDATE SKIP LOCKED"
        );
        let row = bind_due(sqlx::query(&sql), request).fetch_optional(&mut **tx).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(DueJob {
            job_id: JobId::from(row.try_get::<Uuid, _>("job_id")?),
            job_type: row.try_get("job_type")?,
            lost_lease: row.try_get::<String, _>("state")? == queue_state::LEASED,
            attempts: u32::try_from(row.try_get::<i32, _>("attempt")?).unwrap_or(u32::MAX),
            last_seq: row.try_get("last_seq")?,
            step_failures: u32::try_from(row.try_get::<i32, _>("step_failures")?).unwrap_or(0),
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
            "UPDATE job_queue SET state = $1, lease_owner = $2, lease_expires_at = $3, attempt = $4, last_seq = $5,
                 key_held = concurrency_key
             WHERE job_id = $6",
        )
        .bind(queue_state::LEASED)
        .bind(worker.as_str())
        .bind(lease_until)
        .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
        .bind(seq)
        .bind(job.as_uuid())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn queue_entry(&self, tx: &mut Self::Tx, job: JobId) -> Result<Option<QueueEntry>> {
        let row = sqlx::query(
            "SELECT state, lease_expires_at, last_seq, concurrency_key FROM job_queue WHERE job_id = $1 FOR UPDATE",
        )
        .bind(job.as_uuid())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(QueueEntry {
            state: row.try_get("state")?,
            lease_expires_at: row.try_get("lease_expires_at")?,
            last_seq: row.try_get("last_seq")?,
            concurrency_key: row.try_get("concurrency_key")?,
        }))
    }

    async fn flag_cancel(&self, tx: &mut Self::Tx, job: JobId, requested_by: &str) -> Result<()> {
        sqlx::query("UPDATE job_queue SET cancel_requested_by = $1 WHERE job_id = $2")
            .bind(requested_by)
            .bind(job.as_uuid())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn set_done(&self, tx: &mut Self::Tx, job: JobId, last_seq: i64) -> Result<()> {
        sqlx::query(
            "UPDATE job_queue SET state = $1, last_seq = $2, lease_owner = NULL, lease_expires_at = NULL,
                 key_held = NULL
             WHERE job_id = $3",
        )
        .bind(queue_state::DONE)
        .bind(last_seq)
        .bind(job.as_uuid())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn set_ready(&self, tx: &mut Self::Tx, job: JobId, run_at: DateTime<Utc>, last_seq: i64) -> Result<()> {
        sqlx::query(
            "UPDATE job_queue SET state = $1, run_at = $2, lease_owner = NULL, lease_expires_at = NULL,
                    step_failures = 0, cancel_requested_by = NULL, last_seq = $3
             WHERE job_id = $4",
        )
        .bind(queue_state::READY)
        .bind(run_at)
        .bind(last_seq)
        .bind(job.as_uuid())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn event_at(&self, tx: &mut Self::Tx, job: JobId, seq: i64) -> Result<Option<Event>> {
        let row = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE job_id = $1 AND seq = $2"))
            .bind(job.as_uuid())
            .bind(seq)
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn last_step(&self, tx: &mut Self::Tx, job: JobId) -> Result<Option<Event>> {
        let row = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE job_id = $1 AND event_type = 'StepCompleted' ORDER BY seq DESC LIMIT 1"
        ))
        .bind(job.as_uuid())
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
        sqlx::query("LOCK TABLE background_jobs IN EXCLUSIVE MODE").execute(&mut **tx).await?;
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
        let Some(last_seq) = append.events.last().map(|e| e.seq) else {
            return Err(StoreError::Fenced(lease.job_id));
        };
        let mid_job = matches!(append.queue, QueueChange::Continue { .. });
        let started = Instant::now();
        let notify = !mid_job || self.gate.announce_now(lease.job_id, started);
        let (mut conn, was_held) = self.lease_conn(lease.job_id).await?;
        let mut committed = self.append_on(&mut conn, lease, append, row, notify).await;
        if was_held && committed.as_ref().is_err_and(is_connection_failure) {
            // The connection held since the last step died meanwhile (a server restart, a network
            // cut); the pool's checkout tests a fresh one. Safe to repeat: had the first try
            // committed after all, the expected sequence number fences this one.
            tracing::info!(job = %lease.job_id, "held connection failed; committing on a fresh one");
            conn = self.pool.acquire().await?;
            committed = self.append_on(&mut conn, lease, append, row, notify).await;
        }
        let committed = committed?;
        if mid_job {
            self.hold_conn(lease.job_id, conn);
        }
        match (mid_job, notify) {
            (false, _) => self.gate.forget(lease.job_id),
            (true, true) => self.gate.announced(lease.job_id, started),
            (true, false) => {
                if let Deferred::FlushAt(at) = self.gate.deferred(lease.job_id, last_seq) {
                    self.flush_later(lease.job_id, at);
                }
            }
        }
        Ok(committed)
    }

    async fn heartbeat(&self, lease: &Lease, lease_until: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE job_queue SET lease_expires_at = $1
             WHERE job_id = $2 AND state = $3 AND lease_owner = $4 AND attempt = $5",
        )
        .bind(lease_until)
        .bind(lease.job_id.as_uuid())
        .bind(queue_state::LEASED)
        .bind(lease.worker.as_str())
        .bind(i32::try_from(lease.attempt).unwrap_or(i32::MAX))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn wake(&self, job: JobId, now: DateTime<Utc>) -> Result<bool> {
        // A wait resets the step failures; a retry's backoff counts at least one.
        let done = sqlx::query(
            "UPDATE job_queue SET run_at = $1 WHERE job_id = $2 AND state = $3 AND step_failures = 0 AND run_at > $1",
        )
        .bind(now)
        .bind(job.as_uuid())
        .bind(queue_state::READY)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        self.gate.forget(lease.job_id);
        self.drop_conn(lease.job_id);
        sqlx::query(
            "UPDATE job_queue SET state = $1, lease_owner = NULL, lease_expires_at = NULL
             WHERE job_id = $2 AND state = $3 AND lease_owner = $4 AND attempt = $5",
        )
        .bind(queue_state::READY)
        .bind(lease.job_id.as_uuid())
        .bind(queue_state::LEASED)
        .bind(lease.worker.as_str())
        .bind(i32::try_from(lease.attempt).unwrap_or(i32::MAX))
        .execute(&self.pool)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{}:0", lease.job_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn read_job(&self, job: JobId) -> Result<Option<BackgroundJob>> {
        let mut conn = self.pool.acquire().await?;
        load_job(&mut conn, job).await
    }

    async fn waiting(&self) -> Result<Vec<WaitingRow>> {
        let rows = sqlx::query(
            "SELECT j.*, q.priority AS queue_priority, q.run_at AS due_at,
                    (SELECT h.job_id FROM job_queue h WHERE h.key_held = q.concurrency_key AND h.job_id <> q.job_id)
                        AS behind
             FROM job_queue q JOIN background_jobs j ON j.id = q.job_id
             WHERE q.state = $1",
        )
        .bind(queue_state::READY)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    job_from_row(r)?,
                    i64::from(r.try_get::<i32, _>("queue_priority")?),
                    r.try_get("due_at")?,
                    r.try_get::<Option<Uuid>, _>("behind")?.map(JobId::from),
                ))
            })
            .collect()
    }

    async fn list_jobs(&self, f: &JobFilter) -> Result<Vec<BackgroundJob>> {
        let rows = sqlx::query(
            "SELECT * FROM background_jobs
             WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(&f.job_type)
        .bind(f.status.map(|s| s.as_str()))
        .bind(f.before.map(|b| b.as_uuid()))
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn events(&self, id: JobId, after_seq: i64, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(id.as_uuid())
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
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE ($1::text IS NULL OR event_type = $1) AND recorded_at >= $2 AND recorded_at < $3 AND position > $4
             ORDER BY position LIMIT $5"
        ))
        .bind(event_type)
        .bind(from)
        .bind(to)
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
             WHERE x.entity_key = $1 ORDER BY x.position LIMIT $2",
        )
        .bind(entity_key)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(EntityTouch { event: event_from_row(r)?, action: r.try_get("action")? })).collect()
    }

    async fn prune_batch(&self, cutoff: DateTime<Utc>, batch: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let jobs: Vec<Uuid> = sqlx::query_scalar(
            "SELECT j.id FROM background_jobs j
             WHERE j.completed_at IS NOT NULL AND j.completed_at < $1
               AND EXISTS (SELECT 1 FROM events e WHERE e.job_id = j.id)
             LIMIT $2",
        )
        .bind(cutoff)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        // The log is append-only (migration 0010): its trigger lets events go only in a
        // transaction that says it is the prune, with a setting that ends with the transaction.
        sqlx::query("SELECT set_config('dongbo.prune', 'on', true)").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM event_entities WHERE job_id = ANY($1)").bind(&jobs).execute(&mut *tx).await?;
        let deleted = sqlx::query("DELETE FROM events WHERE job_id = ANY($1)")
            .bind(&jobs)
            .execute(&mut *tx)
            .await?
            .rows_affected();
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
                    status.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
                    r.try_get("n")?,
                ))
            })
            .collect()
    }
}
