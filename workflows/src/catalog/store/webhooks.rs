//! SQL of webhook deliveries (`migrations/*/0013_webhooks.sql`): recording one, the dispatcher's
//! fenced claims and their outcome, the items' newest applied times, the flags that stop pushes,
//! and the lookups from touched items to mappings.
//!
//! Configuration and bookkeeping, not step work: every function takes a [`Db`]. Each is written
//! once ([`on_db!`]); where the backends differ, [`dialect`](super::dialect) spells it.

use std::collections::HashMap;

use dongbo_engine::Db;
use sqlx::Row;

use super::dialect::on_db;

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

/// Records `d`, or finds the copy recorded before under the same key.
pub async fn record(db: &Db, d: &NewDelivery) -> R<Recorded> {
    const INSERT: &str = "INSERT INTO webhook_deliveries
            (source, topic, dedup_key, content_key, received_at, triggered_at, body, touches, state, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (dedup_key) DO NOTHING RETURNING id";
    const EARLIER: &str = "SELECT id FROM webhook_deliveries WHERE dedup_key = $1";
    on_db!(db, |pool, _dialect| {
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
            .fetch_optional(pool)
            .await?;
        Ok(match id {
            Some(id) => Recorded { id, duplicate: false },
            None => {
                let id: i64 = sqlx::query_scalar(EARLIER).bind(&d.dedup_key).fetch_one(pool).await?;
                Recorded { id, duplicate: true }
            }
        })
    })
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
/// one transaction. A delivery no longer held by `token` (its claim ran out and another took it)
/// is left alone. Returns how many rows were written.
pub async fn finish(db: &Db, token: &str, now: i64, outcomes: &[(i64, Outcome)], versions: &[(String, i64)]) -> R<u64> {
    const DISPATCHED: &str =
        "UPDATE webhook_deliveries SET state = 'DISPATCHED', job_id = $1, note = COALESCE($2, note),
             dedup_key = CASE WHEN source = 'nhanh' THEN NULL ELSE dedup_key END,
             dispatched_at = $3, claim_token = NULL, claim_until = NULL
         WHERE id = $4 AND claim_token = $5";
    const WAITING: &str = "UPDATE webhook_deliveries SET state = 'WAITING', pull_job_id = $1,
             dedup_key = CASE WHEN source = 'nhanh' THEN NULL ELSE dedup_key END,
             claim_token = NULL, claim_until = NULL
         WHERE id = $2 AND claim_token = $3";
    const CLOSED: &str = "UPDATE webhook_deliveries SET state = $1, note = $2, dispatched_at = $3,
             dedup_key = CASE WHEN source = 'nhanh' THEN NULL ELSE dedup_key END,
             claim_token = NULL, claim_until = NULL
         WHERE id = $4 AND claim_token = $5";
    const RELEASED: &str =
        "UPDATE webhook_deliveries SET claim_token = NULL, claim_until = NULL WHERE id = $1 AND claim_token = $2";
    const VERSION: &str = "INSERT INTO webhook_item_versions (item_key, applied_at) VALUES ($1, $2)
         ON CONFLICT (item_key) DO UPDATE SET applied_at = CASE
             WHEN excluded.applied_at > webhook_item_versions.applied_at THEN excluded.applied_at
             ELSE webhook_item_versions.applied_at END";
    on_db!(db, |pool, d| {
        let mut tx = pool.begin().await?;
        let mut written = 0;
        for (id, outcome) in outcomes {
            let q = match outcome {
                Outcome::Dispatched { job_id, note } => {
                    sqlx::query(DISPATCHED).bind(job_id).bind(note).bind(now).bind(id).bind(token)
                }
                Outcome::Waiting { job_id } => sqlx::query(WAITING).bind(job_id).bind(id).bind(token),
                Outcome::Closed { state, note } => {
                    sqlx::query(CLOSED).bind(*state).bind(note).bind(now).bind(id).bind(token)
                }
                Outcome::Released => sqlx::query(RELEASED).bind(id).bind(token),
            };
            written += q.execute(&mut *tx).await?.rows_affected();
        }
        for (key, at) in versions {
            sqlx::query(VERSION).bind(key).bind(at).execute(&mut *tx).await?;
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
