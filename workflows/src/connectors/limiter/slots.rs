//! Nhanh's limit shared by every process, as pure arithmetic: how long a slot is held and how
//! long a caller that found none free sleeps before looking again.
//!
//! The semantics are [`window`](super::window)'s — a request holds one of `limit` slots from
//! the moment it is sent until `window + margin` after its reply came back, and a server lock-out
//! makes every caller wait it out plus the margin — but the slots live in a shared store (a
//! [`SlotStore`](super::shared::SlotStore): rows in PostgreSQL), each with a `busy_until` stamped
//! by the *database's* clock, so processes on different machines agree on every instant without
//! trusting each other's clocks.
//!
//! One difference: a process can die mid-request, and nobody else can tell a slow request from
//! a dead one. So a slot taken for a request is marked busy until `request timeout + window +
//! margin` from the take — a request cannot outlive its timeout, so by then its arrival is at
//! least `window + margin` in the past whether or not its process lived to record the completion.
//! (The moment between the take and the send eats into the margin, so it must stay well under
//! it; it is one database round trip.) A completion shortens the hold to `completion + window +
//! margin`, the completion stamped when the database records it less the wait for a connection
//! measured in the process: never earlier than the reply. Because a completion in another
//! process is only seen by looking, a caller waiting on slots in flight looks again every `poll`,
//! which is kept well under the hold so no freed slot goes unused for long.

use std::time::Duration;

use super::window::WindowConfig;

/// The shortest sleep between two looks: a slot that looked free may have been taken by another
/// process between our take and our look; trying again at once would only spin.
pub const MIN_LOOK: Duration = Duration::from_millis(10);

/// Settings of the shared limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedConfig {
    /// The published limit and the margin, as for the in-process limiter.
    pub window: WindowConfig,
    /// The client's whole-request timeout: no request is in flight longer than this.
    pub request_timeout: Duration,
    /// The longest sleep while every free-able slot is held by a request in flight.
    pub poll: Duration,
}

impl SharedConfig {
    /// Settings for a client with this window and request timeout; `poll` is 500 ms, or half the
    /// hold when that is shorter.
    pub fn new(window: WindowConfig, request_timeout: Duration) -> Self {
        let poll = Duration::from_millis(500).min((window.window + window.margin) / 2).max(MIN_LOOK);
        SharedConfig { window, request_timeout, poll }
    }

    /// Slots per URL (at least one).
    pub fn limit(&self) -> u32 {
        self.window.limit.max(1)
    }

    /// How long a slot stays busy after its request completed.
    pub fn done_hold(&self) -> Duration {
        self.window.window + self.window.margin
    }

    /// How long a slot stays busy from the moment it is taken, unless its completion is
    /// recorded first: long enough that a request whose process died is surely out of the window.
    pub fn in_flight_hold(&self) -> Duration {
        self.request_timeout + self.done_hold()
    }

    /// How long nobody may call a URL the server locked for `locked_for`.
    pub fn lock_hold(&self, locked_for: Duration) -> Duration {
        locked_for.saturating_add(self.window.margin)
    }

    /// How long to sleep before looking again, given what the last look saw.
    pub fn next_look(&self, seen: &Observation) -> Duration {
        if let Some(locked) = seen.locked_for {
            return locked.max(MIN_LOOK);
        }
        // A completion elsewhere can only bring an in-flight slot's expiry *forward*, so such a
        // slot is looked at again within `poll`; a completed slot's stamp is final.
        let in_flight = seen.next_in_flight_free.map(|d| d.min(self.poll));
        let wait = match (seen.next_done_free, in_flight) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => self.poll,
        };
        wait.max(MIN_LOOK)
    }
}

/// What a look at one URL's slots saw, as durations from the database's `now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observation {
    /// The server's lock-out has this long to run (margin included).
    pub locked_for: Option<Duration>,
    /// The earliest completed slot frees in this long (zero: it is free).
    pub next_done_free: Option<Duration>,
    /// The earliest slot still in flight expires in this long, if nobody records its completion.
    pub next_in_flight_free: Option<Duration>,
}

/// A remaining time in seconds as the database computed it; negative (already past) and
/// non-numbers are zero.
pub fn remaining(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO)
}

/// The key Nhanh counts requests under, without the access token: the same app and business
/// from any process lands on the same slots.
pub fn app_key(app_id: &str, business_id: &str) -> String {
    format!("nhanh:{app_id}:{business_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn cfg() -> SharedConfig {
        let window = WindowConfig { limit: 20, window: ms(3000), margin: ms(100) };
        SharedConfig::new(window, ms(2000))
    }

    /// `(locked, next done, next in flight)` in ms, as a look saw them.
    type Seen = (Option<u64>, Option<u64>, Option<u64>);

    /// What a look saw → the expected sleep in ms.
    fn check(cases: &[(Seen, u64)]) {
        let cfg = cfg();
        for &((locked, done, flight), expect) in cases {
            let seen = Observation {
                locked_for: locked.map(ms),
                next_done_free: done.map(ms),
                next_in_flight_free: flight.map(ms),
            };
            assert_eq!(cfg.next_look(&seen), ms(expect), "{seen:?}");
        }
    }

    #[test]
    fn holds_are_window_plus_margin_after_completion_and_the_timeout_more_while_in_flight() {
        let cfg = cfg();
        assert_eq!(cfg.done_hold(), ms(3100));
        assert_eq!(cfg.in_flight_hold(), ms(5100));
        assert_eq!(cfg.lock_hold(ms(5000)), ms(5100));
        assert_eq!(cfg.poll, ms(500));
        assert_eq!(cfg.limit(), 20);
    }

    #[test]
    fn a_lock_out_is_waited_out_whatever_the_slots_say() {
        check(&[((Some(4000), Some(0), None), 4000), ((Some(0), None, Some(0)), 10)]);
    }

    #[test]
    fn a_completed_slot_is_waited_for_exactly_until_it_frees() {
        check(&[
            ((None, Some(2345), None), 2345),
            ((None, Some(2345), Some(9000)), 500),
            ((None, Some(120), Some(90)), 90),
        ]);
    }

    #[test]
    fn slots_in_flight_are_looked_at_again_within_the_poll_interval() {
        check(&[((None, None, Some(5000)), 500), ((None, None, Some(300)), 300), ((None, None, None), 500)]);
    }

    #[test]
    fn a_slot_that_looked_free_is_retried_after_a_short_pause_not_at_once() {
        check(&[((None, Some(0), None), 10), ((None, None, Some(0)), 10)]);
    }

    #[test]
    fn a_short_window_polls_at_half_the_hold() {
        let window = WindowConfig { limit: 1, window: ms(300), margin: ms(100) };
        assert_eq!(SharedConfig::new(window, ms(1000)).poll, ms(200));
    }

    #[test]
    fn remaining_times_in_the_past_or_not_numbers_are_zero() {
        assert_eq!(remaining(1.5), ms(1500));
        assert_eq!(remaining(-3.0), Duration::ZERO);
        assert_eq!(remaining(f64::NAN), Duration::ZERO);
    }

    #[test]
    fn the_app_key_names_app_and_business_only() {
        assert_eq!(app_key("74951", "18523"), "nhanh:74951:18523");
    }
}
