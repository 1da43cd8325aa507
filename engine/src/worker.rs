//! The worker: claims jobs, runs their steps, commits each with its checkpoint, keeps its lease
//! alive, retries what is transient and stops what is cancelled.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rand::Rng;
use tokio::sync::watch;

use crate::clock::{after, SharedClock};
use crate::event::{
    CancelRequested, EventPayload, JobCancelled, JobCompleted, JobFailed, NewEvent, StepCompleted, StepFailed,
    PAYLOAD_VERSION,
};
use crate::ids::{JobId, WorkerId};
use crate::queue::QueuePolicy;
use crate::retry::RetryPolicy;
use crate::store::{Append, ClaimRequest, ClaimedJob, Lease, QueueChange, SharedStore, StoreError};
use crate::workflow::{Next, Registry, StepContext, StepError};

/// What a step took, for metrics.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The job type.
    pub job_type: String,
    /// The step's name (or `failed`).
    pub step: String,
    /// Wall time of the step and its commit.
    pub duration: Duration,
    /// Whether it committed.
    pub ok: bool,
}

/// A callback for each step.
pub type StepHook = Arc<dyn Fn(&StepReport) + Send + Sync>;

/// A worker's settings.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The worker's name in leases and the audit trail.
    pub id: WorkerId,
    /// How long a lease lasts without a heartbeat.
    pub lease: Duration,
    /// How often to look for work when no notice arrives.
    pub poll: Duration,
    /// Retry policy for failed steps.
    pub retry: RetryPolicy,
    /// Only these job types (`None` = every registered type).
    pub job_types: Option<Vec<String>>,
    /// Called after each step.
    pub on_step: Option<StepHook>,
}

impl WorkerConfig {
    /// Defaults: 30 s leases, 1 s poll, the default retry policy.
    pub fn new(id: WorkerId) -> Self {
        WorkerConfig {
            id,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            job_types: None,
            on_step: None,
        }
    }
}

/// How a worker's run of a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The job completed.
    Completed,
    /// The job failed for good.
    Failed,
    /// The job was cancelled.
    Cancelled,
    /// A step failed and a retry is scheduled; the lease was given up.
    RetryScheduled,
    /// The lease was lost to another worker; nothing of the last step was kept.
    Fenced,
    /// The worker is shutting down and gave the lease up.
    Released,
}

/// A worker bound to a store and a registry.
pub struct Worker {
    store: SharedStore,
    registry: Arc<Registry>,
    clock: SharedClock,
    queue: QueuePolicy,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
    shutdown_tx: Arc<watch::Sender<bool>>,
}

impl Worker {
    pub(crate) fn new(
        store: SharedStore,
        registry: Arc<Registry>,
        clock: SharedClock,
        queue: QueuePolicy,
        config: WorkerConfig,
    ) -> Self {
        let (tx, rx) = watch::channel(false);
        Worker { store, registry, clock, queue, config, shutdown: rx, shutdown_tx: Arc::new(tx) }
    }

    /// The worker's id.
    pub fn id(&self) -> &WorkerId {
        &self.config.id
    }

    /// A handle that stops [`Worker::run`] gracefully: the current step finishes, its lease is
    /// released, and the loop returns.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown_tx.clone())
    }

    fn job_types(&self) -> Vec<&str> {
        match &self.config.job_types {
            Some(types) => types.iter().map(String::as_str).collect(),
            None => self.registry.job_types(),
        }
    }

    /// Runs until shut down: claims due jobs and runs them, waking on the store's live feed or
    /// every poll interval.
    pub async fn run(&self) {
        let mut feed = self.store.subscribe();
        let mut shutdown = self.shutdown.clone();
        while !*shutdown.borrow() {
            match self.run_once().await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(worker = %self.config.id, error = %e, "worker iteration failed")
                }
            }
            tokio::select! {
                _ = feed.recv() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Claims one due job and drives it until it completes, fails, is cancelled, waits for a
    /// retry, loses its lease or the worker shuts down. `None` when nothing was due.
    pub async fn run_once(&self) -> Result<Option<(JobId, RunOutcome)>, StoreError> {
        let now = self.clock.now();
        let types = self.job_types();
        let request = ClaimRequest {
            worker: &self.config.id,
            job_types: &types,
            now,
            lease_until: after(now, self.config.lease),
            policy: self.queue,
        };
        let claimed = self.store.claim_next(request).await?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let job_id = claimed.lease.job_id;
        let (lost_tx, lost_rx) = watch::channel(false);
        // Held across the run: dropping it stops the heartbeat however the run ends (returned,
        // failed, panicked or its future dropped), so a dead run never keeps its lease alive.
        let _heartbeat = self.spawn_heartbeat(claimed.lease.clone(), lost_tx);
        let outcome = self.drive(claimed, lost_rx).await;
        outcome.map(|o| Some((job_id, o)))
    }

    /// Whether a shutdown was asked for.
    pub(crate) fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A receiver that changes when a shutdown is asked for.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    fn spawn_heartbeat(&self, lease: Lease, lost: watch::Sender<bool>) -> Heartbeat {
        let store = self.store.clone();
        let clock = self.clock.clone();
        let period = self.config.lease / 3;
        let lease_len = self.config.lease;
        Heartbeat(tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                match store.heartbeat(&lease, after(clock.now(), lease_len)).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = lost.send(true);
                        return;
                    }
                    // A failed heartbeat is not a lost lease; the next one may get through.
                    Err(e) => tracing::warn!(job = %lease.job_id, error = %e, "heartbeat failed"),
                }
            }
        }))
    }

    async fn drive(&self, claimed: ClaimedJob, lease_lost: watch::Receiver<bool>) -> Result<RunOutcome, StoreError> {
        let lease = claimed.lease.clone();
        let mut seq = claimed.next_seq;
        let Some(workflow) = self.registry.get(&claimed.job_type).cloned() else {
            let error = format!("no workflow registered for job type `{}`", claimed.job_type);
            return self.fail(&lease, seq, "claim", 0, error).await;
        };
        if let Some(by) = claimed.cancel_requested.clone() {
            return self.cancelled(&lease, seq, &by).await;
        }
        let state = match &claimed.checkpoint {
            Some((_, s)) => workflow.read_state(s.state_version, s.state.clone()),
            None => workflow.initial_state(&claimed.input),
        };
        let mut state = match state {
            Ok(s) => s,
            Err(reason) => return self.fail(&lease, seq, "resume", 0, reason).await,
        };
        let mut failures = claimed.step_failures;
        // The projection row: a lease holder is the only writer of its job's row, so it keeps it
        // and saves the store a read per step.
        let mut row = claimed.row.clone();
        let mut checkpoint_seq = claimed.checkpoint.as_ref().map_or(0, |(s, _)| *s);
        loop {
            if *self.shutdown.borrow() {
                self.store.release(&lease).await?;
                return Ok(RunOutcome::Released);
            }
            let ctx = StepContext {
                job_id: lease.job_id,
                attempt: lease.attempt,
                step_seq: seq,
                checkpoint_seq,
                clock: self.clock.clone(),
                db: self.store.db(),
                lease_lost: lease_lost.clone(),
            };
            let started = Instant::now();
            // A panic inside the step is the step's failure, retried like any other; it must not
            // take the worker (and the lease it holds) down with it.
            let result = match AssertUnwindSafe(workflow.step(&ctx, &claimed.input, state.clone())).catch_unwind().await
            {
                Ok(result) => result,
                Err(panic) => Err(StepError::transient(format!("step panicked: {}", panic_message(panic.as_ref())))),
            };
            match result {
                Ok(step) => {
                    let now = self.clock.now();
                    let step_name = step.name.clone();
                    let (touched_sample, touched_count) = StepCompleted::touched_sample(&step.touched);
                    let mut events = vec![NewEvent {
                        seq,
                        payload: EventPayload::StepCompleted(StepCompleted {
                            v: PAYLOAD_VERSION,
                            step: step.name,
                            state_version: workflow.state_version(),
                            state: match &step.next {
                                Next::Continue(s) => s.clone(),
                                Next::Complete(_) => state.clone(),
                            },
                            progress: step.progress,
                            note: step.note,
                            touched: touched_sample,
                            touched_count,
                        }),
                        recorded_at: now,
                        actor: self.config.id.to_string(),
                    }];
                    let (queue, summary) = match &step.next {
                        Next::Continue(_) => {
                            (QueueChange::Continue { lease_until: after(now, self.config.lease) }, None)
                        }
                        Next::Complete(summary) => (QueueChange::Finish, Some(summary.clone())),
                    };
                    if let Some(summary) = summary {
                        events.push(NewEvent {
                            seq: seq + 1,
                            payload: EventPayload::JobCompleted(JobCompleted { v: PAYLOAD_VERSION, summary }),
                            recorded_at: now,
                            actor: self.config.id.to_string(),
                        });
                    }
                    let n = events.len() as i64;
                    let append = Append {
                        events,
                        effects: step.effects.as_deref(),
                        touched: step.touched,
                        queue,
                        row: Some(row.clone()),
                    };
                    let committed = self.store.append(&lease, append).await;
                    self.report(&claimed.job_type, &step_name, started, committed.is_ok());
                    let committed = match committed {
                        Ok(c) => c,
                        Err(StoreError::Fenced(_)) => return Ok(RunOutcome::Fenced),
                        Err(StoreError::Effects(e)) => {
                            failures += 1;
                            let error = StepError::transient(format!("step writes failed: {e}"));
                            return self.step_failed(&lease, seq, failures, &step_name, error).await;
                        }
                        Err(e) => return Err(e),
                    };
                    row = committed.row;
                    checkpoint_seq = seq;
                    seq += n;
                    failures = 0;
                    match step.next {
                        Next::Complete(_) => return Ok(RunOutcome::Completed),
                        Next::Continue(s) => state = s,
                    }
                    if let Some(by) = committed.cancel_requested {
                        return self.cancelled(&lease, seq, &by).await;
                    }
                }
                Err(error) => {
                    self.report(&claimed.job_type, "failed", started, false);
                    failures += 1;
                    return self.step_failed(&lease, seq, failures, "step", error).await;
                }
            }
        }
    }

    fn report(&self, job_type: &str, step: &str, started: Instant, ok: bool) {
        if let Some(hook) = &self.config.on_step {
            hook(&StepReport { job_type: job_type.to_owned(), step: step.to_owned(), duration: started.elapsed(), ok });
        }
    }

    async fn step_failed(
        &self,
        lease: &Lease,
        seq: i64,
        failures: u32,
        step: &str,
        error: StepError,
    ) -> Result<RunOutcome, StoreError> {
        let (message, retry_after) = match error {
            StepError::Permanent { message } => return self.fail(lease, seq, step, failures, message).await,
            StepError::Transient { message, retry_after } => (message, retry_after),
        };
        if !self.config.retry.may_retry(failures) {
            let reason = format!("gave up after {failures} attempts: {message}");
            return self.fail(lease, seq, step, failures, reason).await;
        }
        let now = self.clock.now();
        let draw: f64 = rand::thread_rng().gen();
        let run_at = after(now, self.config.retry.delay(failures, draw, retry_after));
        tracing::info!(job = %lease.job_id, failures, %message, %run_at, "step failed; retry scheduled");
        let event = NewEvent {
            seq,
            payload: EventPayload::StepFailed(StepFailed {
                v: PAYLOAD_VERSION,
                step: step.to_owned(),
                attempt: failures,
                error: message,
                retryable: true,
                next_retry_at: Some(run_at),
            }),
            recorded_at: now,
            actor: self.config.id.to_string(),
        };
        match self
            .store
            .append(
                lease,
                Append {
                    events: vec![event],
                    effects: None,
                    touched: Vec::new(),
                    queue: QueueChange::RetryAt { run_at },
                    row: None,
                },
            )
            .await
        {
            Ok(_) => Ok(RunOutcome::RetryScheduled),
            Err(StoreError::Fenced(_)) => Ok(RunOutcome::Fenced),
            Err(e) => Err(e),
        }
    }

    async fn fail(
        &self,
        lease: &Lease,
        seq: i64,
        step: &str,
        failures: u32,
        error: String,
    ) -> Result<RunOutcome, StoreError> {
        let now = self.clock.now();
        let actor = self.config.id.to_string();
        tracing::warn!(job = %lease.job_id, %error, "job failed");
        let events = vec![
            NewEvent {
                seq,
                payload: EventPayload::StepFailed(StepFailed {
                    v: PAYLOAD_VERSION,
                    step: step.to_owned(),
                    attempt: failures.max(1),
                    error: error.clone(),
                    retryable: false,
                    next_retry_at: None,
                }),
                recorded_at: now,
                actor: actor.clone(),
            },
            NewEvent {
                seq: seq + 1,
                payload: EventPayload::JobFailed(JobFailed { v: PAYLOAD_VERSION, error }),
                recorded_at: now,
                actor,
            },
        ];
        match self
            .store
            .append(lease, Append { events, effects: None, touched: Vec::new(), queue: QueueChange::Finish, row: None })
            .await
        {
            Ok(_) => Ok(RunOutcome::Failed),
            Err(StoreError::Fenced(_)) => Ok(RunOutcome::Fenced),
            Err(e) => Err(e),
        }
    }

    async fn cancelled(&self, lease: &Lease, seq: i64, by: &str) -> Result<RunOutcome, StoreError> {
        let now = self.clock.now();
        let events = vec![
            NewEvent {
                seq,
                payload: EventPayload::CancelRequested(CancelRequested {
                    v: PAYLOAD_VERSION,
                    requested_by: by.to_owned(),
                }),
                recorded_at: now,
                actor: by.to_owned(),
            },
            NewEvent {
                seq: seq + 1,
                payload: EventPayload::JobCancelled(JobCancelled { v: PAYLOAD_VERSION, requested_by: by.to_owned() }),
                recorded_at: now,
                actor: self.config.id.to_string(),
            },
        ];
        match self
            .store
            .append(lease, Append { events, effects: None, touched: Vec::new(), queue: QueueChange::Finish, row: None })
            .await
        {
            Ok(_) => Ok(RunOutcome::Cancelled),
            Err(StoreError::Fenced(_)) => Ok(RunOutcome::Fenced),
            Err(e) => Err(e),
        }
    }
}

/// A lease's heartbeat task, aborted when this is dropped.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The message a panic carried (`panic!("…")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Stops a worker gracefully.
#[derive(Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Asks the worker to stop after its current step.
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}
