//! The worker: claims jobs, runs their steps, commits each with its checkpoint, keeps its lease
//! alive, retries what is transient, gives up the jobs whose steps wait, and stops what is
//! cancelled.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use rand::Rng;
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;

use crate::clock::{after, SharedClock};
use crate::event::{EventPayload, JobCompleted, JobFailed, NewEvent, StepCompleted, StepFailed, PAYLOAD_VERSION};
use crate::ids::{JobId, WorkerId};
use crate::job::BackgroundJob;
use crate::queue::QueuePolicy;
use crate::retry::RetryPolicy;
use crate::store::{cancel_events, Append, ClaimRequest, ClaimedJob, Lease, QueueChange, SharedStore, StoreError};
use crate::workflow::{ErasedWorkflow, Next, Registry, Step, StepContext, StepError};

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
    /// A step asked to wait (`Step::wait`): its checkpoint is committed and the lease was given
    /// up until the wait is over.
    Waiting,
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
    finish_hooks: FinishHooks,
}

/// Called by a worker of this engine after a job it ran ended (completed, failed or
/// cancelled), with the job and how it ended; see [`Engine::on_finish`](crate::Engine::on_finish).
pub type FinishHook = Arc<dyn Fn(JobId, RunOutcome) -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'static>;

/// The engine's [`FinishHook`]s, shared by the engine's clones and its workers.
#[derive(Clone, Default)]
pub(crate) struct FinishHooks(Arc<std::sync::RwLock<Vec<FinishHook>>>);

impl FinishHooks {
    pub(crate) fn add(&self, hook: FinishHook) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).push(hook);
    }

    /// Calls each hook if the run ended the job.
    pub(crate) async fn job_ended(&self, job: JobId, outcome: RunOutcome) {
        if !matches!(outcome, RunOutcome::Completed | RunOutcome::Failed | RunOutcome::Cancelled) {
            return;
        }
        let hooks = self.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        for hook in hooks {
            hook(job, outcome).await;
        }
    }
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
        Worker {
            store,
            registry,
            clock,
            queue,
            config,
            shutdown: rx,
            shutdown_tx: Arc::new(tx),
            finish_hooks: FinishHooks::default(),
        }
    }

    /// The same worker calling these hooks when a job it runs ends.
    pub(crate) fn with_finish_hooks(mut self, hooks: FinishHooks) -> Self {
        self.finish_hooks = hooks;
        self
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
        // Every line of this run is told inside the job's span: `DONGBO_LOG=info` reads one
        // job's story in order (its claim, each step, its retries, its end).
        let span = tracing::info_span!(
            "job",
            job = %job_id,
            job_type = %claimed.job_type,
            attempt = claimed.lease.attempt,
            worker = %self.config.id,
        );
        let (lost_tx, lost_rx) = watch::channel(false);
        // Held across the run: dropping it stops the heartbeat however the run ends (returned,
        // failed, panicked or its future dropped), so a dead run never keeps its lease alive.
        let _heartbeat = self.spawn_heartbeat(claimed.lease.clone(), lost_tx);
        let outcome = async {
            tracing::info!(
                resumed_from = ?claimed.checkpoint.as_ref().map(|(seq, _)| *seq),
                step_failures = claimed.step_failures,
                "job claimed"
            );
            let outcome = self.drive(claimed, lost_rx).await;
            match &outcome {
                Ok(o) => tracing::info!(outcome = ?o, "run ended"),
                Err(e) => tracing::warn!(error = %e, "run failed in the store"),
            }
            outcome
        }
        .instrument(span)
        .await;
        if let Ok(o) = &outcome {
            self.finish_hooks.job_ended(job_id, *o).await;
        }
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

    /// Runs a claimed job's steps until it ends, waits for a retry, loses its lease or the
    /// worker shuts down.
    async fn drive(&self, claimed: ClaimedJob, lease_lost: watch::Receiver<bool>) -> Result<RunOutcome, StoreError> {
        let mut run = match self.start(claimed) {
            Ok(run) => run,
            Err(stopped) => {
                let (lease, seq, stop) = *stopped;
                return self.stop(&lease, seq, stop).await;
            }
        };
        loop {
            if self.stopping() {
                self.store.release(&run.lease).await?;
                tracing::info!("worker shutting down; lease released");
                return Ok(RunOutcome::Released);
            }
            let span = tracing::info_span!("step", job = %run.lease.job_id, seq = run.seq, attempt = run.lease.attempt);
            if let Some(outcome) = self.step(&mut run, &lease_lost).instrument(span).await? {
                return Ok(outcome);
            }
        }
    }

    /// What the worker needs to run a claimed job: its workflow and the state to go on from, or
    /// why it must stop before its first step.
    fn start(&self, claimed: ClaimedJob) -> Result<Run, Box<(Lease, i64, Stop)>> {
        let ClaimedJob { lease, job_type, input, checkpoint, step_failures, next_seq, cancel_requested, row } = claimed;
        let Some(workflow) = self.registry.get(&job_type).cloned() else {
            let error = format!("no workflow registered for job type `{job_type}`");
            return Err(Box::new((lease, next_seq, Stop::Fail { step: "claim".into(), failures: 0, error })));
        };
        if let Some(by) = cancel_requested {
            return Err(Box::new((lease, next_seq, Stop::Cancel { by })));
        }
        let state = match &checkpoint {
            Some((_, s)) => workflow.read_state(s.state_version, s.state.clone()),
            None => workflow.initial_state(&input),
        };
        let state = match state {
            Ok(s) => s,
            Err(error) => {
                return Err(Box::new((lease, next_seq, Stop::Fail { step: "resume".into(), failures: 0, error })))
            }
        };
        Ok(Run {
            checkpoint_seq: checkpoint.as_ref().map_or(0, |(s, _)| *s),
            lease,
            job_type,
            input,
            workflow,
            state,
            seq: next_seq,
            failures: step_failures,
            row,
        })
    }

    /// Runs one step and commits it; `Some` when the run ends with it.
    async fn step(&self, run: &mut Run, lease_lost: &watch::Receiver<bool>) -> Result<Option<RunOutcome>, StoreError> {
        let ctx = StepContext {
            job_id: run.lease.job_id,
            attempt: run.lease.attempt,
            step_seq: run.seq,
            checkpoint_seq: run.checkpoint_seq,
            clock: self.clock.clone(),
            db: self.store.db(),
            lease_lost: lease_lost.clone(),
        };
        let started = Instant::now();
        // A panic inside the step is the step's failure, retried like any other; it must not
        // take the worker (and the lease it holds) down with it.
        let result = match AssertUnwindSafe(run.workflow.step(&ctx, &run.input, run.state.clone())).catch_unwind().await
        {
            Ok(result) => result,
            Err(panic) => Err(StepError::transient(format!("step panicked: {}", panic_message(panic.as_ref())))),
        };
        let step = match result {
            Ok(step) => step,
            Err(error) => {
                self.report(&run.job_type, "failed", started, false);
                run.failures += 1;
                let stop = Stop::StepFailed { step: "step".into(), failures: run.failures, error };
                return self.stop(&run.lease, run.seq, stop).await.map(Some);
            }
        };
        self.commit(run, step, started).await
    }

    /// Commits a step's checkpoint, progress and writes; `Some` when the run ends with it.
    async fn commit(
        &self,
        run: &mut Run,
        step: Step<Value>,
        started: Instant,
    ) -> Result<Option<RunOutcome>, StoreError> {
        let Step { name, next, progress, effects, note, touched } = step;
        let now = self.clock.now();
        let (sample, touched_count) = StepCompleted::touched_sample(&touched);
        let wait_until = wait_until(&next, now);
        let checkpoint = EventPayload::StepCompleted(StepCompleted {
            v: PAYLOAD_VERSION,
            step: name.clone(),
            state_version: run.workflow.state_version(),
            state: match &next {
                Next::Continue(s) | Next::Wait { state: s, .. } => s.clone(),
                Next::Complete(_) => run.state.clone(),
            },
            progress,
            note,
            touched: sample,
            touched_count,
            wait_until,
        });
        let mut events = vec![self.event(run.seq, checkpoint, now)];
        let queue = match &next {
            Next::Continue(_) => QueueChange::Continue { lease_until: after(now, self.config.lease) },
            Next::Wait { .. } => QueueChange::WaitUntil { run_at: wait_until.unwrap_or(now) },
            Next::Complete(summary) => {
                let done = EventPayload::JobCompleted(JobCompleted { v: PAYLOAD_VERSION, summary: summary.clone() });
                events.push(self.event(run.seq + 1, done, now));
                QueueChange::Finish
            }
        };
        let n = events.len() as i64;
        let append = Append { events, effects: effects.as_deref(), touched, queue, row: Some(run.row.clone()) };
        let committed = self.store.append(&run.lease, append).await;
        self.report(&run.job_type, &name, started, committed.is_ok());
        let committed = match committed {
            Ok(c) => c,
            Err(StoreError::Fenced(_)) => {
                tracing::warn!(step = %name, "lease lost: the step was not committed");
                return Ok(Some(RunOutcome::Fenced));
            }
            Err(StoreError::Effects(e)) => {
                run.failures += 1;
                let error = StepError::transient(format!("step writes failed: {e}"));
                let stop = Stop::StepFailed { step: name, failures: run.failures, error };
                return self.stop(&run.lease, run.seq, stop).await.map(Some);
            }
            Err(e) => return Err(e),
        };
        run.row = committed.row;
        tracing::info!(step = %name, processed = run.row.processed, "step committed");
        run.checkpoint_seq = run.seq;
        run.seq += n;
        run.failures = 0;
        match next {
            Next::Complete(_) => {
                tracing::info!(processed = run.row.processed, failed = run.row.failed, "job completed");
                return Ok(Some(RunOutcome::Completed));
            }
            Next::Wait { .. } => return self.waiting(run, committed.cancel_requested).await.map(Some),
            Next::Continue(s) => run.state = s,
        }
        match committed.cancel_requested {
            Some(by) => self.stop(&run.lease, run.seq, Stop::Cancel { by }).await.map(Some),
            None => Ok(None),
        }
    }

    /// After a waiting step's commit, which gave the lease up: the run ends. A cancel asked for
    /// while the step ran is carried out now, as on any job nobody holds, rather than after the
    /// wait.
    async fn waiting(&self, run: &Run, cancel_requested: Option<String>) -> Result<RunOutcome, StoreError> {
        let until = run.row.waiting_until();
        match cancel_requested {
            Some(by) => {
                tracing::info!(requested_by = %by, "job cancelled as it began to wait");
                self.store.cancel(run.lease.job_id, &by, self.clock.now()).await?;
                Ok(RunOutcome::Cancelled)
            }
            None => {
                tracing::info!(until = ?until, "waiting; lease released");
                Ok(RunOutcome::Waiting)
            }
        }
    }

    fn event(&self, seq: i64, payload: EventPayload, now: DateTime<Utc>) -> NewEvent {
        NewEvent { seq, payload, recorded_at: now, actor: self.config.id.to_string() }
    }

    fn report(&self, job_type: &str, step: &str, started: Instant, ok: bool) {
        if let Some(hook) = &self.config.on_step {
            hook(&StepReport { job_type: job_type.to_owned(), step: step.to_owned(), duration: started.elapsed(), ok });
        }
    }

    /// Ends the run (or schedules its retry) by appending what says so, from sequence `seq`.
    async fn stop(&self, lease: &Lease, seq: i64, stop: Stop) -> Result<RunOutcome, StoreError> {
        let now = self.clock.now();
        let (events, queue, outcome) = match stop {
            Stop::Cancel { by } => {
                tracing::info!(requested_by = %by, "job cancelled");
                let events = cancel_events(seq, &by, self.config.id.as_str(), now);
                (events, QueueChange::Finish, RunOutcome::Cancelled)
            }
            Stop::Fail { step, failures, error } => self.failure(seq, &step, failures, error, now),
            Stop::StepFailed { step, failures, error } => match self.retry_wait(failures, error) {
                Ok((message, wait)) => {
                    let run_at = after(now, wait);
                    tracing::info!(failures, error = %message, %run_at, "step failed; retry scheduled");
                    let failed = EventPayload::StepFailed(StepFailed {
                        v: PAYLOAD_VERSION,
                        step,
                        attempt: failures,
                        error: message,
                        retryable: true,
                        next_retry_at: Some(run_at),
                    });
                    (vec![self.event(seq, failed, now)], QueueChange::RetryAt { run_at }, RunOutcome::RetryScheduled)
                }
                Err(error) => self.failure(seq, &step, failures, error, now),
            },
        };
        let append = Append { events, effects: None, touched: Vec::new(), queue, row: None };
        match self.store.append(lease, append).await {
            Ok(_) => Ok(outcome),
            Err(StoreError::Fenced(_)) => {
                tracing::warn!("lease lost before the run's end was written");
                Ok(RunOutcome::Fenced)
            }
            Err(e) => Err(e),
        }
    }

    /// A failed step's wait before its retry (and its message), or, when it must not be retried
    /// (a permanent error, no attempts left), the job's failure reason.
    fn retry_wait(&self, failures: u32, error: StepError) -> Result<(String, Duration), String> {
        let (message, retry_after) = match error {
            StepError::Permanent { message } => return Err(message),
            StepError::Transient { message, retry_after } => (message, retry_after),
        };
        if !self.config.retry.may_retry(failures) {
            return Err(format!("gave up after {failures} attempts: {message}"));
        }
        let draw: f64 = rand::thread_rng().gen();
        Ok((message, self.config.retry.delay(failures, draw, retry_after)))
    }

    /// The two events that fail a job for good, and the end of its lease.
    fn failure(
        &self,
        seq: i64,
        step: &str,
        failures: u32,
        error: String,
        now: DateTime<Utc>,
    ) -> (Vec<NewEvent>, QueueChange, RunOutcome) {
        tracing::warn!(%error, "job failed");
        let failed = EventPayload::StepFailed(StepFailed {
            v: PAYLOAD_VERSION,
            step: step.to_owned(),
            attempt: failures.max(1),
            error: error.clone(),
            retryable: false,
            next_retry_at: None,
        });
        let over = EventPayload::JobFailed(JobFailed { v: PAYLOAD_VERSION, error });
        (vec![self.event(seq, failed, now), self.event(seq + 1, over, now)], QueueChange::Finish, RunOutcome::Failed)
    }
}
/// When a step that waits may run its next step.
fn wait_until(next: &Next<Value>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match next {
        Next::Wait { after: wait, .. } => Some(after(now, *wait)),
        _ => None,
    }
}

/// A claimed job in flight: what the worker keeps from one step to the next.
struct Run {
    lease: Lease,
    job_type: String,
    input: Value,
    workflow: Arc<dyn ErasedWorkflow>,
    /// The state the next step starts from.
    state: Value,
    /// The sequence number the next event gets.
    seq: i64,
    /// The sequence number of the last checkpoint (0 before the first step).
    checkpoint_seq: i64,
    /// Consecutive failures of the next step.
    failures: u32,
    /// The projection row: a lease holder is the only writer of its job's row, so it keeps it
    /// and saves the store a read per step.
    row: BackgroundJob,
}

/// Why a run stops before its job completes.
enum Stop {
    /// Someone asked to cancel it.
    Cancel { by: String },
    /// It fails for good.
    Fail { step: String, failures: u32, error: String },
    /// A step failed: retried under the retry policy, or the job's failure.
    StepFailed { step: String, failures: u32, error: StepError },
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
