//! Nhanh's limit as pure arithmetic: at most `limit` requests in any `window` per URL.
//!
//! # Why completion stamps and a margin
//!
//! The server counts a request when it *arrives*; the client only knows when it sent it and
//! when the reply came back. A request sent earlier can arrive later than one sent after it, so
//! counting by send time could put 151 arrivals inside one server window even though the client
//! saw only 150 sends. Instead each request occupies its slot from the moment it is sent until
//! `window + margin` after its reply came back: the server's arrival stamp of an old request is
//! never later than our completion stamp, and a new request never arrives before we send it, so
//! the server always sees at least `window + margin` between a request and the one that
//! reuses its slot. Requests still in flight hold their slot indefinitely.
//!
//! The `margin` (default 1 s) covers the server's clock resolution: a server that stamps
//! arrivals in whole Unix seconds and compares inclusively can count a request up to one second
//! longer than the true window. With the default 30 s window, the sustained pace is
//! 150 / (31 s + one round trip) ≈ 96 % of the published ceiling, while a burst of up to 150
//! requests goes out at once.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The published limit and the safety margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// Requests allowed per window (Nhanh: 150).
    pub limit: u32,
    /// The window (Nhanh: 30 s).
    pub window: Duration,
    /// Added to the window and to every lock-out; see the module docs.
    pub margin: Duration,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig { limit: 150, window: Duration::from_secs(30), margin: Duration::from_secs(1) }
    }
}

/// The longest lock-out the window arithmetic holds (a year).
pub const LONGEST_LOCK: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a caller must do before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send now; a slot has been taken and must be released with a completion.
    Go,
    /// Ask again at this instant.
    WaitUntil(Instant),
    /// Every slot is held by a request in flight: ask again when one completes.
    WaitForCompletion,
}

/// The slots of one URL.
#[derive(Debug, Clone)]
pub struct RequestWindow {
    cfg: WindowConfig,
    /// Completion stamps of requests still inside the window, oldest first.
    done: VecDeque<Instant>,
    in_flight: u32,
    locked_until: Option<Instant>,
}

impl RequestWindow {
    /// An empty window.
    pub fn new(cfg: WindowConfig) -> Self {
        RequestWindow { cfg, done: VecDeque::new(), in_flight: 0, locked_until: None }
    }

    fn hold(&self) -> Duration {
        self.cfg.window + self.cfg.margin
    }

    /// Takes a slot if one is free at `now`, or says when to ask again.
    pub fn try_acquire(&mut self, now: Instant) -> Verdict {
        if let Some(until) = self.locked_until {
            if now < until {
                return Verdict::WaitUntil(until);
            }
            self.locked_until = None;
        }
        let hold = self.hold();
        while self.done.front().is_some_and(|&t| t + hold <= now) {
            self.done.pop_front();
        }
        let used = self.done.len() + self.in_flight as usize;
        let limit = self.cfg.limit.max(1) as usize;
        if used < limit {
            self.in_flight += 1;
            return Verdict::Go;
        }
        // This many slots must free up; completed ones free in stamp order.
        let to_free = used - limit + 1;
        match self.done.get(to_free - 1) {
            Some(&t) => Verdict::WaitUntil(t + hold),
            None => Verdict::WaitForCompletion,
        }
    }

    /// Releases a slot taken by [`try_acquire`](Self::try_acquire): the request's reply (or
    /// failure) came back at `now`.
    pub fn complete(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let at = self.done.iter().rposition(|&t| t <= now).map_or(0, |i| i + 1);
        self.done.insert(at, now);
    }

    /// The server locked this URL for `locked_for` from `now`: nobody sends until it has passed
    /// (plus the margin), since calling during a lock extends it.
    ///
    /// A lock-out beyond [`LONGEST_LOCK`] is held at it: the client refuses any longer than its
    /// `max_wait` before it gets here, so this only keeps the clock arithmetic from overflowing.
    pub fn lock(&mut self, now: Instant, locked_for: Duration) {
        let hold = locked_for.saturating_add(self.cfg.margin).min(LONGEST_LOCK);
        let until = now.checked_add(hold).unwrap_or(now);
        self.locked_until = Some(self.locked_until.map_or(until, |u| u.max(until)));
    }

    /// Requests currently in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a scenario: at `t_ms`, an action, and the verdict expected for acquires.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Acquire; expect this verdict (`WaitUntil` given in ms from the start).
        Acquire(u64, Expect),
        /// A request in flight completes.
        Complete(u64),
        /// The server locks the URL for this many ms.
        Lock(u64, u64),
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Go,
        Until(u64),
        Completion,
    }

    fn check(cfg: WindowConfig, steps: &[Step]) {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut w = RequestWindow::new(cfg);
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Acquire(t, expect) => {
                    let got = match w.try_acquire(at(t)) {
                        Verdict::Go => Expect::Go,
                        Verdict::WaitUntil(u) => Expect::Until((u - start).as_millis() as u64),
                        Verdict::WaitForCompletion => Expect::Completion,
                    };
                    assert_eq!(got, expect, "step {i}: {step:?}");
                }
                Step::Complete(t) => w.complete(at(t)),
                Step::Lock(t, ms) => w.lock(at(t), Duration::from_millis(ms)),
            }
        }
    }

    fn small() -> WindowConfig {
        WindowConfig { limit: 3, window: Duration::from_millis(1000), margin: Duration::from_millis(100) }
    }

    use Expect::*;
    use Step::*;

    #[test]
    fn a_full_window_frees_a_slot_window_plus_margin_after_the_oldest_completion() {
        check(
            small(),
            &[
                Acquire(0, Go),
                Complete(10),
                Acquire(20, Go),
                Complete(30),
                Acquire(40, Go),
                Complete(50),
                Acquire(60, Until(1110)),
                Acquire(1109, Until(1110)),
                Acquire(1110, Go),
                Acquire(1111, Until(1130)),
            ],
        );
    }

    #[test]
    fn requests_in_flight_hold_their_slot_until_they_complete() {
        check(
            small(),
            &[
                Acquire(0, Go),
                Acquire(0, Go),
                Acquire(0, Go),
                Acquire(5000, Completion),
                Complete(6000),
                Acquire(6001, Until(7100)),
                Acquire(7100, Go),
            ],
        );
    }

    #[test]
    fn a_lock_stops_every_caller_until_it_has_passed_plus_the_margin() {
        check(
            small(),
            &[
                Acquire(0, Go),
                Complete(1),
                Lock(10, 500),
                Acquire(20, Until(610)),
                Lock(30, 100),
                Acquire(40, Until(610)),
                Acquire(610, Go),
            ],
        );
    }

    #[test]
    fn out_of_order_completions_are_kept_in_time_order() {
        let mut w = RequestWindow::new(small());
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        for _ in 0..3 {
            assert_eq!(w.try_acquire(t0), Verdict::Go);
        }
        w.complete(ms(300));
        w.complete(ms(100));
        w.complete(ms(200));
        assert_eq!(w.try_acquire(ms(400)), Verdict::WaitUntil(ms(1200)));
        assert_eq!(w.in_flight(), 0);
    }

    #[test]
    fn the_sustained_pace_with_default_settings_is_at_least_95_percent_of_the_ceiling() {
        // A caller that sends as soon as allowed, each reply taking 50 ms, for 10 minutes.
        let cfg = WindowConfig::default();
        let mut w = RequestWindow::new(cfg);
        let start = Instant::now();
        let end = start + Duration::from_secs(600);
        let mut now = start;
        let mut sent = 0u64;
        let mut arrivals: Vec<Instant> = Vec::new();
        while now < end {
            match w.try_acquire(now) {
                Verdict::Go => {
                    sent += 1;
                    arrivals.push(now + Duration::from_millis(25));
                    now += Duration::from_millis(50);
                    w.complete(now);
                }
                Verdict::WaitUntil(t) => now = t,
                Verdict::WaitForCompletion => unreachable!("one caller never waits on itself"),
            }
        }
        let ceiling = 600.0 / 30.0 * 150.0;
        assert!(sent as f64 >= 0.95 * ceiling, "sent {sent} of a ceiling of {ceiling}");
        // And the server, counting arrivals in any 30 s window, never sees more than 150.
        for (i, &a) in arrivals.iter().enumerate() {
            let in_window = arrivals[i..].iter().take_while(|&&b| b < a + cfg.window).count();
            assert!(in_window <= 150, "{in_window} arrivals in the 30 s after arrival {i}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_lock_out_panics_the_window(seconds in proptest::prelude::any::<u64>(), nanos in 0u32..1_000_000_000) {
            let mut w = RequestWindow::new(WindowConfig::default());
            let now = Instant::now();
            w.lock(now, Duration::new(seconds, nanos));
            if let Verdict::WaitUntil(t) = w.try_acquire(now) {
                proptest::prop_assert!(t.duration_since(now) <= LONGEST_LOCK);
            }
        }
    }
}
