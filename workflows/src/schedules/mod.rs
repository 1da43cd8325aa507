//! Durable schedules and pipelines: dongbo moving on its own.
//!
//! A schedule is a cron expression read in an IANA time zone ([`ScheduleSpec`]) and a job to
//! request at each slot, kept in the store (`catalog::store::schedules`). Every `dongbo serve`
//! and `dongbo worker` runs a [`Scheduler`] that ticks; a tick fires each due slot exactly once
//! across all processes — it wins the slot by a compare-and-set in the store, then requests the
//! job with the idempotency key `schedule:<id>:<slot RFC3339>`, which the engine deduplicates.
//! After an outage only the latest missed slot fires.
//!
//! A firing usually runs a [`pipeline::Pipeline`]: a parent job whose stages request durable
//! child jobs (pull → match → sync) and wait for them; [`crate::reconcile`] is the nightly stage
//! that repairs what webhooks missed.
//!
//! # Layout
//!
//! - [`spec`]: the cron expression and zone, validated; slots as pure functions of `now`.
//! - [`scheduler`]: ticks, "run now", and the loop the processes run.
//! - [`children`]: requesting child jobs from a step and waiting for them without holding a worker.
//! - [`pipeline`]: the PIPELINE job type.

pub mod children;
pub mod pipeline;
pub mod scheduler;
pub mod spec;

use std::sync::Arc;

use dongbo_engine::{Registry, SharedStore};

pub use children::ChildJobs;
pub use pipeline::{Pipeline, PIPELINE};
pub use scheduler::{Fired, ScheduleError, ScheduleId, Scheduler};
pub use spec::{ScheduleSpec, DEFAULT_TIME_ZONE};

/// Registers RECONCILE and PIPELINE, whose steps request child jobs on `store`. Call it after
/// every other type is registered: a pipeline's stages may run any type registered before it.
pub fn register(registry: &mut Registry, store: &SharedStore, upstreams: &crate::Upstreams) {
    let sync_children = ChildJobs::new(Arc::downgrade(store), registry.clone());
    registry.register(crate::reconcile::Reconcile::new(upstreams.clone(), sync_children));
    let children = ChildJobs::new(Arc::downgrade(store), registry.clone());
    registry.register(Pipeline::new(children));
}
