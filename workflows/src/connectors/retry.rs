//! How a client retries a transient failure inside one call: exponential backoff with jitter,
//! never shorter than the wait the upstream asked for, a bounded number of times.
//!
//! This is the short, in-call retry (a few hundred milliseconds to seconds). When it gives up
//! the call returns [`ConnectorError::Transient`](super::error::ConnectorError::Transient) and
//! the engine's own, longer step retry takes over.

use std::time::Duration;

/// The in-call retry policy of a connector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// How many times one call is sent at most (1 = no retry).
    pub max_attempts: u32,
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest backoff between two tries (an upstream-requested wait may exceed it).
    pub max: Duration,
    /// The longest upstream-requested wait the client sits out itself; a longer one is handed
    /// back to the engine as `Transient { retry_after }` rather than holding a worker.
    pub max_upstream_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(200),
            max: Duration::from_secs(5),
            max_upstream_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `failures`-th consecutive failure (1-based), given a uniform random
    /// draw in `[0, 1)` and the upstream's requested wait.
    ///
    /// "Equal jitter": half of `base × 2^(failures−1)` (capped at `max`) is fixed, the other
    /// half is drawn, so retries spread out but never collapse to zero. The upstream's wait is
    /// a floor, because retrying before it would extend a Nhanh lock or hit the throttle again.
    pub fn delay(&self, failures: u32, draw: f64, upstream: Option<Duration>) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exp).min(self.max);
        let backoff = raw / 2 + (raw / 2).mul_f64(draw.clamp(0.0, 1.0));
        upstream.map_or(backoff, |wait| backoff.max(wait))
    }

    /// Whether a call that has failed `failures` times may be sent again.
    pub fn may_retry(&self, failures: u32) -> bool {
        failures < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(failures: u32, draw: f64, upstream_ms: Option<u64>, expect_ms: u64) {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_upstream_wait: Duration::from_secs(60),
        };
        let got = p.delay(failures, draw, upstream_ms.map(Duration::from_millis));
        assert_eq!(got, Duration::from_millis(expect_ms), "failures={failures} draw={draw} upstream={upstream_ms:?}");
    }

    #[test]
    fn backoff_doubles_per_failure_up_to_the_cap_with_half_of_it_jittered() {
        check(1, 0.0, None, 50);
        check(1, 1.0, None, 100);
        check(2, 0.0, None, 100);
        check(3, 0.5, None, 300);
        check(4, 1.0, None, 800);
        check(5, 1.0, None, 1000);
        check(40, 0.0, None, 500);
    }

    #[test]
    fn the_upstream_wait_is_a_floor() {
        check(1, 0.0, Some(10_000), 10_000);
        check(4, 1.0, Some(10), 800);
    }

    #[test]
    fn a_call_is_sent_at_most_max_attempts_times() {
        let p = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
        assert!(p.may_retry(1) && p.may_retry(2));
        assert!(!p.may_retry(3));
    }
}
