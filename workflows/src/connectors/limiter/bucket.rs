//! Shopify's cost bucket as pure arithmetic.
//!
//! The server keeps a leaky bucket per app and shop: `maximumAvailable` points, refilled at
//! `restoreRate` points per second; a query whose `requestedQueryCost` exceeds what is
//! available is THROTTLED. Every reply reports the bucket (`throttleStatus`), so the client
//! mirrors it:
//!
//! - before sending, it *reserves* the estimated cost, waiting `(cost − level) / restoreRate`
//!   if the level is short; several calls may be in flight while the budget allows;
//! - when a reply arrives, the mirror is reset to the server's `currentlyAvailable` less what
//!   the *other* calls in flight reserved (pessimistic: some of them may already be counted),
//!   which also refunds the gap between this call's estimate and its `actualQueryCost`;
//! - a reply without a throttle status refunds `estimate − actualQueryCost` when it knows the
//!   actual cost, and nothing when it does not (the points come back with time anyway).
//!
//! Until the first reply tells us the bucket's size, one call at a time is let through.
//!
//! The server's numbers are not trusted blindly: a status with a number that is not finite, a
//! maximum that is not positive or a negative restore rate is ignored (as if the reply had
//! none), and a wait longer than `max_wait` (default 1 h; a tiny restore rate asks for years) is
//! refused rather than slept: the mirror is forgotten, so the next call probes and relearns it.

use std::time::Duration;

use tokio::time::Instant;

/// The bucket as the server reports it in `extensions.cost.throttleStatus`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    /// `maximumAvailable`.
    pub maximum_available: f64,
    /// `currentlyAvailable`.
    pub currently_available: f64,
    /// `restoreRate`, points per second.
    pub restore_rate: f64,
}

/// What a caller must do before sending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reserve {
    /// Send now; the cost has been reserved and must be settled.
    Go,
    /// Ask again at this instant.
    WaitUntil(Instant),
    /// The bucket is not known yet and a probe is in flight: ask again when it settles.
    WaitForSettle,
    /// The cost exceeds the bucket's maximum: the call can never run.
    Never {
        /// The bucket's maximum.
        maximum: f64,
    },
    /// The bucket would need longer than `max_wait` to hold the cost (the mirror is forgotten).
    TooSlow {
        /// The wait the mirrored numbers asked for, in seconds (may be infinite).
        seconds: f64,
    },
}

impl ThrottleStatus {
    /// Whether the numbers can describe a bucket at all.
    fn is_sane(&self) -> bool {
        self.maximum_available.is_finite()
            && self.maximum_available > 0.0
            && self.currently_available.is_finite()
            && self.restore_rate.is_finite()
            && self.restore_rate >= 0.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Mirror {
    maximum: f64,
    restore_rate: f64,
    available: f64,
    at: Instant,
}

impl Mirror {
    fn level(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.available + elapsed * self.restore_rate).min(self.maximum)
    }
}

/// The longest wait for the bucket to refill unless configured otherwise.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(3600);

/// The client's mirror of one shop's cost bucket.
#[derive(Debug, Clone)]
pub struct CostBucket {
    mirror: Option<Mirror>,
    in_flight: u32,
    reserved: f64,
    max_wait: Duration,
}

impl Default for CostBucket {
    fn default() -> Self {
        CostBucket::with_max_wait(DEFAULT_MAX_WAIT)
    }
}

impl CostBucket {
    /// A bucket whose size is not known yet.
    pub fn new() -> Self {
        CostBucket::default()
    }

    /// A bucket whose size is not known yet, refusing waits longer than `max_wait`.
    pub fn with_max_wait(max_wait: Duration) -> Self {
        CostBucket { mirror: None, in_flight: 0, reserved: 0.0, max_wait }
    }

    /// Reserves `cost` points at `now`, or says when to ask again.
    pub fn try_reserve(&mut self, cost: f64, now: Instant) -> Reserve {
        if !cost.is_finite() {
            return Reserve::Never { maximum: self.mirror.map_or(0.0, |m| m.maximum) };
        }
        let Some(m) = self.mirror.as_mut() else {
            if self.in_flight > 0 {
                return Reserve::WaitForSettle;
            }
            self.in_flight += 1;
            self.reserved += cost;
            return Reserve::Go;
        };
        if cost > m.maximum {
            return Reserve::Never { maximum: m.maximum };
        }
        let level = m.level(now);
        if level >= cost {
            m.available = level - cost;
            m.at = now;
            self.in_flight += 1;
            self.reserved += cost;
            return Reserve::Go;
        }
        if m.restore_rate <= 0.0 {
            return Reserve::Never { maximum: m.maximum };
        }
        let seconds = (cost - level) / m.restore_rate;
        let wait = Duration::try_from_secs_f64(seconds).ok().filter(|w| *w <= self.max_wait);
        match wait.and_then(|w| now.checked_add(w)) {
            Some(at) => Reserve::WaitUntil(at),
            None => {
                self.mirror = None;
                Reserve::TooSlow { seconds }
            }
        }
    }

    /// Settles a reservation of `estimate` points when its reply (or failure) came back at `now`.
    pub fn settle(&mut self, estimate: f64, actual: Option<f64>, status: Option<ThrottleStatus>, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.reserved = (self.reserved - estimate).max(0.0);
        if self.in_flight == 0 {
            self.reserved = 0.0;
        }
        match (status.filter(ThrottleStatus::is_sane), self.mirror.as_mut()) {
            (Some(s), _) => {
                self.mirror = Some(Mirror {
                    maximum: s.maximum_available,
                    restore_rate: s.restore_rate,
                    available: s.currently_available - self.reserved,
                    at: now,
                });
            }
            (None, Some(m)) => {
                if let Some(actual) = actual.filter(|a| a.is_finite()) {
                    m.available = (m.level(now) + (estimate - actual).max(0.0)).min(m.maximum);
                    m.at = now;
                }
            }
            (None, None) => {}
        }
    }

    /// The mirrored level at `now`, if the bucket is known.
    pub fn level(&self, now: Instant) -> Option<f64> {
        self.mirror.map(|m| m.level(now))
    }

    /// The longest wait it accepts.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Reservations in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// At `t_ms`, reserve `cost`; expect the verdict.
        Take(u64, f64, Expect),
        /// At `t_ms`, settle an `estimate` with `actual` and a server status
        /// (maximum, currently available, restore rate).
        Settle(u64, f64, Option<f64>, Option<(f64, f64, f64)>),
        /// At `t_ms`, the mirrored level.
        Level(u64, f64),
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Go,
        Until(u64),
        AfterSettle,
        Never(f64),
        Slow,
    }

    fn check(steps: &[Step]) {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut b = CostBucket::new();
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Take(t, cost, expect) => {
                    let got = match b.try_reserve(cost, at(t)) {
                        Reserve::Go => Expect::Go,
                        Reserve::WaitUntil(u) => Expect::Until((u - start).as_millis() as u64),
                        Reserve::WaitForSettle => Expect::AfterSettle,
                        Reserve::Never { maximum } => Expect::Never(maximum),
                        Reserve::TooSlow { .. } => Expect::Slow,
                    };
                    assert_eq!(got, expect, "step {i}: {step:?}");
                }
                Step::Settle(t, estimate, actual, status) => {
                    let status = status.map(|(m, c, r)| ThrottleStatus {
                        maximum_available: m,
                        currently_available: c,
                        restore_rate: r,
                    });
                    b.settle(estimate, actual, status, at(t));
                }
                Step::Level(t, expect) => {
                    let got = b.level(at(t)).expect("bucket known");
                    assert!((got - expect).abs() < 1e-6, "step {i}: level {got}, expected {expect}");
                }
            }
        }
    }

    use Expect::*;
    use Step::*;

    #[test]
    fn one_probe_at_a_time_until_the_bucket_is_known() {
        check(&[
            Take(0, 10.0, Go),
            Take(1, 10.0, AfterSettle),
            Settle(50, 10.0, Some(4.0), Some((1000.0, 996.0, 50.0))),
            Take(50, 10.0, Go),
            Take(50, 10.0, Go),
            Level(50, 976.0),
        ]);
    }

    #[test]
    fn a_short_bucket_waits_for_the_missing_points_at_the_restore_rate() {
        check(&[
            Take(0, 1.0, Go),
            Settle(0, 1.0, Some(1.0), Some((1000.0, 100.0, 50.0))),
            Take(0, 100.0, Go),
            Take(0, 150.0, Until(3000)),
            Level(1000, 50.0),
            Take(3000, 150.0, Go),
            Level(3000, 0.0),
            Level(60_000, 1000.0),
        ]);
    }

    #[test]
    fn a_reply_resets_the_mirror_to_the_server_less_the_other_calls_in_flight() {
        check(&[
            Take(0, 1.0, Go),
            Settle(0, 1.0, Some(1.0), Some((1000.0, 1000.0, 100.0))),
            Take(0, 300.0, Go),
            Take(0, 300.0, Go),
            Level(0, 400.0),
            // The first call cost only 50; the server has charged it alone so far.
            Settle(100, 300.0, Some(50.0), Some((1000.0, 950.0, 100.0))),
            Level(100, 650.0),
            // The second one settles: nothing else is in flight, the server is the truth.
            Settle(200, 300.0, Some(50.0), Some((1000.0, 910.0, 100.0))),
            Level(200, 910.0),
        ]);
    }

    #[test]
    fn a_reply_without_status_refunds_the_overestimate() {
        check(&[
            Take(0, 1.0, Go),
            Settle(0, 1.0, Some(1.0), Some((1000.0, 500.0, 0.0))),
            Take(0, 100.0, Go),
            Settle(10, 100.0, Some(30.0), None),
            Level(10, 470.0),
            Take(20, 100.0, Go),
            Settle(30, 100.0, None, None),
            Level(30, 370.0),
        ]);
    }

    #[test]
    fn a_throttled_reply_makes_the_retry_wait_requested_minus_available_over_restore() {
        check(&[
            Take(0, 752.0, Go),
            // THROTTLED: no actual cost, the server has 52 points, restoring 100/s.
            Settle(10, 752.0, None, Some((2000.0, 52.0, 100.0))),
            Take(10, 752.0, Until(7010)),
            Take(7010, 752.0, Go),
        ]);
    }

    #[test]
    fn a_cost_above_the_maximum_can_never_run() {
        check(&[
            Take(0, 1.0, Go),
            Settle(0, 1.0, Some(1.0), Some((1000.0, 1000.0, 50.0))),
            Take(0, 1001.0, Never(1000.0)),
        ]);
    }

    #[test]
    fn a_restore_rate_too_slow_for_the_cap_is_refused_and_the_mirror_relearned() {
        check(&[
            Take(0, 1.0, Go),
            Settle(0, 1.0, Some(1.0), Some((1000.0, 0.0, 1e-300))),
            Take(0, 10.0, Slow),
            // Forgotten: the next call is a probe again.
            Take(0, 10.0, Go),
            Take(0, 10.0, AfterSettle),
        ]);
    }

    #[test]
    fn a_status_with_numbers_no_bucket_can_have_is_ignored() {
        check(&[
            Take(0, 1.0, Go),
            Settle(0, 1.0, Some(1.0), Some((1000.0, 500.0, 50.0))),
            Take(0, 100.0, Go),
            Settle(0, 100.0, Some(100.0), Some((f64::INFINITY, f64::NAN, -3.0))),
            Level(0, 400.0),
        ]);
    }

    fn any_number() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::num::f64::ANY,
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(1e-300),
            Just(f64::INFINITY),
            Just(f64::NAN),
            0.0..2000.0f64,
        ]
    }

    proptest::proptest! {
        #[test]
        fn no_server_numbers_panic_the_bucket_or_make_it_wait_past_the_cap(
            steps in proptest::collection::vec(
                (any_number(), any_number(), any_number(), any_number(), any_number(), 0u64..100_000),
                1..12,
            ),
        ) {
            let start = Instant::now();
            let mut b = CostBucket::new();
            let mut t = start;
            for (cost, actual, maximum, current, rate, ms) in steps {
                t += Duration::from_millis(ms);
                if let Reserve::WaitUntil(at) = b.try_reserve(cost, t) {
                    proptest::prop_assert!(at.duration_since(t) <= DEFAULT_MAX_WAIT);
                }
                let status = ThrottleStatus { maximum_available: maximum, currently_available: current, restore_rate: rate };
                b.settle(cost, Some(actual), Some(status), t);
                let _ = b.level(t);
            }
        }
    }
}
