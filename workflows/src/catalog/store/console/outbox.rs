//! The outbox of outgoing notifications and the notifier's read positions in the event log.
//!
//! A notification is written here before it is sent (so a restart loses none) under a dedup key
//! (so two processes, or a re-read of the log, enqueue it once). A sender claims one due entry
//! at a time for a while (`claimed_until`), so several processes never send the same entry at
//! once; a crashed sender's claim simply runs out.

use dongbo_engine::Db;

use super::mappings::run;
use super::R;
use crate::catalog::store::dialect::{on_db, returned};

/// Adds a notification unless one with the same `dedup_key` exists. Returns whether it was added.
pub async fn enqueue(db: &Db, dedup_key: &str, event: &str, body: &str, now_ms: i64) -> R<bool> {
    let sql = "INSERT INTO notify_outbox (dedup_key, event, body, created_at, next_attempt_at)
               VALUES ($1, $2, $3, $4, $4) ON CONFLICT (dedup_key) DO NOTHING";
    let done = on_db!(db, |pool, d| {
        sqlx::query(sql).bind(dedup_key).bind(event).bind(body).bind(now_ms).execute(pool).await?.rows_affected()
    });
    Ok(done == 1)
}

/// An entry claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Its id.
    pub id: i64,
    /// The exact body to send.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// Claims the oldest entry due at `now_ms` for `hold_ms`, if any.
pub async fn claim_due(db: &Db, now_ms: i64, hold_ms: i64) -> R<Option<Due>> {
    let pick = "SELECT id FROM notify_outbox
                 WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1
                   AND (claimed_until IS NULL OR claimed_until <= $1)
                 ORDER BY id LIMIT 1";
    let row: Option<(i64, String, i64)> = on_db!(db, |pool, d| {
        let sql = d.params(&format!(
            "UPDATE notify_outbox SET claimed_until = $1::bigint + $2::bigint WHERE id = ({pick}{}) \
             RETURNING id, body, attempts",
            d.skip_locked()
        ));
        returned(sqlx::query_as(&sql).bind(now_ms).bind(hold_ms).fetch_all(pool).await?)
    });
    Ok(row.map(|(id, body, attempts)| Due { id, body, attempts }))
}

/// Records a delivery.
pub async fn mark_delivered(db: &Db, id: i64, now_ms: i64) -> R<()> {
    let sql = "UPDATE notify_outbox SET delivered_at = $2, attempts = attempts + 1, claimed_until = NULL,
               last_error = NULL WHERE id = $1";
    on_db!(db, |pool, d| sqlx::query(sql).bind(id).bind(now_ms).execute(pool).await.map(drop))
}

/// Records a failed attempt: tried again at `retry_at`, or given up (`None`) at `now_ms`.
pub async fn mark_failed(db: &Db, id: i64, error: &str, retry_at: Option<i64>, now_ms: i64) -> R<()> {
    let sql = "UPDATE notify_outbox SET attempts = attempts + 1, claimed_until = NULL, last_error = $2,
                 next_attempt_at = COALESCE($3::bigint, next_attempt_at),
                 gave_up_at = CASE WHEN $3::bigint IS NULL THEN $4::bigint ELSE NULL END
               WHERE id = $1";
    on_db!(db, |pool, d| {
        sqlx::query(&d.params(sql)).bind(id).bind(error).bind(retry_at).bind(now_ms).execute(pool).await.map(drop)
    })
}

/// An outbox entry as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its id.
    pub id: i64,
    /// What makes it unique.
    pub dedup_key: String,
    /// `job.failed`, `job.recovered` or `token.expiring`.
    pub event: String,
    /// The body sent.
    pub body: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When enqueued (unix ms).
    pub created_at: i64,
    /// When delivered (unix ms).
    pub delivered_at: Option<i64>,
    /// When given up (unix ms).
    pub gave_up_at: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// The newest `limit` entries, newest first.
pub async fn outbox_entries(db: &Db, limit: i64) -> R<Vec<OutboxEntry>> {
    let sql = "SELECT id, dedup_key, event, body, attempts, created_at, delivered_at, gave_up_at, last_error
                 FROM notify_outbox ORDER BY id DESC LIMIT $1"
        .to_owned();
    type Raw = (i64, String, String, String, i64, i64, Option<i64>, Option<i64>, Option<String>);
    let rows = run!(db, sql, Raw, |q| q.bind(limit), fetch_all)?;
    Ok(rows
        .into_iter()
        .map(|r| OutboxEntry {
            id: r.0,
            dedup_key: r.1,
            event: r.2,
            body: r.3,
            attempts: r.4,
            created_at: r.5,
            delivered_at: r.6,
            gave_up_at: r.7,
            last_error: r.8,
        })
        .collect())
}

/// Where the notifier stands in the log for one event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Events recorded before this (unix ms) are history: never notified.
    pub since: i64,
    /// The last log position read.
    pub position: i64,
}

/// The cursor `name`, created at `start` (since `now_ms`, position 0) when it does not exist.
pub async fn read_cursor(db: &Db, name: &str, now_ms: i64) -> R<Cursor> {
    let insert = "INSERT INTO notify_cursors (name, since, position) VALUES ($1, $2, 0) ON CONFLICT (name) DO NOTHING";
    let select = "SELECT since, position FROM notify_cursors WHERE name = $1".to_owned();
    on_db!(db, |pool, d| sqlx::query(insert).bind(name).bind(now_ms).execute(pool).await.map(drop))?;
    let (since, position) = run!(db, select, (i64, i64), |q| q.bind(name), fetch_one)?;
    Ok(Cursor { since, position })
}

/// Moves the cursor `name` forward to `position` (never back: another process may be ahead).
pub async fn save_cursor(db: &Db, name: &str, position: i64) -> R<()> {
    let sql = "UPDATE notify_cursors SET position = $2 WHERE name = $1 AND position < $2";
    on_db!(db, |pool, d| sqlx::query(sql).bind(name).bind(position).execute(pool).await.map(drop))
}
