//! Retry policy: exponential backoff with jitter that honours a wait the upstream asked for.
//! Pure arithmetic; the worker supplies the attempt number and the random draw.

use std::time::Duration;

/// How failed steps are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The delay before the first retry.
    pub base: Duration,
    /// The longest delay between two tries.
    pub max: Duration,
    /// How many times one step may fail in a row before the job fails.
    pub max_attempts: u32,
    /// The share of the delay drawn at random (0.0 = none, 0.5 = ±50 %… applied downwards only).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base: Duration::from_millis(500), max: Duration::from_secs(300), max_attempts: 8, jitter: 0.25 }
    }
}

impl RetryPolicy {
    /// The delay after the `failures`-th consecutive failure of a step (1-based), given a
    /// uniform random draw in `[0, 1)` and the wait the error asked for, if any.
    ///
    /// The exponential part is `base × 2^(failures−1)` capped at `max`; jitter shaves up to
    /// `jitter` of it off so that many workers failing together do not retry in lockstep. The
    /// upstream's own wait is a floor: retrying before it would only extend a lock.
    pub fn delay(&self, failures: u32, draw: f64, asked: Option<Duration>) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exp).min(self.max);
        let shave = raw.mul_f64(self.jitter.clamp(0.0, 1.0) * draw.clamp(0.0, 1.0));
        let backoff = raw.saturating_sub(shave);
        let delay = match asked {
            Some(wait) => backoff.max(wait),
            None => backoff,
        };
        // Whole milliseconds: the precision timestamps are stored with.
        Duration::from_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
    }

    /// Whether a step that has failed `failures` times may be tried again.
    pub fn may_retry(&self, failures: u32) -> bool {
        failures < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: RetryPolicy, failures: u32, draw: f64, asked: Option<u64>, expect_ms: u64) {
        let got = policy.delay(failures, draw, asked.map(Duration::from_millis));
        assert_eq!(got, Duration::from_millis(expect_ms), "failures={failures} draw={draw} asked={asked:?}");
    }

    #[test]
    fn delays_double_with_each_failure_until_the_cap() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: 10,
            jitter: 0.0,
        };
        check(p, 1, 0.0, None, 100);
        check(p, 2, 0.0, None, 200);
        check(p, 3, 0.0, None, 400);
        check(p, 4, 0.0, None, 800);
        check(p, 5, 0.0, None, 1000);
        check(p, 40, 0.0, None, 1000);
    }

    #[test]
    fn jitter_only_shortens_the_delay_by_at_most_its_share() {
        let p = RetryPolicy {
            base: Duration::from_millis(1000),
            max: Duration::from_secs(60),
            max_attempts: 10,
            jitter: 0.5,
        };
        check(p, 1, 0.0, None, 1000);
        check(p, 1, 0.5, None, 750);
        check(p, 1, 0.999_999, None, 500);
    }

    #[test]
    fn an_upstream_wait_is_a_floor_for_the_delay() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(60),
            max_attempts: 10,
            jitter: 0.0,
        };
        check(p, 1, 0.0, Some(10_000), 10_000);
        check(p, 8, 0.0, Some(1_000), 12_800);
    }

    #[test]
    fn retries_stop_at_the_attempt_limit() {
        let p = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
        assert!(p.may_retry(1));
        assert!(p.may_retry(2));
        assert!(!p.may_retry(3));
    }
}
