//! Events: the stored form of everything that happens to a job.
//!
//! Each payload carries a version `v`. A payload of a version this binary does not know fails to
//! decode with a clear error instead of being misread; new versions must keep decoding old ones.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::JobId;

/// The payload version this binary writes.
pub const PAYLOAD_VERSION: u32 = 1;

/// Counters a step adds to its job, and the metadata it merges in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Sets the job's total when known (replaces, does not add).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// Items handled by the step.
    #[serde(default)]
    pub processed: i64,
    /// Items that succeeded.
    #[serde(default)]
    pub successful: i64,
    /// Items that failed.
    #[serde(default)]
    pub failed: i64,
    /// Keys merged (shallowly) into the job's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl Progress {
    /// Progress that only sets the total.
    pub fn total(total: i64) -> Self {
        Progress { total: Some(total), ..Progress::default() }
    }
}

/// A record a step touched, for the audit trail: `kind` names the entity type
/// (e.g. `nhanh_customer`), `id` its upstream id, `action` what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRef {
    /// Entity type.
    pub kind: String,
    /// Entity id.
    pub id: String,
    /// What the step did to it.
    pub action: String,
}

impl EntityRef {
    /// The key under which the audit index files this entity: `kind:id`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

/// A job was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequested {
    /// Payload version.
    pub v: u32,
    /// The workflow type.
    pub job_type: String,
    /// The validated input.
    pub input: Value,
    /// The caller's idempotency key.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The workflow's concurrency key for this input.
    #[serde(default)]
    pub concurrency_key: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// For a rerun: the job whose input this one repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<JobId>,
    /// How urgent the job is (`MANUAL` in requests recorded before priorities existed).
    #[serde(default)]
    pub priority: crate::queue::Priority,
}

/// A worker took the job's lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobClaimed {
    /// Payload version.
    pub v: u32,
    /// The worker.
    pub worker: String,
    /// How many times the job has been claimed, this one included.
    pub attempt: u32,
    /// For a resume: the sequence number of the checkpoint it continues from (`None` = start).
    #[serde(default)]
    pub resumed_from: Option<i64>,
    /// True when the previous holder lost its lease rather than releasing it.
    #[serde(default)]
    pub after_lost_lease: bool,
    /// True when this claim ends a wait ([`StepCompleted::wait_until`]): it is not counted in
    /// the job's `attempts`. Absent (false) in claims recorded before waits existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_wait: bool,
}

/// A step finished and its checkpoint is durable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepCompleted {
    /// Payload version.
    pub v: u32,
    /// The step's name.
    pub step: String,
    /// The version of the workflow's state schema the checkpoint is written in.
    pub state_version: u32,
    /// The checkpoint: the workflow state after this step.
    pub state: Value,
    /// What the step adds to the job's counters.
    pub progress: Progress,
    /// A human note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Records the step touched: all of them, or the first [`TOUCHED_IN_PAYLOAD`] when it
    /// touched more (then `touched_count` says how many). The audit index holds them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub touched: Vec<EntityRef>,
    /// How many records the step touched, when that is more than `touched` lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touched_count: Option<u64>,
    /// Set when the step asked to wait (`Step::wait`): the worker gave the job up with this
    /// checkpoint, and the job is not claimed again before this time. Absent in steps recorded
    /// before waits existed, which never waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_until: Option<DateTime<Utc>>,
}

/// The most touched records a `StepCompleted` payload lists. A match batch touches tens of
/// thousands (≈ 70 bytes each), which the audit index (`event_entities`) files one by one;
/// repeating them all in the payload would make every page of a job's events megabytes.
pub const TOUCHED_IN_PAYLOAD: usize = 1_000;

impl StepCompleted {
    /// What the payload keeps of `touched`: the first [`TOUCHED_IN_PAYLOAD`], and the count
    /// when it keeps fewer than all.
    pub fn touched_sample(touched: &[EntityRef]) -> (Vec<EntityRef>, Option<u64>) {
        let sample = touched.iter().take(TOUCHED_IN_PAYLOAD).cloned().collect();
        (sample, (touched.len() > TOUCHED_IN_PAYLOAD).then_some(touched.len() as u64))
    }
}

/// A step failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepFailed {
    /// Payload version.
    pub v: u32,
    /// The step's name.
    pub step: String,
    /// Consecutive failures of this step, this one included.
    pub attempt: u32,
    /// Why.
    pub error: String,
    /// Whether it will be tried again.
    pub retryable: bool,
    /// When it will be tried again.
    #[serde(default)]
    pub next_retry_at: Option<DateTime<Utc>>,
}

/// Someone asked to cancel the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequested {
    /// Payload version.
    pub v: u32,
    /// Who asked.
    pub requested_by: String,
}

/// The job finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCompleted {
    /// Payload version.
    pub v: u32,
    /// The workflow's summary.
    pub summary: Value,
}

/// The job failed for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFailed {
    /// Payload version.
    pub v: u32,
    /// Why.
    pub error: String,
}

/// The job stopped on request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCancelled {
    /// Payload version.
    pub v: u32,
    /// Who asked.
    pub requested_by: String,
}

/// Someone resumed a failed or cancelled job: it continues from its last checkpoint under the
/// same id, and is claimable again at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResumed {
    /// Payload version.
    pub v: u32,
    /// Who resumed it.
    pub by: String,
    /// Why, in their words.
    #[serde(default)]
    pub reason: Option<String>,
    /// The status it had stopped in (`FAILED` or `CANCELLED`).
    pub previous_status: crate::status::JobStatus,
    /// The sequence number of the checkpoint it continues from (`None` = from the start).
    #[serde(default)]
    pub from_checkpoint: Option<i64>,
}

/// An event's payload as it is stored ([`EventPayload::as_stored`]).
#[derive(Debug, Clone, Copy)]
pub struct StoredPayload<'a>(&'a EventPayload);

impl Serialize for StoredPayload<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            EventPayload::JobRequested(p) => p.serialize(s),
            EventPayload::JobClaimed(p) => p.serialize(s),
            EventPayload::StepCompleted(p) => p.serialize(s),
            EventPayload::StepFailed(p) => p.serialize(s),
            EventPayload::CancelRequested(p) => p.serialize(s),
            EventPayload::JobCompleted(p) => p.serialize(s),
            EventPayload::JobFailed(p) => p.serialize(s),
            EventPayload::JobCancelled(p) => p.serialize(s),
            EventPayload::JobResumed(p) => p.serialize(s),
        }
    }
}

/// Every kind of event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    /// See [`JobRequested`].
    JobRequested(JobRequested),
    /// See [`JobClaimed`].
    JobClaimed(JobClaimed),
    /// See [`StepCompleted`].
    StepCompleted(StepCompleted),
    /// See [`StepFailed`].
    StepFailed(StepFailed),
    /// See [`CancelRequested`].
    CancelRequested(CancelRequested),
    /// See [`JobCompleted`].
    JobCompleted(JobCompleted),
    /// See [`JobFailed`].
    JobFailed(JobFailed),
    /// See [`JobCancelled`].
    JobCancelled(JobCancelled),
    /// See [`JobResumed`].
    JobResumed(JobResumed),
}

/// A stored payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The event type is not one this binary knows.
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    /// The payload's version is newer than this binary understands.
    #[error("{event_type} payload version {found} is newer than this binary reads ({known})")]
    TooNew {
        /// The event type.
        event_type: String,
        /// The stored version.
        found: u64,
        /// The newest version known here.
        known: u32,
    },
    /// The payload does not have the shape of its type.
    #[error("malformed {event_type} payload: {source}")]
    Malformed {
        /// The event type.
        event_type: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl EventPayload {
    /// The event type as stored.
    pub fn event_type(&self) -> &'static str {
        match self {
            EventPayload::JobRequested(_) => "JobRequested",
            EventPayload::JobClaimed(_) => "JobClaimed",
            EventPayload::StepCompleted(_) => "StepCompleted",
            EventPayload::StepFailed(_) => "StepFailed",
            EventPayload::CancelRequested(_) => "CancelRequested",
            EventPayload::JobCompleted(_) => "JobCompleted",
            EventPayload::JobFailed(_) => "JobFailed",
            EventPayload::JobCancelled(_) => "JobCancelled",
            EventPayload::JobResumed(_) => "JobResumed",
        }
    }

    /// The stored JSON, serialised straight from the payload (no [`Value`] built on the way): what
    /// a store binds. Its keys come in the struct's order rather than [`EventPayload::to_json`]'s
    /// sorted order; readers parse the payload, so the order is not part of what is stored.
    pub fn as_stored(&self) -> StoredPayload<'_> {
        StoredPayload(self)
    }

    /// The stored JSON as text (a store that keeps payloads as text), serialised as
    /// [`EventPayload::as_stored`] is.
    pub fn to_text(&self) -> String {
        // Serialising these plain structs cannot fail: no maps with non-string keys.
        serde_json::to_string(&self.as_stored()).unwrap_or_else(|_| "null".to_owned())
    }

    /// The stored JSON as a [`Value`] (its keys sorted).
    pub fn to_json(&self) -> Value {
        // Serialising these plain structs into a Value cannot fail: no maps with non-string keys.
        serde_json::to_value(self.as_stored()).unwrap_or(Value::Null)
    }

    /// Reads a stored payload, refusing versions from the future and unknown types.
    pub fn decode(event_type: &str, payload: &Value) -> Result<EventPayload, DecodeError> {
        let found = payload.get("v").and_then(Value::as_u64).unwrap_or(1);
        if found > u64::from(PAYLOAD_VERSION) {
            return Err(DecodeError::TooNew { event_type: event_type.to_owned(), found, known: PAYLOAD_VERSION });
        }
        fn de<T: serde::de::DeserializeOwned>(t: &str, v: &Value) -> Result<T, DecodeError> {
            T::deserialize(v).map_err(|source| DecodeError::Malformed { event_type: t.to_owned(), source })
        }
        Ok(match event_type {
            "JobRequested" => EventPayload::JobRequested(de(event_type, payload)?),
            "JobClaimed" => EventPayload::JobClaimed(de(event_type, payload)?),
            "StepCompleted" => EventPayload::StepCompleted(de(event_type, payload)?),
            "StepFailed" => EventPayload::StepFailed(de(event_type, payload)?),
            "CancelRequested" => EventPayload::CancelRequested(de(event_type, payload)?),
            "JobCompleted" => EventPayload::JobCompleted(de(event_type, payload)?),
            "JobFailed" => EventPayload::JobFailed(de(event_type, payload)?),
            "JobCancelled" => EventPayload::JobCancelled(de(event_type, payload)?),
            "JobResumed" => EventPayload::JobResumed(de(event_type, payload)?),
            other => return Err(DecodeError::UnknownType(other.to_owned())),
        })
    }

    /// Whether this event ends the job.
    pub fn is_terminal(&self) -> bool {
        matches!(self, EventPayload::JobCompleted(_) | EventPayload::JobFailed(_) | EventPayload::JobCancelled(_))
    }
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Global position in the log.
    pub position: i64,
    /// The job (stream).
    pub job_id: JobId,
    /// Sequence number within the job, from 1, contiguous.
    pub seq: i64,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The stored payload.
    pub payload: Value,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who wrote it (a worker, a user, the API).
    pub actor: String,
}

impl Event {
    /// Decodes the payload.
    pub fn decode(&self) -> Result<EventPayload, DecodeError> {
        EventPayload::decode(&self.event_type, &self.payload)
    }
}

/// An event about to be appended: the store assigns its position.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The sequence number it must get (fencing: the append fails if taken).
    pub seq: i64,
    /// What happened.
    pub payload: EventPayload,
    /// When.
    pub recorded_at: DateTime<Utc>,
    /// Who.
    pub actor: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_payload_round_trips_through_its_stored_form() {
        let p = EventPayload::StepFailed(StepFailed {
            v: 1,
            step: "page".into(),
            attempt: 2,
            error: "boom".into(),
            retryable: true,
            next_retry_at: None,
        });
        assert_eq!(EventPayload::decode(p.event_type(), &p.to_json()).unwrap(), p);
    }

    #[test]
    fn a_payload_from_a_newer_version_is_refused_not_misread() {
        let err = EventPayload::decode("JobFailed", &json!({"v": 2, "error": "x"})).unwrap_err();
        assert!(err.to_string().contains("version 2 is newer"), "{err}");
    }

    #[test]
    fn an_unknown_event_type_is_an_error() {
        assert!(matches!(EventPayload::decode("Nope", &json!({})), Err(DecodeError::UnknownType(_))));
    }

    #[test]
    fn a_payload_of_the_wrong_shape_is_an_error_not_a_panic() {
        let err = EventPayload::decode("JobClaimed", &json!({"v": 1, "worker": 3})).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const TYPES: &[&str] = &[
        "JobRequested",
        "JobClaimed",
        "StepCompleted",
        "StepFailed",
        "CancelRequested",
        "JobCompleted",
        "JobFailed",
        "JobCancelled",
        "Unknown",
    ];
    const FIELDS: &[&str] = &[
        "v",
        "jobType",
        "input",
        "idempotencyKey",
        "worker",
        "attempt",
        "resumedFrom",
        "step",
        "stateVersion",
        "state",
        "progress",
        "total",
        "processed",
        "metadata",
        "touched",
        "touchedCount",
        "waitUntil",
        "afterWait",
        "afterLostLease",
        "kind",
        "id",
        "action",
        "error",
        "retryable",
        "nextRetryAt",
        "requestedBy",
        "summary",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            Just(Value::String("2026-01-01T00:00:00Z".into())),
        ];
        leaf.prop_recursive(4, 48, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(FIELDS), inner), 0..10)
                    .prop_map(|kv| { Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()) }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn stored_payloads_of_any_shape_decode_or_fail_without_panicking(
            event_type in prop::sample::select(TYPES),
            payload in json(),
        ) {
            if let Ok(decoded) = EventPayload::decode(event_type, &payload) {
                // What decodes re-encodes into something that decodes to the same value.
                prop_assert_eq!(EventPayload::decode(decoded.event_type(), &decoded.to_json()).ok(), Some(decoded));
            }
        }
    }
}
