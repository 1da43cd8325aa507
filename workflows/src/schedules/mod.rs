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
//! - [`children`]: requesting child jobs from a step and waiting for them without holding a worker;
//!   [`wake_parents`] ends a parent's wait as soon as one of its children ends.
//! - [`pipeline`]: the PIPELINE job type.

pub mod children;
pub mod pipeline;
pub mod scheduler;
pub mod spec;

use std::sync::Arc;

use dongbo_engine::{Engine, JobId, Registry, SharedStore};

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

/// Wakes a parent (PIPELINE, RECONCILE) as soon as one of its child jobs ends, rather than at
/// its next look (`recheckSecs`): an [`Engine::on_finish`] hook that finds the ended job's parent
/// (`job_children`, by its primary key) and ends the parent's wait ([`Engine::wake`]). The parent
/// then looks at its children at once; its periodic look stays, for children that end where no
/// hook runs (a cancel of a job nobody runs, another binary). Failures are logged, never raised.
pub fn wake_parents(engine: &Engine) {
    let (store, clock) = (engine.store().clone(), engine.clock().clone());
    engine.on_finish(Arc::new(move |child: JobId, _| {
        let (store, clock) = (store.clone(), clock.clone());
        Box::pin(async move {
            let parent = match crate::catalog::store::schedules::parent_of(&store.db(), &child.to_string()).await {
                Ok(Some(link)) => link.parent_job_id,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(job = %child, error = %e, "looking up the parent of an ended job");
                    return;
                }
            };
            let Ok(parent) = parent.parse::<JobId>() else { return };
            match store.wake(parent, clock.now()).await {
                Ok(woken) => tracing::debug!(job = %child, parent = %parent, woken, "child ended"),
                Err(e) => tracing::warn!(job = %child, parent = %parent, error = %e, "waking the parent"),
            }
        })
    }));
}
