//! SQL of the Nhanh access token's life (`migrations/catalog/*/0011_nhanh_token.sql`): the stored token
//! (sealed: this module never sees it in the clear), the last `app/checkaccesstoken` of the token
//! in use with the depots it covers, the one-time OAuth `state` values, and depot names from
//! `business/depot`.
//!
//! Configuration, not step work: every function takes a [`Db`]. The token is written as the bytes
//! [`crate::nhanh_token::SealingKey::seal`] made; opening them is the caller's business.

use dongbo_engine::Db;
use sqlx::Row;

use super::dialect::{on_db, returned};

type R<T> = Result<T, sqlx::Error>;

/// The stored token row, still sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTokenRow {
    /// The nonce, ciphertext and tag of the token.
    pub sealed: Vec<u8>,
    /// The business the token acts for (`businessId` of `app/getaccesstoken`).
    pub business_id: String,
    /// When dongbo got it (unix seconds).
    pub granted_at: i64,
    /// When it expires, as `app/getaccesstoken` said (unix seconds), if it said.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for SealedTokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedTokenRow")
            .field("sealed", &format_args!("{} bytes", self.sealed.len()))
            .field("business_id", &self.business_id)
            .field("granted_at", &self.granted_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What the last `app/checkaccesstoken` said about the token in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCheckRow {
    /// The token's expiry (unix seconds).
    pub expires_at: i64,
    /// When it was asked (unix seconds).
    pub checked_at: i64,
    /// The depots the token covers, by id.
    pub depot_ids: Vec<u64>,
}

/// Stores `row` as the token, replacing any earlier one, and forgets the last check (it was
/// about another token) and the depots it covered.
pub async fn save_token(db: &Db, row: &SealedTokenRow) -> R<()> {
    on_db!(db, |pool, d| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO nhanh_token (id, sealed_token, business_id, granted_at, expires_at) VALUES (1, $1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET sealed_token = excluded.sealed_token,
                 business_id = excluded.business_id, granted_at = excluded.granted_at,
                 expires_at = excluded.expires_at",
        )
        .bind(&row.sealed)
        .bind(&row.business_id)
        .bind(row.granted_at)
        .bind(row.expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM nhanh_token_check").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM nhanh_token_depots").execute(&mut *tx).await?;
        tx.commit().await
    })
}

/// The stored token, still sealed; `None` when none was ever stored.
pub async fn load_token(db: &Db) -> R<Option<SealedTokenRow>> {
    const SQL: &str = "SELECT sealed_token, business_id, granted_at, expires_at FROM nhanh_token WHERE id = 1";
    on_db!(db, |pool, d| {
        let Some(r) = sqlx::query(SQL).fetch_optional(pool).await? else { return Ok(None) };
        Ok(Some(SealedTokenRow {
            sealed: r.try_get("sealed_token")?,
            business_id: r.try_get("business_id")?,
            granted_at: r.try_get("granted_at")?,
            expires_at: r.try_get("expires_at")?,
        }))
    })
}

/// Records a check of the token in use: its expiry and the depots it covers (replacing the last
/// check's).
pub async fn record_check(db: &Db, check: &TokenCheckRow) -> R<()> {
    on_db!(db, |pool, d| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO nhanh_token_check (id, expires_at, checked_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, checked_at = excluded.checked_at",
        )
        .bind(check.expires_at)
        .bind(check.checked_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM nhanh_token_depots").execute(&mut *tx).await?;
        if !check.depot_ids.is_empty() {
            let insert = format!(
                "INSERT INTO nhanh_token_depots (depot_id) SELECT t.depot_id FROM {} WHERE true ON CONFLICT DO NOTHING",
                d.rows(1, &[("depot_id", "bigint")])
            );
            d.batch(sqlx::query(&insert), check.depot_ids.len())
                .col(check.depot_ids.iter().map(|&id| id as i64))
                .done()
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })
}

/// The last check of the token in use, with its covered depots by id; `None` before any check.
pub async fn last_check(db: &Db) -> R<Option<TokenCheckRow>> {
    const CHECK: &str = "SELECT expires_at, checked_at FROM nhanh_token_check WHERE id = 1";
    const DEPOTS: &str = "SELECT depot_id FROM nhanh_token_depots ORDER BY depot_id";
    let (check, depots): (Option<(i64, i64)>, Vec<i64>) = on_db!(db, |pool, d| {
        (sqlx::query_as(CHECK).fetch_optional(pool).await?, sqlx::query_scalar(DEPOTS).fetch_all(pool).await?)
    });
    Ok(check.map(|(expires_at, checked_at)| TokenCheckRow {
        expires_at,
        checked_at,
        depot_ids: depots.into_iter().map(|d| d as u64).collect(),
    }))
}

/// Remembers `state` as issued at `now`, and forgets states issued before `stale_before` (their
/// authorisations can no longer complete).
pub async fn issue_oauth_state(db: &Db, state: &str, now: i64, stale_before: i64) -> R<()> {
    on_db!(db, |pool, d| {
        sqlx::query("DELETE FROM nhanh_oauth_states WHERE created_at < $1").bind(stale_before).execute(pool).await?;
        sqlx::query("INSERT INTO nhanh_oauth_states (state, created_at) VALUES ($1, $2)")
            .bind(state)
            .bind(now)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Uses up `state`: `true` when dongbo issued it at or after `not_before` and it was not used
/// yet. Either way it cannot be used again.
pub async fn take_oauth_state(db: &Db, state: &str, not_before: i64) -> R<bool> {
    const SQL: &str = "DELETE FROM nhanh_oauth_states WHERE state = $1 RETURNING created_at";
    let issued: Option<i64> =
        on_db!(db, |pool, d| returned(sqlx::query_scalar(SQL).bind(state).fetch_all(pool).await?));
    Ok(issued.is_some_and(|at| at >= not_before))
}

/// Stores the names `business/depot` gave, by depot id (a depot not seen yet is added).
pub async fn save_depot_names(db: &Db, depots: &[(u64, String)]) -> R<()> {
    // One row per depot (a repeated id keeps its last name): one statement cannot upsert a row twice.
    let named: std::collections::BTreeMap<i64, &str> = depots.iter().map(|(id, n)| (*id as i64, n.as_str())).collect();
    if named.is_empty() {
        return Ok(());
    }
    on_db!(db, |pool, d| {
        let upsert = format!(
            "INSERT INTO nhanh_depots (id, name) SELECT * FROM {} WHERE true
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            d.rows(1, &[("id", "bigint"), ("name", "text")])
        );
        d.batch(sqlx::query(&upsert), named.len())
            .col(named.keys().copied())
            .col(named.values().copied())
            .done()
            .execute(pool)
            .await?;
    });
    Ok(())
}
