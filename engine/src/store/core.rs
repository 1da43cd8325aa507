//! The store's orchestration, written once over a [`Driver`]: what a request, a claim, an
//! append, a cancel, a resume and a replay do, whichever database runs the statements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::broadcast;

use super::driver::Driver;
use super::{
    cancel_events, claimed_event, decode_checkpoint, ends_wait, in_claim_order, input_of, queue_state, refuse_resume,
    requested_event, resumed_event, same_input, Append, ClaimRequest, ClaimedJob, Committed, Db, EntityTouch, Existing,
    JobFilter, Lease, NewJob, Notice, QueuedJob, Requested, Result, Store, StoreError,
};
use crate::event::{EntityRef, Event, NewEvent};
use crate::ids::JobId;
use crate::job::{self, BackgroundJob, JobStatus};
use crate::queue::QueuePolicy;

/// A store: the engine's orchestration over one backend's driver.
pub struct Core<D: Driver> {
    pub(crate) driver: D,
}

/// How often a request retries after losing a race on a unique key.
const REQUEST_TRIES: u32 = 3;
/// How often a claim looks again after losing a concurrency key to another worker.
const CLAIM_TRIES: u32 = 8;

/// Whether `e` is a unique-constraint violation (a race lost to another writer).
pub(crate) fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
}

impl<D: Driver> Core<D> {
    /// Inserts events and folds them into the job's projection row (`prior`, or the stored
    /// one), saving it. Returns the row after the last event.
    async fn append_events(
        &self,
        tx: &mut D::Tx,
        job_id: JobId,
        prior: Option<BackgroundJob>,
        events: &[NewEvent],
        touched: &[EntityRef],
    ) -> Result<BackgroundJob> {
        let mut row = match prior {
            Some(row) => Some(row),
            None => self.driver.load_job(tx, job_id).await?,
        };
        self.driver.insert_events(tx, job_id, events, touched).await?;
        for e in events {
            row = Some(job::apply_payload(row, job_id, e.seq, e.recorded_at, &e.payload)?);
        }
        let row = row.ok_or(StoreError::NotFound(job_id))?;
        self.driver.save_job(tx, &row).await?;
        Ok(row)
    }

    async fn try_request(&self, job: &NewJob) -> Result<Requested> {
        let mut tx = self.driver.begin().await?;
        if let Some(key) = &job.idempotency_key {
            if let Some(id) = self.driver.job_by_idempotency_key(&mut tx, key).await? {
                if let Some(job) = self.driver.load_job(&mut tx, id).await? {
                    return Ok(Requested { job, existing: Some(Existing::SameIdempotencyKey), waiting_behind: None });
                }
            }
        }
        let mut waiting_behind = None;
        if let Some(key) = &job.concurrency_key {
            // Requests for one key one at a time, so two with the same input cannot both find
            // no twin and both queue.
            self.driver.lock_key(&mut tx, key).await?;
            let firsts = self.driver.unfinished_requests(&mut tx, key).await?;
            if let Some(id) = same_input(&firsts, &job.input) {
                if let Some(job) = self.driver.load_job(&mut tx, id).await? {
                    return Ok(Requested { job, existing: Some(Existing::AlreadyRunning), waiting_behind: None });
                }
            }
            waiting_behind = self.driver.key_holder(&mut tx, key).await?;
        }
        self.driver.insert_queue_row(&mut tx, job).await?;
        let row = self.append_events(&mut tx, job.id, None, &[requested_event(job)], &[]).await?;
        self.driver.commit(tx, Some((job.id, 1))).await?;
        Ok(Requested { job: row, existing: None, waiting_behind })
    }

    async fn try_claim(&self, request: &ClaimRequest<'_>) -> Result<Option<ClaimedJob>> {
        // Most polls of an idle worker find nothing: they find it out without a write
        // transaction. A job that falls due right after this look is found by the next one.
        if !self.driver.any_due(request).await? {
            return Ok(None);
        }
        let mut tx = self.driver.begin().await?;
        let Some(due) = self.driver.select_due(&mut tx, request).await? else { return Ok(None) };
        let job_id = due.job_id;
        let attempt = due.attempts.saturating_add(1);
        let seq = due.last_seq + 1;
        // The key first: a rival that claimed another job of this key meanwhile makes this fail
        // here, before anything else is written.
        self.driver.take_lease(&mut tx, job_id, request.worker, attempt, seq, request.lease_until).await?;
        let input = self.driver.event_at(&mut tx, job_id, 1).await?.as_ref().map_or(Value::Null, input_of);
        let checkpoint = decode_checkpoint(job_id, self.driver.last_step(&mut tx, job_id).await?)?;
        let from = checkpoint.as_ref().map(|(s, _)| *s);
        let after_wait = ends_wait(due.last_seq, checkpoint.as_ref(), due.lost_lease);
        let claimed = claimed_event(request.worker, seq, attempt, from, (due.lost_lease, after_wait), request.now);
        let row = self.append_events(&mut tx, job_id, None, &[claimed], &[]).await?;
        self.driver.commit(tx, Some((job_id, seq))).await?;
        Ok(Some(ClaimedJob {
            lease: Lease { job_id, worker: request.worker.clone(), attempt },
            job_type: due.job_type,
            input,
            checkpoint,
            step_failures: due.step_failures,
            next_seq: seq + 1,
            cancel_requested: due.cancel_requested,
            row,
        }))
    }
}

#[async_trait]
impl<D: Driver> Store for Core<D> {
    fn db(&self) -> Db {
        self.driver.db()
    }

    async fn migrate(&self) -> Result<()> {
        self.driver.migrate().await
    }

    async fn request(&self, job: NewJob) -> Result<Requested> {
        // Two requests racing on one idempotency key: the loser hits the unique index and looks
        // again, and finds the winner's job.
        let mut tries = 0;
        loop {
            match self.try_request(&job).await {
                Err(e) if is_unique_violation(&e) && tries < REQUEST_TRIES => tries += 1,
                other => return other,
            }
        }
    }

    async fn claim_next(&self, request: ClaimRequest<'_>) -> Result<Option<ClaimedJob>> {
        if request.job_types.is_empty() {
            return Ok(None);
        }
        // Losing a concurrency key to another worker is not an error: look again, and the next
        // look no longer sees that key's other jobs.
        let mut tries = 0;
        loop {
            match self.try_claim(&request).await {
                Err(e) if is_unique_violation(&e) && tries < CLAIM_TRIES => tries += 1,
                Err(e) if is_unique_violation(&e) => return Ok(None),
                other => return other,
            }
        }
    }

    async fn queue(&self, now: DateTime<Utc>, policy: QueuePolicy) -> Result<Vec<QueuedJob>> {
        Ok(in_claim_order(self.driver.waiting().await?, now, &policy))
    }

    async fn heartbeat(&self, lease: &Lease, lease_until: DateTime<Utc>) -> Result<bool> {
        self.driver.heartbeat(lease, lease_until).await
    }

    async fn append(&self, lease: &Lease, mut append: Append<'_>) -> Result<Committed> {
        if append.events.is_empty() {
            return Err(StoreError::Fenced(lease.job_id));
        }
        // A lease holder's row cannot change under it: any event appended since its last one
        // would also fail the fence below, so a row read now is the row the events follow.
        let mut row = match append.row.take() {
            Some(row) => row,
            None => self.driver.read_job(lease.job_id).await?.ok_or(StoreError::NotFound(lease.job_id))?,
        };
        for e in &append.events {
            row = job::apply_payload(Some(row), lease.job_id, e.seq, e.recorded_at, &e.payload)?;
        }
        let cancel_requested = self.driver.commit_append(lease, &append, &row).await?;
        Ok(Committed { cancel_requested, row })
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        self.driver.release(lease).await
    }

    async fn wake(&self, id: JobId, now: DateTime<Utc>) -> Result<bool> {
        self.driver.wake(id, now).await
    }

    async fn cancel(&self, id: JobId, requested_by: &str, now: DateTime<Utc>) -> Result<BackgroundJob> {
        let mut tx = self.driver.begin().await?;
        let entry = self.driver.queue_entry(&mut tx, id).await?.ok_or(StoreError::NotFound(id))?;
        let live_lease = entry.state == queue_state::LEASED && entry.lease_expires_at.is_some_and(|e| e >= now);
        if entry.state == queue_state::DONE || live_lease {
            // A running job is stopped by its worker at the next step boundary.
            if live_lease {
                self.driver.flag_cancel(&mut tx, id, requested_by).await?;
            }
            let job = self.driver.load_job(&mut tx, id).await?.ok_or(StoreError::NotFound(id))?;
            self.driver.commit(tx, None).await?;
            return Ok(job);
        }
        let events = cancel_events(entry.last_seq + 1, requested_by, requested_by, now);
        let job = self.append_events(&mut tx, id, None, &events, &[]).await?;
        self.driver.set_done(&mut tx, id, entry.last_seq + 2).await?;
        self.driver.commit(tx, Some((id, entry.last_seq + 2))).await?;
        Ok(job)
    }

    async fn resume(&self, id: JobId, by: &str, reason: Option<&str>, now: DateTime<Utc>) -> Result<BackgroundJob> {
        let mut tx = self.driver.begin().await?;
        let entry = self.driver.queue_entry(&mut tx, id).await?.ok_or(StoreError::NotFound(id))?;
        let job = self.driver.load_job(&mut tx, id).await?.ok_or(StoreError::NotFound(id))?;
        refuse_resume(id, job.status)?;
        if let Some(key) = &entry.concurrency_key {
            if let Some(holder) = self.driver.unfinished_with_key(&mut tx, key, id).await? {
                return Err(StoreError::Conflict(format!(
                    "job {holder} holds the same concurrency key and is unfinished: resume job {id} after it ends"
                )));
            }
        }
        if self.driver.event_at(&mut tx, id, 1).await?.is_none() {
            return Err(StoreError::Conflict(format!("job {id}'s events were pruned: it cannot be resumed")));
        }
        let checkpoint = self.driver.last_step(&mut tx, id).await?.map(|e| e.seq);
        let seq = entry.last_seq + 1;
        let event = resumed_event(seq, by, reason, job.status, checkpoint, now);
        let job = self.append_events(&mut tx, id, Some(job), &[event], &[]).await?;
        self.driver.set_ready(&mut tx, id, now, seq).await?;
        self.driver.commit(tx, Some((id, seq))).await?;
        Ok(job)
    }

    async fn job(&self, id: JobId) -> Result<Option<BackgroundJob>> {
        self.driver.read_job(id).await
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<BackgroundJob>> {
        self.driver.list_jobs(filter).await
    }

    async fn events(&self, id: JobId, after_seq: i64, limit: i64) -> Result<Vec<Event>> {
        self.driver.events(id, after_seq, limit).await
    }

    async fn events_by_type(
        &self,
        event_type: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        self.driver.events_by_type(event_type, from, to, after_position, limit).await
    }

    async fn entity_events(&self, entity_key: &str, limit: i64) -> Result<Vec<EntityTouch>> {
        self.driver.entity_events(entity_key, limit).await
    }

    async fn prune_batch(&self, cutoff: DateTime<Utc>, batch: i64) -> Result<u64> {
        self.driver.prune_batch(cutoff, batch).await
    }

    async fn rebuild_projection(&self) -> Result<u64> {
        let mut tx = self.driver.begin().await?;
        self.driver.clear_projection(&mut tx).await?;
        let events = self.driver.all_events(&mut tx).await?;
        let mut rebuilt = 0;
        let mut current: Option<BackgroundJob> = None;
        for e in &events {
            if let Some(done) = current.take_if(|j| j.id != e.job_id) {
                self.driver.save_job(&mut tx, &done).await?;
                rebuilt += 1;
            }
            current = Some(job::apply(current, e)?);
        }
        if let Some(j) = &current {
            self.driver.save_job(&mut tx, j).await?;
            rebuilt += 1;
        }
        self.driver.commit(tx, None).await?;
        Ok(rebuilt)
    }

    async fn job_counts(&self) -> Result<Vec<(String, JobStatus, i64)>> {
        self.driver.job_counts().await
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.driver.subscribe()
    }
}
