//! The body of a notification: one JSON object, camelCase, the same shape for every event.
//!
//! ```json
//! {
//!   "id": "job.failed:0193…:42",
//!   "event": "job.failed",
//!   "occurredAt": "2026-12-06T04:00:00Z",
//!   "text": "dongbo: PRODUCT_SYNC job 0193… FAILED: …",
//!   "job": { "id": "0193…", "type": "PRODUCT_SYNC", "status": "FAILED", "error": "…", … },
//!   "notice": null
//! }
//! ```

use chrono::{DateTime, Utc};
use dongbo_engine::BackgroundJob;
use serde::Serialize;

use crate::notices::Notice;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvent {
    /// A job failed for good.
    JobFailed,
    /// A job completed after a failure: resumed from FAILED, or a rerun of a FAILED job.
    JobRecovered,
    /// The Nhanh token expires soon (a warning).
    TokenExpiring,
    /// Nhanh refused the token, or it expired (an error).
    TokenInvalid,
}

impl NotifyEvent {
    /// The `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::JobFailed => "job.failed",
            NotifyEvent::JobRecovered => "job.recovered",
            NotifyEvent::TokenExpiring => "token.expiring",
            NotifyEvent::TokenInvalid => "token.invalid",
        }
    }
}

/// The body sent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// Unique per notification (the outbox's dedup key): receivers dedupe on it.
    pub id: String,
    /// `job.failed`, `job.recovered`, `token.expiring` or `token.invalid`.
    pub event: &'static str,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// One line for a person (what chat tools show).
    pub text: String,
    /// The job, for `job.*` events.
    pub job: Option<JobPart>,
    /// The notice, for `token.*` events.
    pub notice: Option<NoticePart>,
}

/// The job in a `job.*` notification.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPart {
    /// Job id.
    pub id: String,
    /// Job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// `FAILED` or `COMPLETED`.
    pub status: String,
    /// The error it failed with (for `job.failed`).
    pub error: Option<String>,
    /// Items to handle, when known.
    pub total: Option<i64>,
    /// Items handled.
    pub processed: i64,
    /// Items that succeeded.
    pub successful: i64,
    /// Items that failed.
    pub failed: i64,
    /// For a rerun: the job it repeats.
    pub rerun_of: Option<String>,
    /// For a resumed job: the status it was resumed from.
    pub resumed_from: Option<String>,
}

/// The notice in a `token.*` notification.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticePart {
    /// `nhanh_token`.
    pub key: &'static str,
    /// `warning` or `error`.
    pub level: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl JobPart {
    /// The job part of `job`.
    pub fn of(job: &BackgroundJob) -> Self {
        let text = |k: &str| job.metadata.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        JobPart {
            id: job.id.to_string(),
            job_type: job.job_type.clone(),
            status: job.status.as_str().to_owned(),
            error: job.error.clone(),
            total: job.total,
            processed: job.processed,
            successful: job.successful,
            failed: job.failed,
            rerun_of: text("rerunOf"),
            resumed_from: text("resumedFrom"),
        }
    }
}

/// A `job.*` notification.
pub fn job_payload(id: String, event: NotifyEvent, job: &BackgroundJob, at: DateTime<Utc>) -> Payload {
    let text = match event {
        NotifyEvent::JobRecovered => format!(
            "dongbo: {} job {} COMPLETED after a failure ({} processed, {} failed)",
            job.job_type, job.id, job.processed, job.failed
        ),
        _ => format!(
            "dongbo: {} job {} FAILED: {}",
            job.job_type,
            job.id,
            job.error.as_deref().unwrap_or("no error recorded")
        ),
    };
    Payload { id, event: event.as_str(), occurred_at: at, text, job: Some(JobPart::of(job)), notice: None }
}

/// A `token.*` notification.
pub fn notice_payload(id: String, event: NotifyEvent, notice: &Notice) -> Payload {
    Payload {
        id,
        event: event.as_str(),
        occurred_at: notice.since,
        text: format!("dongbo: Nhanh token: {}", notice.message),
        job: None,
        notice: Some(NoticePart {
            key: notice.key.as_str(),
            level: notice.level.as_str(),
            message: notice.message.clone(),
        }),
    }
}
