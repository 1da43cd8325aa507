//! The `background_jobs` projection: the old tool's BackgroundJob row, derived from the log.
//!
//! [`apply`] is the only way a row changes. The stores call it inside the transaction that
//! appends the event, and [`fold`] (replaying a job's events from nothing) uses the same
//! function, so the projection always equals a replay of the log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{Event, EventPayload};
use crate::ids::JobId;
use crate::queue::Priority;
pub use crate::status::JobStatus;

/// One row of `background_jobs`, serialised in the old tool's camelCase shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundJob {
    /// Job id.
    pub id: JobId,
    /// Workflow type, e.g. `PULL_NHANH_CUSTOMERS`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Status.
    pub status: JobStatus,
    /// How urgent it is: what a free worker claims first (from its request; `MANUAL` for jobs
    /// requested before priorities existed).
    #[serde(default)]
    pub priority: Priority,
    /// Items to handle, when known.
    pub total: Option<i64>,
    /// Items handled.
    pub processed: i64,
    /// Items that succeeded.
    pub successful: i64,
    /// Items that failed.
    pub failed: i64,
    /// Workflow metadata (an object).
    pub metadata: Value,
    /// The last error.
    pub error: Option<String>,
    /// When requested.
    pub created_at: DateTime<Utc>,
    /// When first claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// How many times a worker has claimed it, not counting the claims that end a wait
    /// (`Step::wait`): a wait is neither an attempt nor a failure.
    pub attempts: i64,
}

/// The metadata key under which the projection shows until when a waiting job waits (an RFC 3339
/// time): set by a `StepCompleted` that waits, removed by the claim that ends the wait or by the
/// job's end.
pub const WAITING_UNTIL: &str = "waitingUntil";

impl BackgroundJob {
    /// Until when the job waits after a `Step::wait`, if it is waiting.
    pub fn waiting_until(&self) -> Option<DateTime<Utc>> {
        let at = self.metadata.get(WAITING_UNTIL)?.as_str()?;
        DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Utc))
    }
}

/// An event that cannot be applied to the row as it stands.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FoldError {
    /// The first event of a stream must be `JobRequested`.
    #[error("event {seq} of job {job} comes before its JobRequested")]
    NoRequest {
        /// The job.
        job: JobId,
        /// The event's sequence number.
        seq: i64,
    },
    /// A stored payload failed to decode.
    #[error("event {seq} of job {job}: {reason}")]
    Undecodable {
        /// The job.
        job: JobId,
        /// The event's sequence number.
        seq: i64,
        /// Why.
        reason: String,
    },
}

/// Applies one event to a job's row (`None` before the first event).
pub fn apply(row: Option<BackgroundJob>, event: &Event) -> Result<BackgroundJob, FoldError> {
    let payload = event.decode().map_err(|e| FoldError::Undecodable {
        job: event.job_id,
        seq: event.seq,
        reason: e.to_string(),
    })?;
    apply_payload(row, event.job_id, event.seq, event.recorded_at, &payload)
}

/// Applies a decoded payload; see [`apply`].
pub fn apply_payload(
    row: Option<BackgroundJob>,
    job: JobId,
    seq: i64,
    at: DateTime<Utc>,
    payload: &EventPayload,
) -> Result<BackgroundJob, FoldError> {
    let mut row = match (row, payload) {
        (None, EventPayload::JobRequested(req)) => {
            let metadata = match req.rerun_of {
                Some(original) => serde_json::json!({ "rerunOf": original }),
                None => Value::Object(Map::new()),
            };
            return Ok(BackgroundJob {
                id: job,
                job_type: req.job_type.clone(),
                status: JobStatus::Pending,
                priority: req.priority,
                total: None,
                processed: 0,
                successful: 0,
                failed: 0,
                metadata,
                error: None,
                created_at: at,
                started_at: None,
                updated_at: at,
                completed_at: None,
                attempts: 0,
            });
        }
        (None, _) => return Err(FoldError::NoRequest { job, seq }),
        (Some(row), _) => row,
    };
    row.updated_at = at;
    match payload {
        EventPayload::JobRequested(_) => {}
        EventPayload::JobClaimed(c) => {
            if !row.status.is_finished() {
                row.status = JobStatus::Running;
            }
            row.started_at.get_or_insert(at);
            // Claims are numbered one after another, so before waits existed this count equalled
            // the claim number; a claim that ends a wait is not an attempt.
            if !c.after_wait {
                row.attempts += 1;
            }
            stop_waiting(&mut row.metadata);
        }
        EventPayload::StepCompleted(s) => {
            let p = &s.progress;
            if let Some(total) = p.total {
                row.total = Some(total);
            }
            row.processed += p.processed;
            row.successful += p.successful;
            row.failed += p.failed;
            if let Some(meta) = &p.metadata {
                merge(&mut row.metadata, meta);
            }
            row.error = None;
            match s.wait_until {
                Some(until) => merge(&mut row.metadata, &serde_json::json!({ WAITING_UNTIL: until })),
                None => stop_waiting(&mut row.metadata),
            }
        }
        EventPayload::StepFailed(f) => {
            row.error = Some(f.error.clone());
        }
        EventPayload::CancelRequested(_) => {
            merge(&mut row.metadata, &serde_json::json!({ "cancelRequested": true }));
        }
        EventPayload::JobCompleted(c) => {
            row.status = JobStatus::Completed;
            stop_waiting(&mut row.metadata);
            row.completed_at = Some(at);
            row.error = None;
            if !c.summary.is_null() {
                merge(&mut row.metadata, &serde_json::json!({ "summary": c.summary }));
            }
        }
        EventPayload::JobFailed(f) => {
            row.status = JobStatus::Failed;
            stop_waiting(&mut row.metadata);
            row.completed_at = Some(at);
            row.error = Some(f.error.clone());
        }
        EventPayload::JobCancelled(_) => {
            row.status = JobStatus::Cancelled;
            stop_waiting(&mut row.metadata);
            row.completed_at = Some(at);
        }
        EventPayload::JobResumed(r) => {
            // Waiting to be claimed again; what it had done stays counted.
            row.status = JobStatus::Pending;
            row.completed_at = None;
            row.error = None;
            if let Some(meta) = row.metadata.as_object_mut() {
                meta.remove("cancelRequested");
            }
            merge(&mut row.metadata, &serde_json::json!({ "resumedBy": r.by, "resumedFrom": r.previous_status }));
        }
    }
    Ok(row)
}

/// Replays a job's events from nothing.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<Option<BackgroundJob>, FoldError> {
    let mut row = None;
    for e in events {
        row = Some(apply(row, e)?);
    }
    Ok(row)
}

/// Removes the waiting mark ([`WAITING_UNTIL`]).
fn stop_waiting(metadata: &mut Value) {
    if let Some(meta) = metadata.as_object_mut() {
        meta.remove(WAITING_UNTIL);
    }
}

/// Shallow merge of `patch`'s keys into `target` (both treated as objects).
fn merge(target: &mut Value, patch: &Value) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            t.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;
    use serde_json::json;

    fn ev(job: JobId, seq: i64, payload: EventPayload) -> Event {
        Event {
            position: seq,
            job_id: job,
            seq,
            event_type: payload.event_type().into(),
            payload: payload.to_json(),
            recorded_at: DateTime::from_timestamp(1_700_000_000 + seq, 0).unwrap(),
            actor: "test".into(),
        }
    }

    fn check(events: Vec<EventPayload>, expect: serde_json::Value) {
        let job = JobId::new();
        let log: Vec<Event> = events.into_iter().enumerate().map(|(i, p)| ev(job, i as i64 + 1, p)).collect();
        let row = fold(&log).unwrap().unwrap();
        let got = serde_json::to_value(&row).unwrap();
        for (k, v) in expect.as_object().unwrap() {
            assert_eq!(&got[k], v, "field {k} of {got}");
        }
    }

    fn requested() -> EventPayload {
        EventPayload::JobRequested(JobRequested {
            v: 1,
            job_type: "X".into(),
            input: json!({}),
            idempotency_key: None,
            concurrency_key: None,
            requested_by: "t".into(),
            rerun_of: None,
            priority: Priority::Webhook,
        })
    }
    fn claimed(attempt: u32) -> EventPayload {
        EventPayload::JobClaimed(JobClaimed {
            v: 1,
            worker: "w".into(),
            attempt,
            resumed_from: None,
            after_lost_lease: false,
            after_wait: false,
        })
    }
    fn woken(attempt: u32) -> EventPayload {
        EventPayload::JobClaimed(JobClaimed {
            v: 1,
            worker: "w".into(),
            attempt,
            resumed_from: Some(3),
            after_lost_lease: false,
            after_wait: true,
        })
    }
    fn waits(until: &str) -> EventPayload {
        EventPayload::StepCompleted(StepCompleted {
            v: 1,
            step: "waiting".into(),
            state_version: 1,
            state: json!(null),
            progress: Progress::default(),
            note: None,
            touched: vec![],
            touched_count: None,
            wait_until: Some(until.parse().unwrap()),
        })
    }
    fn step(progress: Progress) -> EventPayload {
        EventPayload::StepCompleted(StepCompleted {
            v: 1,
            step: "s".into(),
            state_version: 1,
            state: json!(null),
            progress,
            note: None,
            touched: vec![],
            touched_count: None,
            wait_until: None,
        })
    }

    #[test]
    fn a_requested_job_is_pending_with_zero_counts() {
        check(
            vec![requested()],
            json!({"status": "PENDING", "priority": "WEBHOOK", "processed": 0, "attempts": 0, "total": null, "startedAt": null}),
        );
    }

    #[test]
    fn steps_add_their_deltas_and_the_total_is_set_not_added() {
        check(
            vec![
                requested(),
                claimed(1),
                step(Progress {
                    total: Some(10),
                    processed: 4,
                    successful: 3,
                    failed: 1,
                    metadata: Some(json!({"a": 1})),
                }),
                step(Progress {
                    total: Some(12),
                    processed: 5,
                    successful: 5,
                    failed: 0,
                    metadata: Some(json!({"b": 2})),
                }),
            ],
            json!({"status": "RUNNING", "total": 12, "processed": 9, "successful": 8, "failed": 1, "metadata": {"a": 1, "b": 2}, "attempts": 1}),
        );
    }

    #[test]
    fn a_failed_step_shows_its_error_until_the_next_step_succeeds() {
        let failed = EventPayload::StepFailed(StepFailed {
            v: 1,
            step: "s".into(),
            attempt: 1,
            error: "503".into(),
            retryable: true,
            next_retry_at: None,
        });
        check(vec![requested(), claimed(1), failed.clone()], json!({"status": "RUNNING", "error": "503"}));
        check(vec![requested(), claimed(1), failed, step(Progress::default())], json!({"error": null}));
    }

    #[test]
    fn terminal_events_set_status_and_completion_time() {
        check(
            vec![requested(), claimed(1), EventPayload::JobFailed(JobFailed { v: 1, error: "bad token".into() })],
            json!({"status": "FAILED", "error": "bad token", "completedAt": "2023-11-14T22:13:23Z"}),
        );
        check(
            vec![
                requested(),
                claimed(1),
                claimed(2),
                EventPayload::JobCompleted(JobCompleted { v: 1, summary: json!({"n": 1}) }),
            ],
            json!({"status": "COMPLETED", "attempts": 2, "metadata": {"summary": {"n": 1}}}),
        );
    }

    #[test]
    fn a_waiting_job_runs_and_shows_until_when_and_its_wake_up_is_not_an_attempt() {
        let until = "2026-01-01T00:00:05Z";
        check(
            vec![requested(), claimed(1), waits(until)],
            json!({"status": "RUNNING", "attempts": 1, "error": null, "metadata": {"waitingUntil": until}}),
        );
        check(
            vec![requested(), claimed(1), waits(until), woken(2)],
            json!({"status": "RUNNING", "attempts": 1, "metadata": {}}),
        );
        // A claim after a lost lease is an attempt again, counted after the waits.
        check(
            vec![requested(), claimed(1), waits(until), woken(2), waits(until), woken(3), claimed(4)],
            json!({"attempts": 2, "metadata": {}}),
        );
        check(
            vec![
                requested(),
                claimed(1),
                waits(until),
                EventPayload::JobCancelled(JobCancelled { v: 1, requested_by: "op".into() }),
            ],
            json!({"status": "CANCELLED", "metadata": {}}),
        );
    }

    #[test]
    fn a_stream_that_does_not_start_with_a_request_is_refused() {
        let job = JobId::new();
        assert!(matches!(fold(&[ev(job, 1, claimed(1))]), Err(FoldError::NoRequest { .. })));
    }
}
