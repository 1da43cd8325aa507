//! Shopify's leaky bucket, pure arithmetic over instants passed in.

use serde::Serialize;
use tokio::time::Instant;

/// `extensions.cost.throttleStatus` of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// A bucket of cost points that refills continuously at `restore_rate` per second.
#[derive(Debug, Clone)]
pub(crate) struct LeakyBucket {
    maximum: f64,
    restore_rate: f64,
    available: f64,
    at: Instant,
}

impl LeakyBucket {
    /// A full bucket.
    pub(crate) fn new(maximum: f64, restore_rate: f64, now: Instant) -> Self {
        LeakyBucket { maximum, restore_rate, available: maximum, at: now }
    }

    /// Changes size and rate (a plan change), keeping the points held up to the new maximum.
    pub(crate) fn reshape(&mut self, maximum: f64, restore_rate: f64, now: Instant) {
        self.refill(now);
        self.maximum = maximum;
        self.restore_rate = restore_rate;
        self.available = self.available.min(maximum);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.available = (self.available + elapsed * self.restore_rate).min(self.maximum);
        self.at = now;
    }

    /// Takes `cost` points if that many are available; on refusal nothing is taken.
    pub(crate) fn try_take(&mut self, cost: u64, now: Instant) -> Result<(), ThrottleStatus> {
        self.refill(now);
        if cost as f64 > self.available {
            return Err(self.status(now));
        }
        self.available -= cost as f64;
        Ok(())
    }

    /// Gives back points taken but not spent (requested minus actual cost).
    pub(crate) fn refund(&mut self, points: u64, now: Instant) {
        self.refill(now);
        self.available = (self.available + points as f64).min(self.maximum);
    }

    /// The status a reply reports; `currentlyAvailable` is rounded down like Shopify's.
    pub(crate) fn status(&mut self, now: Instant) -> ThrottleStatus {
        self.refill(now);
        ThrottleStatus {
            maximum_available: self.maximum,
            currently_available: self.available.floor(),
            restore_rate: self.restore_rate,
        }
    }

    /// How long until `cost` points are available.
    #[cfg(test)]
    pub(crate) fn wait_for(&mut self, cost: u64, now: Instant) -> std::time::Duration {
        self.refill(now);
        let missing = cost as f64 - self.available;
        if missing <= 0.0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs_f64(missing / self.restore_rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Steps: (seconds since start, cost to take, expect taken, expect available after).
    fn check(maximum: f64, rate: f64, steps: &[(f64, u64, bool, f64)]) {
        let start = Instant::now();
        let mut bucket = LeakyBucket::new(maximum, rate, start);
        for &(at, cost, taken, available) in steps {
            let now = start + Duration::from_secs_f64(at);
            assert_eq!(bucket.try_take(cost, now).is_ok(), taken, "at {at}s take {cost}");
            assert_eq!(bucket.status(now).currently_available, available, "at {at}s");
        }
    }

    #[test]
    fn a_full_standard_bucket_serves_its_maximum_then_refuses() {
        check(1000.0, 100.0, &[(0.0, 600, true, 400.0), (0.0, 500, false, 400.0)]);
    }

    #[test]
    fn the_bucket_refills_at_the_restore_rate_and_caps_at_its_maximum() {
        check(
            1000.0,
            100.0,
            &[(0.0, 1000, true, 0.0), (1.0, 0, true, 100.0), (2.5, 200, true, 50.0), (100.0, 0, true, 1000.0)],
        );
    }

    #[test]
    fn plus_restores_ten_times_faster_than_standard() {
        check(10000.0, 1000.0, &[(0.0, 10000, true, 0.0), (1.0, 1000, true, 0.0)]);
    }

    #[test]
    fn wait_for_is_the_missing_points_over_the_rate() {
        let now = Instant::now();
        let mut bucket = LeakyBucket::new(1000.0, 100.0, now);
        bucket.try_take(1000, now).unwrap();
        assert_eq!(bucket.wait_for(250, now), Duration::from_millis(2500));
        bucket.refund(250, now);
        assert_eq!(bucket.wait_for(250, now), Duration::ZERO);
    }
}
