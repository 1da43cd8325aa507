//! The cluster-wide Nhanh limiter: the async shell over [`slots`](super::slots)' arithmetic and
//! the slot rows of [`catalog::store::limits`](crate::catalog::store::limits).
//!
//! Every `dongbo` process on one PostgreSQL database that calls the same Nhanh app draws from the
//! same `limit` slots per URL, so together they stay under the limit the server counts per
//! appId + businessId + URL. A caller that finds no slot free sleeps for what the arithmetic says
//! and looks again; nothing is held in the database while it sleeps.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use super::slots::SharedConfig;
use crate::catalog::store::limits::{self, SlotSet};

/// Nhanh's limiter for one app, with its slots in PostgreSQL.
pub struct SharedNhanhLimiter {
    pool: PgPool,
    app_key: Arc<str>,
    cfg: SharedConfig,
    /// Paths whose slot rows this process has already made sure exist.
    ready: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for SharedNhanhLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedNhanhLimiter")
            .field("app_key", &self.app_key)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// A slot held by a request in flight. [`complete`](Self::complete) it when the reply (or the
/// failure) came back; dropping it uncompleted records the completion in the background, and a
/// process that dies holding it frees it at its in-flight expiry.
pub struct SharedPermit {
    pool: PgPool,
    app_key: Arc<str>,
    path: String,
    limit: u32,
    slot: i32,
    holder: Uuid,
    hold: Duration,
    completed: bool,
}

impl std::fmt::Debug for SharedPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPermit").field("path", &self.path).field("slot", &self.slot).finish_non_exhaustive()
    }
}

impl SharedPermit {
    /// The slot taken (for tests and logs).
    pub fn slot(&self) -> i32 {
        self.slot
    }

    /// Records the completion now: the slot frees `window + margin` from now.
    pub async fn complete(mut self) {
        self.completed = true;
        let done = Completion { replied: Instant::now(), slot: self.slot, holder: self.holder, hold: self.hold };
        done.record(&self.pool, &self.app_key, &self.path, self.limit).await;
    }
}

/// A completion on its way to the database.
struct Completion {
    replied: Instant,
    slot: i32,
    holder: Uuid,
    hold: Duration,
}

impl Completion {
    async fn record(self, pool: &PgPool, app_key: &str, path: &str, limit: u32) {
        let set = SlotSet { app_key, path, limit };
        let slot = self.slot;
        let recorded = async {
            // The database stamps the completion when the update runs, later than the reply came
            // back; the wait for a connection (measured here, in this process) is taken off the
            // hold so a busy pool does not slow the pace. Whatever is left is later than the
            // reply, so the hold never ends early.
            let mut conn = pool.acquire().await?;
            let hold = self.hold.saturating_sub(self.replied.elapsed());
            limits::complete_slot(&mut *conn, set, slot, self.holder, hold).await
        };
        match recorded.await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(path, slot, "a Nhanh slot expired before its request completed"),
            // The slot then frees at its in-flight expiry: later, never too early.
            Err(e) => tracing::warn!(path, slot, error = %e, "recording a Nhanh request's completion failed"),
        }
    }
}

impl Drop for SharedPermit {
    fn drop(&mut self) {
        if self.completed {
            return;
        }
        // A request cancelled mid-flight still completed as far as the server is concerned.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let done = Completion { replied: Instant::now(), slot: self.slot, holder: self.holder, hold: self.hold };
            let (pool, app_key, path, limit) =
                (self.pool.clone(), self.app_key.clone(), std::mem::take(&mut self.path), self.limit);
            runtime.spawn(async move { done.record(&pool, &app_key, &path, limit).await });
        }
    }
}

impl SharedNhanhLimiter {
    /// A limiter for the app `app_key` (see [`slots::app_key`](super::slots::app_key)) on `pool`.
    pub fn new(pool: PgPool, app_key: impl Into<String>, cfg: SharedConfig) -> Self {
        SharedNhanhLimiter { pool, app_key: Arc::from(app_key.into()), cfg, ready: Mutex::new(HashSet::new()) }
    }

    /// Its settings.
    pub fn config(&self) -> &SharedConfig {
        &self.cfg
    }

    fn set<'a>(&'a self, path: &'a str) -> SlotSet<'a> {
        SlotSet { app_key: &self.app_key, path, limit: self.cfg.limit() }
    }

    async fn ensure(&self, path: &str) -> Result<(), sqlx::Error> {
        let known = self.ready.lock().unwrap_or_else(|p| p.into_inner()).contains(path);
        if !known {
            limits::ensure_slots(&self.pool, self.set(path)).await?;
            self.ready.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_owned());
        }
        Ok(())
    }

    /// Waits until a request to `path` may be sent; returns the slot and how long it waited.
    pub async fn acquire(&self, path: &str) -> Result<(SharedPermit, Duration), sqlx::Error> {
        self.ensure(path).await?;
        let started = Instant::now();
        let hold = self.cfg.in_flight_hold();
        loop {
            let holder = Uuid::new_v4();
            if let Some(slot) = limits::take_slot(&self.pool, self.set(path), holder, hold).await? {
                let permit = SharedPermit {
                    pool: self.pool.clone(),
                    app_key: self.app_key.clone(),
                    path: path.to_owned(),
                    limit: self.cfg.limit(),
                    slot,
                    holder,
                    hold: self.cfg.done_hold(),
                    completed: false,
                };
                return Ok((permit, started.elapsed()));
            }
            let seen = limits::observe(&self.pool, self.set(path)).await?;
            tokio::time::sleep(self.cfg.next_look(&seen)).await;
        }
    }

    /// The server locked `path` for `locked_for`: every process waits it out.
    pub async fn lock(&self, path: &str, locked_for: Duration) -> Result<(), sqlx::Error> {
        limits::lock_out(&self.pool, self.set(path), self.cfg.lock_hold(locked_for)).await
    }
}
