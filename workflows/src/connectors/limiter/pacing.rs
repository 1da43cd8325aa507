//! The Nhanh client's choice of limiter: this process alone ([`NhanhLimiter`]) or every process
//! sharing one PostgreSQL database ([`SharedNhanhLimiter`]). Both keep the same rule; only where
//! the slots live differs.

use std::sync::Arc;
use std::time::Duration;

use super::shared::{SharedNhanhLimiter, SharedPermit, SlotStore};
use super::slots::{app_key, SharedConfig};
use super::window::WindowConfig;
use super::{NhanhLimiter, NhanhPermit};
use crate::connectors::error::ConnectorError;

/// Where a Nhanh client keeps its slots.
#[derive(Debug, Clone, Default)]
pub enum PacingScope {
    /// In this process: right when it is the only one calling the app (SQLite, tests, the demo).
    #[default]
    Process,
    /// In this store (the catalog's PostgreSQL database), shared with every process that uses it.
    Cluster(Arc<dyn SlotStore>),
}

/// The limiter a Nhanh client paces itself with.
#[derive(Debug)]
pub enum NhanhPacing {
    /// Slots in this process.
    Local(NhanhLimiter),
    /// Slots in PostgreSQL.
    Shared(SharedNhanhLimiter),
}

/// A slot held by a request in flight.
pub enum NhanhPacingPermit {
    /// From the in-process limiter.
    Local(NhanhPermit),
    /// From the shared limiter.
    Shared(SharedPermit),
}

impl NhanhPacing {
    /// The limiter for `scope`: an app (appId + businessId) with these limits and a client whose
    /// requests time out after `request_timeout`.
    pub fn new(
        scope: PacingScope,
        limits: WindowConfig,
        app_id: &str,
        business_id: &str,
        request_timeout: Duration,
    ) -> Self {
        match scope {
            PacingScope::Process => NhanhPacing::Local(NhanhLimiter::new(limits)),
            PacingScope::Cluster(store) => NhanhPacing::Shared(SharedNhanhLimiter::new(
                store,
                app_key(app_id, business_id),
                SharedConfig::new(limits, request_timeout),
            )),
        }
    }

    /// Whether the slots are shared with other processes.
    pub fn is_shared(&self) -> bool {
        matches!(self, NhanhPacing::Shared(_))
    }

    /// Waits until a request to `path` may be sent; returns the slot and how long it waited. Only
    /// the shared limiter can fail (its database), transiently.
    pub async fn acquire(&self, path: &str) -> Result<(NhanhPacingPermit, Duration), ConnectorError> {
        match self {
            NhanhPacing::Local(l) => {
                let (permit, waited) = l.acquire(path).await;
                Ok((NhanhPacingPermit::Local(permit), waited))
            }
            NhanhPacing::Shared(s) => match s.acquire(path).await {
                Ok((permit, waited)) => Ok((NhanhPacingPermit::Shared(permit), waited)),
                Err(e) => Err(ConnectorError::transient(format!("{path}: the shared Nhanh rate limiter failed: {e}"))),
            },
        }
    }

    /// The server locked `path` for `locked_for`: every caller (every process, when shared)
    /// waits it out.
    pub async fn lock(&self, path: &str, locked_for: Duration) {
        match self {
            NhanhPacing::Local(l) => l.lock(path, locked_for),
            NhanhPacing::Shared(s) => {
                if let Err(e) = s.lock(path, locked_for).await {
                    // Other processes cannot be told; this caller at least does not extend the lock.
                    tracing::warn!(path, error = %e, "recording a Nhanh lock-out in the database failed");
                    tokio::time::sleep(s.config().lock_hold(locked_for)).await;
                }
            }
        }
    }
}

impl NhanhPacingPermit {
    /// The slot taken, when the slots are shared (the in-process limiter numbers none).
    pub fn slot(&self) -> Option<i32> {
        match self {
            NhanhPacingPermit::Local(_) => None,
            NhanhPacingPermit::Shared(p) => Some(p.slot()),
        }
    }

    /// The request's reply (or failure) came back now.
    pub async fn complete(self) {
        match self {
            NhanhPacingPermit::Local(p) => drop(p),
            NhanhPacingPermit::Shared(p) => p.complete().await,
        }
    }
}
