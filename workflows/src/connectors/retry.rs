//! How a client retries a transient failure inside one call: exponential backoff with jitter,
//! never shorter than the wait the upstream asked for, a bounded number of times.
//!
//! This is the short, in-call retry (a few hundred milliseconds to seconds). When it gives up
//! the call returns [`ConnectorError::Transient`](super::error::ConnectorError::Transient) and
//! the engine's own, longer step retry takes over.

use std::time::Duration;

use super::error::ConnectorError;

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
    /// The longest wait an upstream may ask for at all (a `Retry-After`, a Nhanh lock-out, the
    /// time Shopify's bucket needs to refill). A longer one is absurd: the call fails
    /// transiently with a reason and asks the engine to come back after this cap, never later.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(200),
            max: Duration::from_secs(5),
            max_upstream_wait: Duration::from_secs(60),
            max_wait: Duration::from_secs(3600),
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
    ///
    /// The upstream's wait counts for at most [`max_wait`](Self::max_wait); callers refuse a
    /// longer one with [`bounded`](Self::bounded) before they sleep, so the cap here only
    /// guards against a caller that forgot.
    pub fn delay(&self, failures: u32, draw: f64, upstream: Option<Duration>) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exp).min(self.max);
        // A NaN draw clamps to NaN; it counts as no jitter.
        let draw = if draw.is_nan() { 0.0 } else { draw.clamp(0.0, 1.0) };
        let backoff = raw / 2 + (raw / 2).mul_f64(draw);
        upstream.map_or(backoff, |wait| backoff.max(wait.min(self.max_wait)))
    }

    /// `error` with its upstream wait held to [`max_wait`](Self::max_wait): a transient error
    /// asking for longer keeps its kind, says in its reason what was asked, and asks for the
    /// cap instead. Every error handed to the engine goes through here, so no step is parked
    /// for years because an upstream said so.
    pub fn bounded(&self, error: ConnectorError) -> ConnectorError {
        match error {
            ConnectorError::Transient { reason, retry_after: Some(asked) } if asked > self.max_wait => {
                let reason = format!(
                    "{reason} (the upstream asked to wait {}, longer than the {} s this client accepts)",
                    AskedWait(asked),
                    self.max_wait.as_secs()
                );
                ConnectorError::Transient { reason, retry_after: Some(self.max_wait) }
            }
            other => other,
        }
    }

    /// Whether a call that has failed `failures` times may be sent again.
    pub fn may_retry(&self, failures: u32) -> bool {
        failures < self.max_attempts
    }
}

/// A wait as the upstream asked for it, in words: seconds, or "longer than any clock" for the
/// saturated reading of a number too large to hold.
struct AskedWait(Duration);

impl std::fmt::Display for AskedWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == Duration::MAX {
            f.write_str("longer than any clock")
        } else {
            write!(f, "{} s", self.0.as_secs())
        }
    }
}

/// A wait in seconds as an upstream wrote it, read without trusting it: a number too large for
/// a [`Duration`] saturates to [`Duration::MAX`] (and is then refused by
/// [`RetryPolicy::bounded`]); a negative number or a non-number is no wait at all (`None`).
pub fn upstream_seconds(seconds: f64) -> Option<Duration> {
    if seconds.is_nan() || seconds < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
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
            max_wait: Duration::from_secs(3600),
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

    #[test]
    fn a_wait_beyond_the_cap_is_refused_with_a_reason_and_the_cap_asked_instead() {
        let p = RetryPolicy::default();
        let asked = ConnectorError::Transient { reason: "call: HTTP 503".into(), retry_after: Some(Duration::MAX) };
        let e = p.bounded(asked);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
        assert!(e.is_transient());
        assert!(e.to_string().contains("asked to wait longer than any clock"), "{e}");
        let fine = ConnectorError::Transient { reason: "x".into(), retry_after: Some(Duration::from_secs(3600)) };
        assert_eq!(p.bounded(fine.clone()), fine);
    }

    #[test]
    fn upstream_seconds_saturate_when_too_large_and_vanish_when_not_a_wait() {
        assert_eq!(upstream_seconds(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(upstream_seconds(1e20), Some(Duration::MAX));
        assert_eq!(upstream_seconds(f64::INFINITY), Some(Duration::MAX));
        assert_eq!(upstream_seconds(-1.0), None);
        assert_eq!(upstream_seconds(f64::NAN), None);
    }

    proptest::proptest! {
        #[test]
        fn no_upstream_number_panics_or_outwaits_the_cap(
            seconds in proptest::num::f64::ANY,
            failures in proptest::prelude::any::<u32>(),
            draw in proptest::num::f64::ANY,
        ) {
            let p = RetryPolicy::default();
            let asked = upstream_seconds(seconds);
            let e = p.bounded(ConnectorError::Transient { reason: "r".into(), retry_after: asked });
            proptest::prop_assert!(e.retry_after().is_none_or(|w| w <= p.max_wait));
            let delay = p.delay(failures, draw, asked);
            proptest::prop_assert!(delay <= p.max_wait.max(p.max));
        }
    }
}
