//! Nhanh's rate limit: a sliding window of request times and a lock, pure over instants.
//!
//! Rules (per appId + businessId + URL path):
//! - while locked, a call is refused and *restarts* the lock (`now + lock_seconds`);
//! - otherwise, if `requests` calls were admitted within the last `window`, the call is refused
//!   and the lock starts;
//! - otherwise the call is admitted and recorded.
//!
//! The window is sliding (a log of admitted times), so a caller that resumes right at
//! `unlockedAt` is admitted only once its oldest calls have left the window.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::NhanhLimits;

/// Outcome of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Admitted,
    Locked { until: Instant },
}

/// One caller's window and lock.
#[derive(Debug, Default)]
pub(crate) struct Window {
    admitted: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl Window {
    pub(crate) fn check(&mut self, now: Instant, limits: &NhanhLimits) -> Decision {
        let lock = Duration::from_secs(limits.lock_seconds);
        if let Some(until) = self.locked_until {
            if now < until {
                let until = now + lock;
                self.locked_until = Some(until);
                return Decision::Locked { until };
            }
            self.locked_until = None;
        }
        while let Some(&oldest) = self.admitted.front() {
            if now.saturating_duration_since(oldest) >= limits.window {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if self.admitted.len() >= limits.requests as usize {
            let until = now + lock;
            self.locked_until = Some(until);
            return Decision::Locked { until };
        }
        self.admitted.push_back(now);
        Decision::Admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps: (milliseconds since start, number of calls, expected decisions as
    /// `None` = admitted or `Some(ms)` = locked until that many ms since start).
    fn check(steps: &[(u64, usize, Option<u64>)]) {
        let limits = NhanhLimits::default();
        let start = Instant::now();
        let mut window = Window::default();
        for &(at, calls, expect) in steps {
            let now = start + Duration::from_millis(at);
            for call in 0..calls {
                let expect = match expect {
                    None => Decision::Admitted,
                    Some(ms) => Decision::Locked { until: start + Duration::from_millis(ms) },
                };
                assert_eq!(window.check(now, &limits), expect, "at {at} ms, call {call}");
            }
        }
    }

    #[test]
    fn the_151st_call_within_30_seconds_is_locked_for_10_seconds() {
        check(&[(0, 150, None), (1_000, 1, Some(11_000))]);
    }

    #[test]
    fn a_call_while_locked_restarts_the_lock() {
        check(&[(0, 150, None), (1_000, 1, Some(11_000)), (5_000, 1, Some(15_000)), (14_000, 1, Some(24_000))]);
    }

    #[test]
    fn after_the_lock_a_call_is_admitted_once_the_window_has_room() {
        check(&[
            (0, 150, None),
            (1_000, 1, Some(11_000)),
            (11_000, 1, Some(21_000)),
            (30_000, 150, None),
            (30_001, 1, Some(40_001)),
        ]);
    }

    #[test]
    fn calls_spread_below_the_limit_are_never_locked() {
        let steps: Vec<(u64, usize, Option<u64>)> = (0..1_000).map(|i| (i * 201, 1, None)).collect();
        check(&steps);
    }
}
