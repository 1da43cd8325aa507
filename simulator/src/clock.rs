//! The simulator's clock: `tokio::time::Instant` mapped onto unix time.
//!
//! Every limiter and timestamp goes through [`SimClock`], so a test that pauses tokio's time sees
//! lock expiries, bucket refills and `updatedAt` move exactly as far as it advances them.

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::time::Instant;

/// Maps tokio's (pausable) monotonic clock onto unix time from a fixed start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimClock {
    start: Instant,
    start_unix_ms: i64,
}

impl SimClock {
    /// A clock whose "now" is the real time at this call.
    pub(crate) fn start() -> Self {
        let start_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        SimClock { start: Instant::now(), start_unix_ms }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::now()
    }

    /// Unix milliseconds of a tokio instant.
    pub(crate) fn unix_ms_at(&self, at: Instant) -> i64 {
        let delta = if at >= self.start {
            at.duration_since(self.start).as_millis() as i64
        } else {
            -(self.start.duration_since(at).as_millis() as i64)
        };
        self.start_unix_ms + delta
    }

    pub(crate) fn unix_ms(&self) -> i64 {
        self.unix_ms_at(self.now())
    }

    pub(crate) fn unix_secs(&self) -> i64 {
        self.unix_ms().div_euclid(1000)
    }
}

/// ISO 8601 UTC with a `Z`, as Shopify writes `DateTime` (`2025-01-01T00:00:00Z`).
pub(crate) fn iso(unix_secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_secs, 0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses the date forms Shopify's search syntax accepts: RFC 3339 or a bare `YYYY-MM-DD`.
pub(crate) fn parse_iso(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Option<i64>) {
        assert_eq!(parse_iso(text), expect, "{text}");
        if let Some(secs) = expect {
            assert_eq!(parse_iso(&iso(secs)), Some(secs));
        }
    }

    #[test]
    fn search_dates_parse_in_every_accepted_form() {
        check("2025-01-01T00:00:00Z", Some(1_735_689_600));
        check("2025-01-01T07:00:00+07:00", Some(1_735_689_600));
        check("2025-01-01T00:00:00", Some(1_735_689_600));
        check("2025-01-01", Some(1_735_689_600));
        check("yesterday-ish", None);
    }
}
