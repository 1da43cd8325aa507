//! Coalescing of a running job's live-feed notices.
//!
//! On PostgreSQL a `pg_notify` costs about a quarter of an empty step's commit, and a job's steps
//! may commit thousands of times a second, while nobody watching a job needs more than a few
//! updates a second. So the commits a lease holder makes in the middle of a job announce at most
//! once per interval per job, and the last commit of a quiet window is announced by a trailing
//! notice; everything else (requests, claims, the end of a lease, cancels) announces at once.
//! Listeners read the job's current state when a notice arrives, so a coalesced notice loses
//! nothing: one read sees every commit it stands for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ids::JobId;

/// The longest a mid-job commit waits to be announced.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Past this many tracked jobs, entries with nothing pending are forgotten.
const TRACKED: usize = 1024;

/// Per-job announcement state of one process's store.
#[derive(Debug, Default)]
pub struct NotifyGate {
    jobs: Mutex<HashMap<JobId, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    sent_at: Instant,
    /// The latest committed sequence number not yet announced.
    pending: Option<i64>,
    /// Whether a trailing notice is scheduled.
    flush_scheduled: bool,
}

/// What to do about a commit that was not announced at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferred {
    /// A trailing notice is already scheduled; it will carry this commit.
    Covered,
    /// Schedule a trailing notice for this moment.
    FlushAt(Instant),
}

impl NotifyGate {
    /// Whether a mid-job commit of `job` at `now` should announce itself in its own statement.
    pub fn announce_now(&self, job: JobId, now: Instant) -> bool {
        let jobs = self.jobs.lock().expect("notify gate poisoned");
        !matches!(jobs.get(&job), Some(e) if now.saturating_duration_since(e.sent_at) < INTERVAL)
    }

    /// A mid-job commit of `job` was announced at `now`.
    pub fn announced(&self, job: JobId, now: Instant) {
        let mut jobs = self.jobs.lock().expect("notify gate poisoned");
        if jobs.len() >= TRACKED {
            jobs.retain(|_, e| e.pending.is_some() || e.flush_scheduled);
        }
        let flush_scheduled = jobs.get(&job).is_some_and(|e| e.flush_scheduled);
        jobs.insert(job, Entry { sent_at: now, pending: None, flush_scheduled });
    }

    /// A mid-job commit of `job` at `seq` was not announced; says whether to schedule the
    /// trailing notice.
    pub fn deferred(&self, job: JobId, seq: i64) -> Deferred {
        let mut jobs = self.jobs.lock().expect("notify gate poisoned");
        let now = Instant::now();
        let entry = jobs.entry(job).or_insert(Entry { sent_at: now, pending: None, flush_scheduled: false });
        entry.pending = Some(entry.pending.map_or(seq, |p| p.max(seq)));
        if entry.flush_scheduled {
            return Deferred::Covered;
        }
        entry.flush_scheduled = true;
        Deferred::FlushAt(entry.sent_at + INTERVAL)
    }

    /// The trailing notice is due: the sequence number to announce, if any is still pending.
    pub fn flush(&self, job: JobId, now: Instant) -> Option<i64> {
        let mut jobs = self.jobs.lock().expect("notify gate poisoned");
        let entry = jobs.get_mut(&job)?;
        entry.flush_scheduled = false;
        let seq = entry.pending.take()?;
        entry.sent_at = now;
        Some(seq)
    }

    /// `job`'s lease ended (it finished, will retry, or was released) with a notice of its own:
    /// nothing of it is pending any more.
    pub fn forget(&self, job: JobId) {
        self.jobs.lock().expect("notify gate poisoned").remove(&job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_commit_of_a_job_is_announced_at_once() {
        let gate = NotifyGate::default();
        assert!(gate.announce_now(JobId::new(), Instant::now()));
    }

    #[test]
    fn commits_within_the_interval_wait_for_one_trailing_notice_with_the_latest_seq() {
        let gate = NotifyGate::default();
        let job = JobId::new();
        let t0 = Instant::now();
        gate.announced(job, t0);
        assert!(!gate.announce_now(job, t0 + INTERVAL / 2));
        assert_eq!(gate.deferred(job, 5), Deferred::FlushAt(t0 + INTERVAL));
        assert_eq!(gate.deferred(job, 7), Deferred::Covered);
        assert_eq!(gate.flush(job, t0 + INTERVAL), Some(7));
        assert_eq!(gate.flush(job, t0 + INTERVAL), None, "a flush announces once");
        assert!(gate.announce_now(job, t0 + INTERVAL * 2));
    }

    #[test]
    fn a_finished_job_leaves_nothing_to_flush() {
        let gate = NotifyGate::default();
        let job = JobId::new();
        gate.announced(job, Instant::now());
        assert!(matches!(gate.deferred(job, 3), Deferred::FlushAt(_)));
        gate.forget(job);
        assert_eq!(gate.flush(job, Instant::now()), None);
    }

    #[test]
    fn an_announcement_between_deferrals_keeps_the_scheduled_flush() {
        let gate = NotifyGate::default();
        let job = JobId::new();
        let t0 = Instant::now();
        gate.announced(job, t0);
        assert!(matches!(gate.deferred(job, 2), Deferred::FlushAt(_)));
        gate.announced(job, t0 + INTERVAL);
        assert_eq!(gate.deferred(job, 4), Deferred::Covered);
        assert_eq!(gate.flush(job, t0 + INTERVAL * 2), Some(4));
    }
}
