//! SQL of webhook deliveries (`migrations/*/0013_webhooks.sql`): recording one, the dispatcher's
//! fenced claims and their outcome, the items' newest applied times, the flags that stop pushes,
//! and the lookups from touched items to mappings.
//!
//! Configuration and bookkeeping, not step work: every function takes a [`Db`]. Each is written
//! once ([`on_db!`]); where the backends differ, [`dialect`](super::dialect) spells it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dongbo_engine::{Db, StoreTx};
use sqlx::error::DatabaseError;
use sqlx::{ConnectOptions, Row, SqliteConnection};

use super::dialect::{on_db, on_tx};

type R<T> = Result<T, sqlx::Error>;

/// A delivery to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// `nhanh` or `shopify`.
    pub source: &'static str,
    /// The event or topic.
    pub topic: String,
    /// Refuses a second copy while set (see the migration).
    pub dedup_key: String,
    /// A digest of the body.
    pub content_key: String,
    /// When it arrived (unix ms).
    pub received_at: i64,
    /// When the source says it happened (unix ms).
    pub triggered_at: Option<i64>,
    /// The body as stored.
    pub body: String,
    /// The touches, as JSON.
    pub touches: String,
    /// `RECEIVED`, or `IGNORED` with `note`.
    pub state: &'static str,
    /// Why it is ignored.
    pub note: Option<String>,
}

/// What recording did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The delivery's id (the earlier copy's, for a duplicate).
    pub id: i64,
    /// Whether an earlier copy was already recorded (and this one was not).
    pub duplicate: bool,
}

/// Records every delivery of `ds` in one write transaction (one commit, one wait for the
/// writer's lock on SQLite, however many there are), or finds the copy recorded before under
/// the same key — earlier in `ds` included. One [`Recorded`] per delivery, in order; on an
/// error nothing is recorded.
pub async fn record_all(db: &Db, ds: &[NewDelivery]) -> R<Vec<Recorded>> {
    on_db!(db, |pool, dialect| {
        let mut tx = dialect.begin_write(pool).await?;
        let recorded = insert_all(&mut dialect.tx(&mut tx), ds).await?;
        tx.commit().await?;
        Ok(recorded)
    })
}

/// [`record_all`]'s writes, in the transaction `tx`.
async fn insert_all(tx: &mut StoreTx<'_>, ds: &[NewDelivery]) -> R<Vec<Recorded>> {
    const INSERT: &str = "INSERT INTO webhook_deliveries
            (source, topic, dedup_key, content_key, received_at, triggered_at, body, touches, state, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (dedup_key) DO NOTHING RETURNING id";
    const EARLIER: &str = "SELECT id FROM webhook_deliveries WHERE dedup_key = $1";
    on_tx!(tx, |conn, _dialect| {
        let mut out = Vec::with_capacity(ds.len());
        for d in ds {
            let id: Option<i64> = sqlx::query_scalar(INSERT)
                .bind(d.source)
                .bind(&d.topic)
                .bind(&d.dedup_key)
                .bind(&d.content_key)
                .bind(d.received_at)
                .bind(d.triggered_at)
                .bind(&d.body)
                .bind(&d.touches)
                .bind(d.state)
                .bind(&d.note)
                .fetch_optional(&mut *conn)
                .await?;
            out.push(match id {
                Some(id) => Recorded { id, duplicate: false },
                None => {
                    let id: i64 = sqlx::query_scalar(EARLIER).bind(&d.dedup_key).fetch_one(&mut *conn).await?;
                    Recorded { id, duplicate: true }
                }
            });
        }
        Ok(out)
    })
}

/// How long [`DeliveryWriter`] asks for SQLite's writer lock before it gives up (the pool's
/// busy timeout).
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// How often [`DeliveryWriter`] asks for SQLite's writer lock while another writer holds it.
const LOCK_POLL: Duration = Duration::from_millis(1);

/// The one writer of arriving deliveries in a process ([`record_all`] on a connection of its
/// own). On a SQLite file it keeps its own connection, which asks for the writer's lock every
/// millisecond while another writer holds it: SQLite's own wait sleeps 1, 2, 5, 10, 15, 20,
/// 25 … ms between tries whatever the lock's real hold time, so a delivery that meets a few
/// short step commits in a row waited 50–100 ms for locks held a few ms each. Elsewhere (an
/// in-memory SQLite, PostgreSQL, whose rows lock one by one) it writes through the pool.
pub struct DeliveryWriter {
    db: Db,
    own: OwnConnection,
    lock_asks: Arc<AtomicU64>,
}

enum OwnConnection {
    /// Not yet known whether the database is a file.
    Unknown,
    /// The pool's database is not a file (or not SQLite): the pool is used.
    None,
    /// A SQLite file, not connected (yet, or again after a failure).
    Closed,
    /// A SQLite file, connected, busy timeout off.
    Open(SqliteConnection),
}

impl DeliveryWriter {
    /// A writer over `db`; it connects on first use.
    pub fn new(db: Db) -> DeliveryWriter {
        DeliveryWriter { db, own: OwnConnection::Unknown, lock_asks: Default::default() }
    }

    /// How many times this writer has found SQLite's lock taken and asked again, so far.
    pub fn lock_asks(&self) -> Arc<AtomicU64> {
        self.lock_asks.clone()
    }

    /// [`record_all`].
    pub async fn record_all(&mut self, ds: &[NewDelivery]) -> R<Vec<Recorded>> {
        let Db::Sqlite(pool) = &self.db else { return record_all(&self.db, ds).await };
        if matches!(self.own, OwnConnection::Unknown) {
            // An in-memory database exists once per connection: a second one would be empty.
            let file: String =
                sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'").fetch_one(pool).await?;
            self.own = if file.is_empty() { OwnConnection::None } else { OwnConnection::Closed };
        }
        if matches!(self.own, OwnConnection::None) {
            return record_all(&self.db, ds).await;
        }
        if matches!(self.own, OwnConnection::Closed) {
            let mut conn = pool.connect_options().connect().await?;
            sqlx::query("PRAGMA busy_timeout = 0").execute(&mut conn).await?;
            self.own = OwnConnection::Open(conn);
        }
        let OwnConnection::Open(conn) = &mut self.own else { return record_all(&self.db, ds).await };
        let result = Self::write(conn, ds, &self.lock_asks).await;
        if result.is_err() {
            // Whatever broke, the next batch starts on a new connection (dropping this one
            // rolls back whatever it had begun).
            self.own = OwnConnection::Closed;
        }
        result
    }

    async fn write(conn: &mut SqliteConnection, ds: &[NewDelivery], asks: &AtomicU64) -> R<Vec<Recorded>> {
        until_not_busy(conn, "BEGIN IMMEDIATE", asks).await?;
        let recorded = insert_all(&mut StoreTx::Sqlite(conn), ds).await?;
        until_not_busy(conn, "COMMIT", asks).await?;
        Ok(recorded)
    }
}

/// Runs `sql` on `conn` (busy timeout off), again every [`LOCK_POLL`] while SQLite answers that
/// another connection holds the lock it needs, for up to [`LOCK_WAIT`]; `asks` counts the
/// tries after the first.
async fn until_not_busy(conn: &mut SqliteConnection, sql: &str, asks: &AtomicU64) -> R<()> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        match sqlx::query(sql).execute(&mut *conn).await {
            Ok(_) => return Ok(()),
            Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                asks.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(LOCK_POLL).await
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `e` is the database refusing what was written (a constraint, a value), as opposed to
/// the database being unreachable, busy or broken — a refusal may be one delivery's doing, so the
/// others of its batch are worth recording alone.
pub fn refused_a_row(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some() && !is_busy(e)
}

/// Whether `e` is SQLite's `SQLITE_BUSY` (any of its extended codes).
fn is_busy(e: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i64 = 5;
    // PostgreSQL's codes are SQLSTATEs (22021 & 0xff is 5 too): only SQLite's count.
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::sqlite::SqliteError>())
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<i64>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_BUSY)
}

/// When the oldest recorded delivery not yet dispatched arrived (unix ms), not counting those
/// another dispatcher holds (claims running out after `now`).
pub async fn oldest_pending(db: &Db, now: i64) -> R<Option<i64>> {
    const SQL: &str = "SELECT MIN(received_at) FROM webhook_deliveries
         WHERE state = 'RECEIVED' AND (claim_until IS NULL OR claim_until < $1)";
    on_db!(db, |pool, d| sqlx::query_scalar(SQL).bind(now).fetch_one(pool).await)
}

/// A delivery a dispatcher holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRow {
    /// Its id.
    pub id: i64,
    /// `RECEIVED` or `WAITING`.
    pub state: String,
    /// The touches (JSON).
    pub touches: String,
    /// The pull it waits for (`WAITING`).
    pub pull_job_id: Option<String>,
}

/// Claims up to `limit` deliveries no one holds — `WAITING` ones, and `RECEIVED` ones that
/// arrived by `received_by` — for
/// `token` until `until`. The holding condition is repeated outside the subquery, so on
/// PostgreSQL a row another dispatcher claimed meanwhile is re-checked and skipped: two
/// dispatchers never hold one delivery.
pub async fn claim(db: &Db, token: &str, now: i64, until: i64, received_by: i64, limit: i64) -> R<Vec<ClaimedRow>> {
    const SQL: &str = "UPDATE webhook_deliveries SET claim_token = $1, claim_until = $2
         WHERE id IN (SELECT id FROM webhook_deliveries
                      WHERE (state = 'WAITING' OR (state = 'RECEIVED' AND received_at <= $3))
                        AND (claim_until IS NULL OR claim_until < $4)
                      ORDER BY id LIMIT $5)
           AND state IN ('RECEIVED', 'WAITING') AND (claim_until IS NULL OR claim_until < $4)
         RETURNING id, state, touches, pull_job_id";
    let mut out = on_db!(db, |pool, d| {
        let rows =
            sqlx::query(SQL).bind(token).bind(until).bind(received_by).bind(now).bind(limit).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ClaimedRow {
                    id: r.try_get(0)?,
                    state: r.try_get(1)?,
                    touches: r.try_get(2)?,
                    pull_job_id: r.try_get(3)?,
                })
            })
            .collect::<R<Vec<_>>>()?
    });
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// What became of a claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handed to job `job_id`.
    Dispatched {
        /// The job.
        job_id: String,
        /// What it said (e.g. which mappings).
        note: Option<String>,
    },
    /// Waiting for pull `job_id` before its next job.
    Waiting {
        /// The pull.
        job_id: String,
    },
    /// Nothing to do (`IGNORED`) or older than what was acted on (`STALE`).
    Closed {
        /// `IGNORED` or `STALE`.
        state: &'static str,
        /// Why.
        note: String,
    },
    /// Not handled now (the job it needs could not be asked for yet): back to the queue.
    Released,
}

/// Writes the outcomes of the deliveries `token` holds and the items' newest applied times, in
/// one transaction of at most four statements, whatever the number of deliveries: the
/// dispatcher finishes a burst of a few hundred at once, and on SQLite every other writer
/// (arriving deliveries included) waits while it does. A delivery no longer held by `token`
/// (its claim ran out and another took it) is left alone. Returns how many deliveries were
/// written.
pub async fn finish(db: &Db, token: &str, now: i64, outcomes: &[(i64, Outcome)], versions: &[(String, i64)]) -> R<u64> {
    // (id, state, job, note) of the deliveries handed on or closed; a note or job left out
    // keeps the row's.
    let mut settled: Vec<(i64, &str, Option<String>, Option<String>)> = Vec::new();
    let mut waiting = Vec::new();
    let mut released = Vec::new();
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Dispatched { job_id, note } => {
                settled.push((*id, "DISPATCHED", Some(job_id.clone()), note.clone()))
            }
            Outcome::Closed { state, note } => settled.push((*id, state, None, Some(note.clone()))),
            Outcome::Waiting { job_id } => waiting.push((*id, job_id.clone())),
            Outcome::Released => released.push(*id),
        }
    }
    // One row per item (the newest time), as one upsert must not touch a row twice.
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for (key, at) in versions {
        let seen = newest.entry(key.as_str()).or_insert(*at);
        *seen = (*seen).max(*at);
    }
    let mut newest: Vec<(&str, i64)> = newest.into_iter().collect();
    newest.sort_unstable();
    // Kept, for a Nhanh delivery, only until it is dispatched (see the migration).
    const DEDUP_KEY: &str = "dedup_key = CASE WHEN webhook_deliveries.source = 'nhanh' THEN NULL
             ELSE webhook_deliveries.dedup_key END";
    on_db!(db, |pool, d| {
        let mut tx = d.begin_write(pool).await?;
        let mut written = 0;
        if !settled.is_empty() {
            let sql = format!(
                "UPDATE webhook_deliveries SET state = t.state, job_id = COALESCE(t.job_id, webhook_deliveries.job_id),
                     note = COALESCE(t.note, webhook_deliveries.note), {DEDUP_KEY},
                     dispatched_at = $1, claim_token = NULL, claim_until = NULL
                 FROM {} WHERE webhook_deliveries.id = t.id AND webhook_deliveries.claim_token = $2",
                d.rows(3, &[("id", "bigint"), ("state", "text"), ("job_id", "text"), ("note", "text")])
            );
            let q = d
                .batch(sqlx::query(&sql).bind(now).bind(token), settled.len())
                .col(settled.iter().map(|r| r.0))
                .col(settled.iter().map(|r| r.1))
                .col(settled.iter().map(|r| r.2.clone()))
                .col(settled.iter().map(|r| r.3.clone()))
                .done();
            written += q.execute(&mut *tx).await?.rows_affected();
        }
        if !waiting.is_empty() {
            let sql = format!(
                "UPDATE webhook_deliveries SET state = 'WAITING', pull_job_id = t.job_id, {DEDUP_KEY},
                     claim_token = NULL, claim_until = NULL
                 FROM {} WHERE webhook_deliveries.id = t.id AND webhook_deliveries.claim_token = $1",
                d.rows(2, &[("id", "bigint"), ("job_id", "text")])
            );
            let q = d
                .batch(sqlx::query(&sql).bind(token), waiting.len())
                .col(waiting.iter().map(|r| r.0))
                .col(waiting.iter().map(|r| r.1.clone()))
                .done();
            written += q.execute(&mut *tx).await?.rows_affected();
        }
        if !released.is_empty() {
            let sql = format!(
                "UPDATE webhook_deliveries SET claim_token = NULL, claim_until = NULL
                 WHERE claim_token = $1 AND id {}",
                d.in_list(2, "bigint")
            );
            written += sqlx::query(&sql).bind(token).bind(d.list(&released)).execute(&mut *tx).await?.rows_affected();
        }
        if !newest.is_empty() {
            let sql = format!(
                "INSERT INTO webhook_item_versions (item_key, applied_at) SELECT item_key, applied_at FROM {} WHERE true
                 ON CONFLICT (item_key) DO UPDATE SET applied_at = CASE
                     WHEN excluded.applied_at > webhook_item_versions.applied_at THEN excluded.applied_at
                     ELSE webhook_item_versions.applied_at END",
                d.rows(1, &[("item_key", "text"), ("applied_at", "bigint")])
            );
            d.batch(sqlx::query(&sql), newest.len())
                .col(newest.iter().map(|r| r.0.to_owned()))
                .col(newest.iter().map(|r| r.1))
                .done()
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(written)
    })
}

/// The newest applied times of `keys` (those that have one).
pub async fn versions(db: &Db, keys: &[String]) -> R<HashMap<String, i64>> {
    const SQL: &str = "SELECT applied_at FROM webhook_item_versions WHERE item_key = $1";
    let mut out = HashMap::new();
    for key in keys {
        let at: Option<i64> = on_db!(db, |pool, d| sqlx::query_scalar(SQL).bind(key).fetch_optional(pool).await?);
        if let Some(at) = at {
            out.insert(key.clone(), at);
        }
    }
    Ok(out)
}

/// A delivery as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Its id.
    pub id: i64,
    /// `nhanh` or `shopify`.
    pub source: String,
    /// The event or topic.
    pub topic: String,
    /// When it arrived (unix ms).
    pub received_at: i64,
    /// When the source says it happened (unix ms).
    pub triggered_at: Option<i64>,
    /// `RECEIVED`, `WAITING`, `DISPATCHED`, `IGNORED` or `STALE`.
    pub state: String,
    /// The pull it waited for.
    pub pull_job_id: Option<String>,
    /// The job it caused.
    pub job_id: Option<String>,
    /// Why it was ignored, or what its job covers.
    pub note: Option<String>,
    /// The touches (JSON).
    pub touches: String,
    /// When it was dispatched or closed (unix ms).
    pub dispatched_at: Option<i64>,
}

/// Deliveries newest first, below id `before` (all when `None`), at most `limit`; only those of
/// `job` when given (the deliveries that caused a job).
pub async fn deliveries_page(db: &Db, before: Option<i64>, job: Option<&str>, limit: i64) -> R<Vec<DeliveryRow>> {
    const SQL: &str = "SELECT id, source, topic, received_at, triggered_at, state, pull_job_id, job_id, note, touches,
                dispatched_at
         FROM webhook_deliveries
         WHERE id < $1 AND ($2::text IS NULL OR job_id = $2 OR pull_job_id = $2)
         ORDER BY id DESC LIMIT $3";
    let before = before.unwrap_or(i64::MAX);
    on_db!(db, |pool, d| {
        let rows = sqlx::query(&d.params(SQL)).bind(before).bind(job).bind(limit).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRow {
                    id: r.try_get(0)?,
                    source: r.try_get(1)?,
                    topic: r.try_get(2)?,
                    received_at: r.try_get(3)?,
                    triggered_at: r.try_get(4)?,
                    state: r.try_get(5)?,
                    pull_job_id: r.try_get(6)?,
                    job_id: r.try_get(7)?,
                    note: r.try_get(8)?,
                    touches: r.try_get(9)?,
                    dispatched_at: r.try_get(10)?,
                })
            })
            .collect()
    })
}

/// A raised flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// When (unix ms).
    pub raised_at: i64,
    /// What happened.
    pub detail: String,
}

/// Raises flag `name` (kept at its first raising when already up).
pub async fn raise_flag(db: &Db, name: &str, at: i64, detail: &str) -> R<()> {
    const SQL: &str =
        "INSERT INTO webhook_flags (name, raised_at, detail) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
    on_db!(db, |pool, d| sqlx::query(SQL).bind(name).bind(at).bind(detail).execute(pool).await.map(|_| ()))
}

/// Clears flag `name`; whether it was up.
pub async fn clear_flag(db: &Db, name: &str) -> R<bool> {
    const SQL: &str = "DELETE FROM webhook_flags WHERE name = $1";
    let done = on_db!(db, |pool, d| sqlx::query(SQL).bind(name).execute(pool).await?.rows_affected());
    Ok(done > 0)
}

/// Flag `name`, when raised.
pub async fn flag(db: &Db, name: &str) -> R<Option<Flag>> {
    const SQL: &str = "SELECT raised_at, detail FROM webhook_flags WHERE name = $1";
    on_db!(db, |pool, d| {
        let row = sqlx::query(SQL).bind(name).fetch_optional(pool).await?;
        row.map(|r| Ok(Flag { raised_at: r.try_get(0)?, detail: r.try_get(1)? })).transpose()
    })
}

/// A product mapping a touched item leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductMappingHit {
    /// The mapping.
    pub mapping_id: i64,
    /// The Nhanh product.
    pub nhanh_product_id: i64,
    /// The variant's inventory item (`gid://shopify/InventoryItem/…`), when mirrored.
    pub inventory_item_id: Option<String>,
    /// What was last pushed (`{location gid: quantity}`).
    pub synced_value: Option<serde_json::Value>,
}

/// The product mappings' columns, ahead of a filter over `m` (the mapping) and `v` (its variant).
const PRODUCT_HITS: &str = "SELECT m.id, m.nhanh_product_id, v.inventory_item_id, CAST(m.synced_value AS TEXT)
     FROM product_mappings m LEFT JOIN shopify_variants v ON v.id = m.shopify_variant_id AND v.removed_at IS NULL
     WHERE m.shopify_variant_id IS NOT NULL AND ";

fn product_hit<'r, Rw: Row>(r: &'r Rw) -> R<ProductMappingHit>
where
    usize: sqlx::ColumnIndex<Rw>,
    i64: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
    String: sqlx::Decode<'r, Rw::Database> + sqlx::Type<Rw::Database>,
{
    let synced: Option<String> = r.try_get(3)?;
    Ok(ProductMappingHit {
        mapping_id: r.try_get(0)?,
        nhanh_product_id: r.try_get(1)?,
        inventory_item_id: r.try_get(2)?,
        synced_value: synced.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

/// The product mappings of these Nhanh products.
pub async fn product_mappings_of_nhanh(db: &Db, nhanh_ids: &[i64]) -> R<Vec<ProductMappingHit>> {
    on_db!(db, |pool, d| {
        let sql = format!("{PRODUCT_HITS} m.nhanh_product_id {} ORDER BY m.id", d.in_list(1, "bigint"));
        sqlx::query(&sql).bind(d.list(nhanh_ids)).fetch_all(pool).await?.iter().map(product_hit).collect()
    })
}

/// The product mappings whose variant has one of these inventory items.
pub async fn product_mappings_of_items(db: &Db, item_gids: &[String]) -> R<Vec<ProductMappingHit>> {
    on_db!(db, |pool, d| {
        let sql = format!("{PRODUCT_HITS} v.inventory_item_id {} ORDER BY m.id", d.in_list(1, "text"));
        sqlx::query(&sql).bind(d.list(item_gids)).fetch_all(pool).await?.iter().map(product_hit).collect()
    })
}

/// The customer mappings (mapped ones) of these Nhanh customers: `(mapping id, nhanh id)`.
pub async fn customer_mappings_of_nhanh(db: &Db, nhanh_ids: &[i64]) -> R<Vec<(i64, i64)>> {
    on_db!(db, |pool, d| {
        let sql = format!(
            "SELECT id, nhanh_customer_id FROM customer_mappings
             WHERE shopify_customer_id IS NOT NULL AND nhanh_customer_id {} ORDER BY id",
            d.in_list(1, "bigint")
        );
        sqlx::query_as(&sql).bind(d.list(nhanh_ids)).fetch_all(pool).await
    })
}
