//! Where a token stands, from its expiry and the time: pure, so the 30-day warning is tested with
//! numbers, not waits.

use std::time::Duration;

/// What to do about a token that expired, was replaced, or will expire soon. Job failures and
/// warnings end with it.
pub const RENEW: &str = "run `dongbo nhanh authorize` or press \"Authorise Nhanh\" on the dashboard";

/// How long before expiry dongbo starts warning: Nhanh's tokens live one year and cannot be
/// refreshed, so a business must authorise again in time.
pub const WARN_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where a token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// More than [`WARN_BEFORE`] left.
    Valid {
        /// Expiry, unix seconds.
        expires_at: i64,
    },
    /// Expires within [`WARN_BEFORE`].
    ExpiringSoon {
        /// Expiry, unix seconds.
        expires_at: i64,
        /// Whole days left (0 on the last day).
        days_left: i64,
    },
    /// Already expired.
    Expired {
        /// Expiry, unix seconds.
        expires_at: i64,
    },
}

/// Where a token expiring at `expires_at` stands at `now` (both unix seconds).
pub fn assess(expires_at: i64, now: i64) -> Standing {
    let left = expires_at - now;
    if left <= 0 {
        Standing::Expired { expires_at }
    } else if left <= WARN_BEFORE.as_secs() as i64 {
        Standing::ExpiringSoon { expires_at, days_left: left / 86_400 }
    } else {
        Standing::Valid { expires_at }
    }
}

impl Standing {
    /// The operator's warning, when there is one.
    pub fn warning(&self) -> Option<String> {
        match *self {
            Standing::Valid { .. } => None,
            Standing::ExpiringSoon { expires_at, days_left } => Some(format!(
                "the Nhanh access token expires on {} ({}): {RENEW}",
                date(expires_at),
                match days_left {
                    0 => "today".to_owned(),
                    1 => "in 1 day".to_owned(),
                    n => format!("in {n} days"),
                }
            )),
            Standing::Expired { expires_at } => {
                Some(format!("the Nhanh access token expired on {}: {RENEW}", date(expires_at)))
            }
        }
    }
}

/// `2026-12-31 23:59 UTC`.
pub fn date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map_or_else(|| format!("unix time {unix}"), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn check(expires_in: i64, expect: Option<&str>) {
        let now = 1_800_000_000;
        let got = assess(now + expires_in, now).warning();
        match (got.as_deref(), expect) {
            (None, None) => {}
            (Some(g), Some(e)) => assert!(g.contains(e) && g.contains("dongbo nhanh authorize"), "{g}"),
            (g, e) => panic!("expires in {expires_in}s: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn a_token_is_warned_about_from_30_days_before_it_expires() {
        check(365 * DAY, None);
        check(30 * DAY + 1, None);
        check(30 * DAY, Some("in 30 days"));
        check(29 * DAY + 5, Some("in 29 days"));
        check(DAY + 1, Some("in 1 day"));
        check(60, Some("today"));
        check(0, Some("expired on"));
        check(-DAY, Some("expired on"));
    }

    #[test]
    fn a_date_reads_in_utc() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
    }
}
