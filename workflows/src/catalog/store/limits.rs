//! SQL of the cluster-wide Nhanh limiter ([`SharedNhanhLimiter`](crate::connectors::limiter::shared::SharedNhanhLimiter)):
//! `limit` slot rows per (app key, URL path) in `shared_limit_slots` and the server's lock-outs in
//! `shared_limit_locks` (`migrations/catalog/postgres/0008_shared_limits.sql`). [`PgSlotStore`] is
//! the limiter's [`SlotStore`] on them, handed to it by whoever builds the Nhanh client
//! ([`shared_slots`]).
//!
//! Every instant is the database's (`clock_timestamp()`), so processes on machines whose clocks
//! disagree still agree on when a slot frees; durations cross the boundary as microseconds (in)
//! and seconds remaining (out). A slot is taken with `FOR UPDATE SKIP LOCKED`, so concurrent
//! takers never wait on each other's row locks and never take the same slot.
//!
//! PostgreSQL only: on SQLite a single `dongbo` process owns the database, and the in-process
//! limiter ([`NhanhLimiter`](crate::connectors::limiter::NhanhLimiter)) already sees every
//! request that process sends.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dongbo_engine::Db;
use sqlx::{PgExecutor, PgPool, Row};
use uuid::Uuid;

pub use crate::connectors::limiter::shared::SlotSet;

use super::dialect::returned;
use crate::connectors::limiter::shared::{Completion, SlotError, SlotStore};
use crate::connectors::limiter::slots::{remaining, Observation};

type R<T> = Result<T, sqlx::Error>;

/// The shared limiter's slots in this PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgSlotStore {
    pool: PgPool,
}

impl PgSlotStore {
    /// The slots in `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        PgSlotStore { pool }
    }
}

/// The slots every process on `db` shares, when it is PostgreSQL (`None` on SQLite, where one
/// process owns the database and its in-process limiter already sees every request).
pub fn shared_slots(db: &Db) -> Option<Arc<dyn SlotStore>> {
    super::postgres_pool(db).map(|pool| Arc::new(PgSlotStore::new(pool)) as Arc<dyn SlotStore>)
}

#[async_trait]
impl SlotStore for PgSlotStore {
    async fn ensure_slots(&self, set: SlotSet<'_>) -> Result<(), SlotError> {
        Ok(ensure_slots(&self.pool, set).await?)
    }

    async fn take_slot(&self, set: SlotSet<'_>, holder: Uuid, hold: Duration) -> Result<Option<i32>, SlotError> {
        Ok(take_slot(&self.pool, set, holder, hold).await?)
    }

    async fn complete_slot(&self, set: SlotSet<'_>, done: Completion) -> Result<bool, SlotError> {
        // The database stamps the completion when the update runs, later than the reply came
        // back; the wait for a connection (measured here, in this process) is taken off the
        // hold so a busy pool does not slow the pace. Whatever is left is later than the
        // reply, so the hold never ends early.
        let mut conn = self.pool.acquire().await?;
        let hold = done.hold.saturating_sub(done.replied.elapsed());
        Ok(complete_slot(&mut *conn, set, done.slot, done.holder, hold).await?)
    }

    async fn observe(&self, set: SlotSet<'_>) -> Result<Observation, SlotError> {
        Ok(observe(&self.pool, set).await?)
    }

    async fn lock_out(&self, set: SlotSet<'_>, hold: Duration) -> Result<(), SlotError> {
        Ok(lock_out(&self.pool, set, hold).await?)
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn limit(set: &SlotSet<'_>) -> i32 {
    i32::try_from(set.limit.max(1)).unwrap_or(i32::MAX)
}

/// Creates the set's slot rows if they are missing (free, as if last used long ago).
pub async fn ensure_slots(pool: &PgPool, set: SlotSet<'_>) -> R<()> {
    sqlx::query(
        "INSERT INTO shared_limit_slots (limit_key, path, slot)
         SELECT $1, $2, g FROM generate_series(0, $3 - 1) AS g
         ON CONFLICT DO NOTHING",
    )
    .bind(set.app_key)
    .bind(set.path)
    .bind(limit(&set))
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes the free slot that has been free longest, marking it in flight by `holder` for `hold`;
/// `None` when the URL is locked out or no slot is free.
pub async fn take_slot(pool: &PgPool, set: SlotSet<'_>, holder: Uuid, hold: Duration) -> R<Option<i32>> {
    let rows = sqlx::query(
        "UPDATE shared_limit_slots
         SET busy_until = clock_timestamp() + $4::float8 * interval '1 microsecond', in_flight = true, holder = $5
         WHERE limit_key = $1 AND path = $2 AND slot = (
             SELECT slot FROM shared_limit_slots
             WHERE limit_key = $1 AND path = $2 AND slot < $3 AND busy_until <= clock_timestamp()
               AND NOT EXISTS (
                   SELECT 1 FROM shared_limit_locks l
                   WHERE l.limit_key = $1 AND l.path = $2 AND l.locked_until > clock_timestamp())
             ORDER BY busy_until, slot
             LIMIT 1
             FOR UPDATE SKIP LOCKED)
         RETURNING slot",
    )
    .bind(set.app_key)
    .bind(set.path)
    .bind(limit(&set))
    .bind(micros(hold))
    .bind(holder)
    .fetch_all(pool)
    .await?;
    returned(rows).map(|r| r.try_get::<i32, _>("slot")).transpose()
}

/// Records that `holder`'s request on `slot` completed: the slot frees `hold` from now. Returns
/// `false` when the slot is no longer `holder`'s (its in-flight hold ran out and another took it;
/// that taker's hold then stands). Generic over the executor so a caller can check out the
/// connection first and shorten `hold` by the time that took.
pub async fn complete_slot<'e, E: PgExecutor<'e>>(
    db: E,
    set: SlotSet<'_>,
    slot: i32,
    holder: Uuid,
    hold: Duration,
) -> R<bool> {
    let done = sqlx::query(
        "UPDATE shared_limit_slots
         SET busy_until = clock_timestamp() + $4::float8 * interval '1 microsecond', in_flight = false, holder = NULL
         WHERE limit_key = $1 AND path = $2 AND slot = $3 AND holder = $5",
    )
    .bind(set.app_key)
    .bind(set.path)
    .bind(slot)
    .bind(micros(hold))
    .bind(holder)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a caller that found no free slot waits for: the lock-out, the earliest completed slot
/// and the earliest expiry of a slot in flight.
pub async fn observe(pool: &PgPool, set: SlotSet<'_>) -> R<Observation> {
    let row = sqlx::query(
        "SELECT
             (SELECT EXTRACT(EPOCH FROM (l.locked_until - clock_timestamp()))::float8
              FROM shared_limit_locks l
              WHERE l.limit_key = $1 AND l.path = $2 AND l.locked_until > clock_timestamp()) AS locked_for,
             EXTRACT(EPOCH FROM (min(busy_until) FILTER (WHERE NOT in_flight) - clock_timestamp()))::float8
                 AS next_done_free,
             EXTRACT(EPOCH FROM (min(busy_until) FILTER (WHERE in_flight) - clock_timestamp()))::float8
                 AS next_in_flight_free
         FROM shared_limit_slots
         WHERE limit_key = $1 AND path = $2 AND slot < $3",
    )
    .bind(set.app_key)
    .bind(set.path)
    .bind(limit(&set))
    .fetch_one(pool)
    .await?;
    let secs = |name: &str| row.try_get::<Option<f64>, _>(name).map(|s| s.map(remaining));
    Ok(Observation {
        locked_for: secs("locked_for")?,
        next_done_free: secs("next_done_free")?,
        next_in_flight_free: secs("next_in_flight_free")?,
    })
}

/// The server locked the set's URL out: nobody takes a slot for `hold` from now. A lock that
/// already runs longer stands.
pub async fn lock_out(pool: &PgPool, set: SlotSet<'_>, hold: Duration) -> R<()> {
    sqlx::query(
        "INSERT INTO shared_limit_locks (limit_key, path, locked_until)
         VALUES ($1, $2, clock_timestamp() + $3::float8 * interval '1 microsecond')
         ON CONFLICT (limit_key, path) DO UPDATE
         SET locked_until = GREATEST(shared_limit_locks.locked_until, EXCLUDED.locked_until)",
    )
    .bind(set.app_key)
    .bind(set.path)
    .bind(micros(hold))
    .execute(pool)
    .await?;
    Ok(())
}
