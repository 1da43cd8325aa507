//! Cheap counters a client keeps for benchmarks and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by all clones of a client.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    throttled: AtomicU64,
    locked_out: AtomicU64,
    retries: AtomicU64,
    waited_ms: AtomicU64,
}

/// A point-in-time copy of a client's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorStats {
    /// HTTP requests sent (every attempt counts).
    pub requests: u64,
    /// Shopify replies that said THROTTLED.
    pub throttled: u64,
    /// Nhanh replies that said the app was locked out (ERR_429 / ERR_EXCEEDED_RATE_LIMIT).
    pub locked_out: u64,
    /// Attempts that were a retry of a failed one.
    pub retries: u64,
    /// Total milliseconds callers spent waiting on the limiter before sending.
    pub waited_ms: u64,
}

impl Counters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn locked_out(&self) {
        self.locked_out.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn waited(&self, d: std::time::Duration) {
        self.waited_ms.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ConnectorStats {
        ConnectorStats {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            locked_out: self.locked_out.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            waited_ms: self.waited_ms.load(Ordering::Relaxed),
        }
    }
}
