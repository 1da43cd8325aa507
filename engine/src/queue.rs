//! What a free worker claims next: priorities, aging, and what a waiting job waits behind.
//!
//! Every job carries a [`Priority`] (webhook work before manual work before scheduled work). A
//! worker claims the due job of the highest *effective* level, the oldest first among equals; a
//! job's effective level rises by one for every [`QueuePolicy::aging`] it has waited since it
//! became due, so low-priority work is never starved for ever. A job whose concurrency key is
//! held by another unfinished, started job is not claimable at all: it waits behind that job.
//! The stores' claim statements order by the same rule as [`effective_level`]; the queue view
//! ([`crate::Store::queue`]) sorts with it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::JobId;

/// How urgent a job is. Ordered: `Scheduled < Manual < Webhook`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    /// Started by a schedule: runs when nothing more urgent waits.
    Scheduled,
    /// Asked for by a person (the API, the CLI, the dashboard).
    #[default]
    Manual,
    /// Caused by a webhook delivery: small, targeted, and what keeps the stores fresh.
    Webhook,
}

impl Priority {
    /// Every priority, least urgent first.
    pub const ALL: [Priority; 3] = [Priority::Scheduled, Priority::Manual, Priority::Webhook];

    /// The stored spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Priority::Scheduled => "SCHEDULED",
            Priority::Manual => "MANUAL",
            Priority::Webhook => "WEBHOOK",
        }
    }

    /// The level the queue stores and orders by (higher is claimed first).
    pub fn level(&self) -> i64 {
        match self {
            Priority::Scheduled => 0,
            Priority::Manual => 1,
            Priority::Webhook => 2,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown priority `{s}` (expected one of WEBHOOK, MANUAL, SCHEDULED)"))
    }
}

/// How the queue orders waiting work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// A waiting job's effective priority rises one level per this much waiting. At least 1 ms.
    pub aging: Duration,
}

impl QueuePolicy {
    /// The default: one level per ten minutes, so a scheduled job waits at most twenty minutes
    /// behind a stream of webhook work before it is claimed as if it were webhook work itself.
    pub const DEFAULT_AGING: Duration = Duration::from_secs(600);

    /// The aging period in whole milliseconds, at least 1 (what the claim statements divide by).
    pub fn aging_ms(&self) -> i64 {
        i64::try_from(self.aging.as_millis()).unwrap_or(i64::MAX).max(1)
    }
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy { aging: Self::DEFAULT_AGING }
    }
}

/// A job's effective level at `now`: its priority's level plus one per aging period it has been
/// due (`due_at` is when it became claimable; a job not yet due has not aged).
pub fn effective_level(priority: i64, due_at: DateTime<Utc>, now: DateTime<Utc>, policy: &QueuePolicy) -> i64 {
    let waited = (now - due_at).num_milliseconds().max(0);
    priority.saturating_add(waited / policy.aging_ms())
}

/// Where a waiting job stands in claim order; the smaller rank is claimed first: due before not
/// yet due, then the highest effective level, then the longest waiting, then the oldest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimRank {
    not_yet_due: bool,
    level: std::cmp::Reverse<i64>,
    due_at: DateTime<Utc>,
    id: JobId,
}

impl ClaimRank {
    /// The rank at `now` of job `id` of stored `priority` level, due at `due_at`.
    pub fn at(id: JobId, priority: i64, due_at: DateTime<Utc>, now: DateTime<Utc>, policy: &QueuePolicy) -> Self {
        ClaimRank {
            not_yet_due: due_at > now,
            level: std::cmp::Reverse(effective_level(priority, due_at, now, policy)),
            due_at,
            id,
        }
    }

    /// The effective level this rank was computed with.
    pub fn level(&self) -> i64 {
        self.level.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn check(priority: Priority, waited_secs: i64, aging_secs: u64, expect: i64) {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let due = now - chrono::Duration::seconds(waited_secs);
        let policy = QueuePolicy { aging: Duration::from_secs(aging_secs) };
        assert_eq!(effective_level(priority.level(), due, now, &policy), expect, "{priority} waited {waited_secs}s");
    }

    #[test]
    fn a_job_rises_one_level_per_aging_period_waited() {
        check(Priority::Webhook, 0, 600, 2);
        check(Priority::Manual, 599, 600, 1);
        check(Priority::Manual, 600, 600, 2);
        check(Priority::Scheduled, 1_200, 600, 2);
        check(Priority::Scheduled, 1_800, 600, 3);
        // Not yet due: no aging, and no negative aging either.
        check(Priority::Manual, -60, 600, 1);
    }

    #[test]
    fn priorities_order_and_parse_by_their_stored_names() {
        assert!(Priority::Webhook > Priority::Manual && Priority::Manual > Priority::Scheduled);
        assert_eq!(Priority::default(), Priority::Manual);
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), p);
        }
        assert!("urgent".parse::<Priority>().is_err());
        assert_eq!(serde_json::to_value(Priority::Webhook).unwrap(), serde_json::json!("WEBHOOK"));
    }

    #[test]
    fn a_zero_aging_period_is_read_as_one_millisecond() {
        assert_eq!(QueuePolicy { aging: Duration::ZERO }.aging_ms(), 1);
    }

    #[test]
    fn due_work_of_the_highest_effective_level_is_claimed_first_then_the_oldest() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let policy = QueuePolicy::default();
        let ago = |s: i64| now - chrono::Duration::seconds(s);
        let (a, b, c, d) = (JobId::new(), JobId::new(), JobId::new(), JobId::new());
        let mut ranks = [
            ClaimRank::at(a, Priority::Manual.level(), ago(60), now, &policy),
            ClaimRank::at(b, Priority::Webhook.level(), ago(1), now, &policy),
            ClaimRank::at(c, Priority::Scheduled.level(), ago(1_300), now, &policy),
            ClaimRank::at(d, Priority::Webhook.level(), ago(-5), now, &policy),
        ];
        ranks.sort();
        // The scheduled job aged two levels and waited longest; the webhook one not yet due is last.
        assert_eq!(ranks.map(|r| r.id), [c, b, a, d]);
    }
}
