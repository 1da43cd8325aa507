//! The cluster-wide Nhanh limiter: the async shell over [`slots`](super::slots)' arithmetic and
//! a [`SlotStore`] that keeps the slots where every process sees them.
//!
//! Every `dongbo` process on one PostgreSQL database that calls the same Nhanh app draws from the
//! same `limit` slots per URL, so together they stay under the limit the server counts per
//! appId + businessId + URL. A caller that finds no slot free sleeps for what the arithmetic says
//! and looks again; nothing is held in the database while it sleeps.
//!
//! The limiter only names the operations it needs ([`SlotStore`]); the catalog store implements
//! them on PostgreSQL (`catalog::store::limits::PgSlotStore`) and the caller hands that in, so
//! the connectors never reach into the catalog.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use uuid::Uuid;

use super::slots::{Observation, SharedConfig};

/// What a [`SlotStore`] failed with (its database's error).
pub type SlotError = Box<dyn std::error::Error + Send + Sync>;

/// The slots of one URL of one app.
#[derive(Debug, Clone, Copy)]
pub struct SlotSet<'a> {
    /// The app key (appId and businessId; never the access token).
    pub app_key: &'a str,
    /// The URL path, e.g. `/v3.0/product/list`.
    pub path: &'a str,
    /// Slots in use: a process configured with a lower limit uses the first `limit` of them.
    pub limit: u32,
}

/// Where the shared slots live, as the operations the limiter needs. Every instant is the
/// store's own clock, so processes whose clocks disagree still agree on when a slot frees;
/// durations go in, remaining times come out.
#[async_trait]
pub trait SlotStore: std::fmt::Debug + Send + Sync {
    /// Creates the set's slots if they are missing (free, as if last used long ago).
    async fn ensure_slots(&self, set: SlotSet<'_>) -> Result<(), SlotError>;

    /// Takes the free slot that has been free longest, marking it in flight by `holder` for
    /// `hold`; `None` when the URL is locked out or no slot is free. Concurrent takers never take
    /// the same slot.
    async fn take_slot(&self, set: SlotSet<'_>, holder: Uuid, hold: Duration) -> Result<Option<i32>, SlotError>;

    /// Records a request's completion ([`Completion`]). `false` when the slot is no longer its
    /// holder's (its in-flight hold ran out and another took it; that taker's hold then stands).
    async fn complete_slot(&self, set: SlotSet<'_>, done: Completion) -> Result<bool, SlotError>;

    /// What a caller that found no free slot waits for.
    async fn observe(&self, set: SlotSet<'_>) -> Result<Observation, SlotError>;

    /// The server locked the set's URL out: nobody takes a slot for `hold` from now. A lock that
    /// already runs longer stands.
    async fn lock_out(&self, set: SlotSet<'_>, hold: Duration) -> Result<(), SlotError>;
}

/// Nhanh's limiter for one app, with its slots in a [`SlotStore`].
pub struct SharedNhanhLimiter {
    store: Arc<dyn SlotStore>,
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
    store: Arc<dyn SlotStore>,
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
        done.record(&*self.store, &self.app_key, &self.path, self.limit).await;
    }
}

/// A request's completion on its way to the store: the slot frees `hold` from `replied`, when
/// its reply (or failure) came back. The store takes whatever it waited before it could write
/// (a connection) off `hold`, so the hold never ends early and a busy store does not slow the
/// pace.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    /// When the reply came back.
    pub replied: Instant,
    /// The slot taken.
    pub slot: i32,
    /// Who took it.
    pub holder: Uuid,
    /// How long the slot stays busy from `replied`.
    pub hold: Duration,
}

impl Completion {
    async fn record(self, store: &dyn SlotStore, app_key: &str, path: &str, limit: u32) {
        let set = SlotSet { app_key, path, limit };
        let slot = self.slot;
        match store.complete_slot(set, self).await {
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
            let (store, app_key, path, limit) =
                (self.store.clone(), self.app_key.clone(), std::mem::take(&mut self.path), self.limit);
            runtime.spawn(async move { done.record(&*store, &app_key, &path, limit).await });
        }
    }
}

impl SharedNhanhLimiter {
    /// A limiter for the app `app_key` (see [`slots::app_key`](super::slots::app_key)) with its
    /// slots in `store`.
    pub fn new(store: Arc<dyn SlotStore>, app_key: impl Into<String>, cfg: SharedConfig) -> Self {
        SharedNhanhLimiter { store, app_key: Arc::from(app_key.into()), cfg, ready: Mutex::new(HashSet::new()) }
    }

    /// Its settings.
    pub fn config(&self) -> &SharedConfig {
        &self.cfg
    }

    fn set<'a>(&'a self, path: &'a str) -> SlotSet<'a> {
        SlotSet { app_key: &self.app_key, path, limit: self.cfg.limit() }
    }

    async fn ensure(&self, path: &str) -> Result<(), SlotError> {
        let known = self.ready.lock().unwrap_or_else(|p| p.into_inner()).contains(path);
        if !known {
            self.store.ensure_slots(self.set(path)).await?;
            self.ready.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_owned());
        }
        Ok(())
    }

    /// Waits until a request to `path` may be sent; returns the slot and how long it waited.
    pub async fn acquire(&self, path: &str) -> Result<(SharedPermit, Duration), SlotError> {
        self.ensure(path).await?;
        let started = Instant::now();
        let hold = self.cfg.in_flight_hold();
        loop {
            let holder = Uuid::new_v4();
            if let Some(slot) = self.store.take_slot(self.set(path), holder, hold).await? {
                let permit = SharedPermit {
                    store: self.store.clone(),
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
            let seen = self.store.observe(self.set(path)).await?;
            tokio::time::sleep(self.cfg.next_look(&seen)).await;
        }
    }

    /// The server locked `path` for `locked_for`: every process waits it out.
    pub async fn lock(&self, path: &str, locked_for: Duration) -> Result<(), SlotError> {
        self.store.lock_out(self.set(path), self.cfg.lock_hold(locked_for)).await
    }
}
