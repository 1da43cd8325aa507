//! Pacing to the upstreams' published limits.
//!
//! The arithmetic is pure and lives in [`window`] (Nhanh: requests per window per URL),
//! [`slots`] (the same rule with the slots shared through PostgreSQL) and [`bucket`] (Shopify:
//! the query-cost bucket); this module is the thin async shell that reads the clock
//! (`tokio::time::Instant`, so tests run under `tokio::time::pause()`), sleeps until the
//! arithmetic says go, and wakes waiters when a request completes.
//!
//! # Layout
//!
//! - [`NhanhLimiter`], [`ShopifyLimiter`]: the in-process limiters.
//! - [`shared`]: [`shared::SharedNhanhLimiter`], Nhanh's limit shared by every process on one
//!   PostgreSQL database (several `dongbo worker`s calling one app).
//! - [`pacing`]: [`pacing::NhanhPacing`], the Nhanh client's choice between the two.

pub mod bucket;
pub mod pacing;
pub mod shared;
pub mod slots;
pub mod window;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::connectors::error::ConnectorError;
use bucket::{CostBucket, Reserve, ThrottleStatus};
use window::{RequestWindow, Verdict, WindowConfig};

// A std mutex is right for both limiters: the critical sections are a few arithmetic steps and
// are never held across an await.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct PathGate {
    window: Mutex<RequestWindow>,
    completed: Notify,
}

/// Nhanh's limiter: one [`RequestWindow`] per URL path, shared by every clone of a client.
pub struct NhanhLimiter {
    cfg: WindowConfig,
    gates: Mutex<HashMap<String, Arc<PathGate>>>,
}

impl std::fmt::Debug for NhanhLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhanhLimiter").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

/// A slot held by a Nhanh request in flight; dropping it marks the request complete.
pub struct NhanhPermit {
    gate: Arc<PathGate>,
}

impl Drop for NhanhPermit {
    fn drop(&mut self) {
        locked(&self.gate.window).complete(Instant::now());
        self.gate.completed.notify_waiters();
    }
}

impl NhanhLimiter {
    /// A limiter with these settings.
    pub fn new(cfg: WindowConfig) -> Self {
        NhanhLimiter { cfg, gates: Mutex::new(HashMap::new()) }
    }

    fn gate(&self, path: &str) -> Arc<PathGate> {
        let mut gates = locked(&self.gates);
        gates
            .entry(path.to_owned())
            .or_insert_with(|| {
                Arc::new(PathGate { window: Mutex::new(RequestWindow::new(self.cfg)), completed: Notify::new() })
            })
            .clone()
    }

    /// Waits until a request to `path` may be sent; returns the slot and how long it waited.
    pub async fn acquire(&self, path: &str) -> (NhanhPermit, Duration) {
        let gate = self.gate(path);
        let started = Instant::now();
        loop {
            let completed = gate.completed.notified();
            tokio::pin!(completed);
            completed.as_mut().enable();
            let verdict = locked(&gate.window).try_acquire(Instant::now());
            match verdict {
                Verdict::Go => return (NhanhPermit { gate: gate.clone() }, started.elapsed()),
                Verdict::WaitUntil(t) => tokio::time::sleep_until(t).await,
                Verdict::WaitForCompletion => completed.await,
            }
        }
    }

    /// The server locked `path` for `locked_for`: every caller waits it out.
    pub fn lock(&self, path: &str, locked_for: Duration) {
        locked(&self.gate(path).window).lock(Instant::now(), locked_for);
    }
}

/// Why the Shopify limiter will not let a call through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// The call's cost exceeds the bucket's maximum: it can never run.
    TooCostly {
        /// The bucket's maximum.
        maximum: f64,
    },
    /// The bucket, by the server's numbers, would take longer than the configured cap to hold
    /// the cost (a tiny restore rate): worth trying again later, once the bucket is relearned.
    TooSlow {
        /// The wait asked for, in seconds.
        seconds: f64,
        /// The cap.
        max_wait: Duration,
    },
}

impl Refusal {
    /// The error `call`, estimated at `estimate` points, fails with: permanent when it can never
    /// fit, transient (back after the cap) when the bucket is absurdly slow.
    pub fn into_error(self, call: &str, estimate: f64) -> ConnectorError {
        match self {
            Refusal::TooCostly { maximum } => {
                ConnectorError::permanent(format!("{call}: cost {estimate} can never fit the bucket of {maximum}"))
            }
            Refusal::TooSlow { seconds, max_wait } => ConnectorError::Transient {
                reason: format!(
                    "{call}: the cost bucket would take {seconds} s to hold {estimate} points, longer than the {} s this client waits",
                    max_wait.as_secs()
                ),
                retry_after: Some(max_wait),
            },
        }
    }
}

/// Shopify's limiter: the client's mirror of the shop's cost bucket.
#[derive(Default)]
pub struct ShopifyLimiter {
    bucket: Mutex<CostBucket>,
    settled: Notify,
}

impl std::fmt::Debug for ShopifyLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyLimiter").finish_non_exhaustive()
    }
}

/// A cost reservation held by a Shopify request in flight. Settle it with the reply's cost;
/// dropping it unsettled releases it without a refund.
pub struct ShopifyPermit<'a> {
    limiter: &'a ShopifyLimiter,
    estimate: f64,
    settled: bool,
}

impl ShopifyPermit<'_> {
    /// Settles the reservation with what the reply said.
    pub fn settle(mut self, actual: Option<f64>, status: Option<ThrottleStatus>) {
        self.settled = true;
        locked(&self.limiter.bucket).settle(self.estimate, actual, status, Instant::now());
        self.limiter.settled.notify_waiters();
    }
}

impl Drop for ShopifyPermit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            locked(&self.limiter.bucket).settle(self.estimate, None, None, Instant::now());
            self.limiter.settled.notify_waiters();
        }
    }
}

impl ShopifyLimiter {
    /// A limiter that learns the bucket from the first reply.
    pub fn new() -> Self {
        ShopifyLimiter::default()
    }

    /// A limiter that learns the bucket from the first reply and refuses to wait longer than
    /// `max_wait` for it to refill.
    pub fn with_max_wait(max_wait: Duration) -> Self {
        ShopifyLimiter { bucket: Mutex::new(CostBucket::with_max_wait(max_wait)), settled: Notify::new() }
    }

    /// Waits until `estimate` points are available and reserves them; returns the reservation
    /// and how long it waited, or why it never will.
    pub async fn acquire(&self, estimate: f64) -> Result<(ShopifyPermit<'_>, Duration), Refusal> {
        let started = Instant::now();
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            let verdict = locked(&self.bucket).try_reserve(estimate, Instant::now());
            match verdict {
                Reserve::Go => {
                    let permit = ShopifyPermit { limiter: self, estimate, settled: false };
                    return Ok((permit, started.elapsed()));
                }
                Reserve::WaitUntil(t) => tokio::time::sleep_until(t).await,
                Reserve::WaitForSettle => settled.await,
                Reserve::Never { maximum } => return Err(Refusal::TooCostly { maximum }),
                Reserve::TooSlow { seconds } => {
                    let max_wait = locked(&self.bucket).max_wait();
                    return Err(Refusal::TooSlow { seconds, max_wait });
                }
            }
        }
    }

    /// The mirrored bucket level now, if known.
    pub fn level(&self) -> Option<f64> {
        locked(&self.bucket).level(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_beyond_the_limit_waits_for_the_window_in_virtual_time() {
        let cfg = WindowConfig { limit: 150, window: Duration::from_secs(30), margin: Duration::from_secs(1) };
        let limiter = NhanhLimiter::new(cfg);
        let start = Instant::now();
        for _ in 0..150 {
            let (permit, waited) = limiter.acquire("/v3.0/customer/list").await;
            assert_eq!(waited, Duration::ZERO);
            drop(permit);
        }
        // Another URL has its own budget.
        let (_other, waited) = limiter.acquire("/v3.0/product/list").await;
        assert_eq!(waited, Duration::ZERO);
        let (_p, waited) = limiter.acquire("/v3.0/customer/list").await;
        assert_eq!(waited, Duration::from_secs(31));
        assert_eq!(start.elapsed(), Duration::from_secs(31));
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_waiting_on_requests_in_flight_wakes_when_one_completes() {
        let cfg = WindowConfig { limit: 1, window: Duration::from_secs(1), margin: Duration::ZERO };
        let limiter = Arc::new(NhanhLimiter::new(cfg));
        let (first, _) = limiter.acquire("/p").await;
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire("/p").await.1 })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(first);
        let waited = waiter.await.unwrap();
        assert_eq!(waited, Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lock_holds_every_caller_of_that_url() {
        let limiter = NhanhLimiter::new(WindowConfig::default());
        limiter.lock("/p", Duration::from_secs(10));
        let (_p, waited) = limiter.acquire("/p").await;
        assert_eq!(waited, Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn shopify_calls_spend_the_bucket_then_wait_for_it_to_restore() {
        let limiter = ShopifyLimiter::new();
        let (probe, _) = limiter.acquire(10.0).await.unwrap();
        let status = ThrottleStatus { maximum_available: 100.0, currently_available: 90.0, restore_rate: 10.0 };
        probe.settle(Some(10.0), Some(status));
        let mut permits = Vec::new();
        for _ in 0..9 {
            let (p, waited) = limiter.acquire(10.0).await.unwrap();
            assert_eq!(waited, Duration::ZERO);
            permits.push(p);
        }
        let (_p, waited) = limiter.acquire(10.0).await.unwrap();
        assert_eq!(waited, Duration::from_secs(1));
        assert!(matches!(limiter.acquire(101.0).await, Err(Refusal::TooCostly { maximum }) if maximum == 100.0));
    }
}
