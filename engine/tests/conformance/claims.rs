//! Atomic step commits, fencing, leases and heartbeats, graceful shutdown, many workers.

use std::time::Duration;

use dongbo_engine::event::{EventPayload, NewEvent, Progress, StepCompleted};
use dongbo_engine::example::{example_stats, EXAMPLE_COUNT};
use dongbo_engine::store::{Append, Committed, Lease, QueueChange};
use dongbo_engine::{Engine, JobRequest, JobStatus, RunOutcome, StoreError, WorkerId};
use serde_json::json;

use crate::gated::{ledger_rows, Gated, Mark, GATED};
use crate::harness::{worker_config, Harness};

pub async fn a_step_commits_its_writes_with_its_event_or_not_at_all(h: Harness) {
    let (mut gated, entered) = Gated::new(3);
    gated.fail_effects = true;
    let mut registry = h.registry();
    registry.register(gated.clone());
    let mut config = worker_config("w1");
    config.retry.max_attempts = 1;
    let engine = h.engine_with(registry);
    let job = engine.request(JobRequest::new(GATED, json!({}))).await.unwrap().job.id;
    let worker = engine.worker(config);
    gated.open_once();
    let run = tokio::spawn(async move { worker.run_once().await });
    entered.next().await;
    let (_, outcome) = run.await.unwrap().unwrap().unwrap();

    assert_eq!(outcome, RunOutcome::Failed);
    assert_eq!(ledger_rows(&h.store.db(), job).await, 0, "the failed step's first write must be rolled back");
    assert!(!h.event_types(job).await.contains(&"StepCompleted".to_string()));
    let row = h.job(job).await;
    assert_eq!((row.status, row.processed), (JobStatus::Failed, 0));
    assert!(row.error.unwrap().contains("simulated failure after the first write"));
}

pub async fn a_worker_whose_lease_was_taken_over_cannot_commit_and_leaves_nothing_behind(h: Harness) {
    let (gated, entered) = Gated::new(2);
    let mut registry = h.registry();
    registry.register(gated.clone());
    let engine = h.engine_with(registry);
    let job = engine.request(JobRequest::new(GATED, json!({}))).await.unwrap().job.id;

    // Worker A claims and enters its first step, then stalls (a pause, a partition).
    let a = engine.worker(worker_config("a"));
    let run_a = tokio::spawn(async move { a.run_once().await });
    let seq_a = entered.next().await;

    // Its lease runs out; worker B takes the job over and finishes it.
    h.clock.advance(Duration::from_secs(31));
    let b = engine.worker(worker_config("b"));
    let run_b = tokio::spawn(async move { b.run_once().await });
    let seq_b = entered.next().await;
    assert_eq!(seq_b, seq_a + 1, "B's claim takes the next sequence number");
    gated.open_once();
    gated.open_once();
    gated.open_once();
    let (outcome_a, outcome_b) = (run_a.await.unwrap().unwrap(), run_b.await.unwrap().unwrap());
    let outcomes = [outcome_a.unwrap().1, outcome_b.unwrap().1];
    assert!(outcomes.contains(&RunOutcome::Fenced), "{outcomes:?}");
    assert!(outcomes.contains(&RunOutcome::Completed), "{outcomes:?}");

    // Only B's two steps are in the ledger and the log.
    assert_eq!(ledger_rows(&h.store.db(), job).await, 2);
    let events = h.events(job).await;
    let claims: Vec<_> = events.iter().filter(|e| e.event_type == "JobClaimed").map(|e| e.actor.clone()).collect();
    assert_eq!(claims, vec!["a", "b"]);
    let steps: Vec<_> = events.iter().filter(|e| e.event_type == "StepCompleted").map(|e| e.actor.clone()).collect();
    assert_eq!(steps, vec!["b", "b"]);
    assert_eq!(h.job(job).await.processed, 2);

    // And a direct append under the stale lease is refused too.
    let stale = dongbo_engine::store::Lease { job_id: job, worker: WorkerId::new("a"), attempt: 1 };
    let mark = Mark { job, item: 99, fail: false };
    let err = h
        .store
        .append(
            &stale,
            Append {
                events: vec![step_event(99)],
                effects: Some(&mark),
                touched: Vec::new(),
                queue: QueueChange::Finish,
                row: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    assert_eq!(ledger_rows(&h.store.db(), job).await, 2);
}

fn step_event(seq: i64) -> NewEvent {
    NewEvent {
        seq,
        payload: EventPayload::StepCompleted(StepCompleted {
            v: 1,
            step: "late".into(),
            state_version: 1,
            state: json!(0),
            progress: Progress::default(),
            note: None,
            touched: vec![],
            touched_count: None,
            wait_until: None,
        }),
        recorded_at: chrono::Utc::now(),
        actor: "a".into(),
    }
}

pub async fn a_heartbeat_keeps_the_lease_and_a_silent_worker_loses_it_within_one_period(h: Harness) {
    let engine = h.engine();
    let job = h.request_example(&engine, json!({"items": 10})).await;
    let lease = Duration::from_secs(30);
    let now = h.clock.now_ts();
    let a = WorkerId::new("a");
    let claimed = h.store.claim(&a, &[EXAMPLE_COUNT], now, now + lease_chrono(lease)).await.unwrap().unwrap();

    // Twenty seconds on, A's heartbeat extends the lease to fifty.
    h.clock.advance(Duration::from_secs(20));
    assert!(h.store.heartbeat(&claimed.lease, h.clock.now_ts() + lease_chrono(lease)).await.unwrap());
    // At forty seconds the original lease would be gone, but the renewed one holds.
    h.clock.advance(Duration::from_secs(20));
    let b = WorkerId::new("b");
    let now = h.clock.now_ts();
    assert!(h.store.claim(&b, &[EXAMPLE_COUNT], now, now + lease_chrono(lease)).await.unwrap().is_none());
    // A goes silent: one lease period after its last heartbeat, B takes over.
    h.clock.advance(Duration::from_secs(11));
    let now = h.clock.now_ts();
    let taken = h.store.claim(&b, &[EXAMPLE_COUNT], now, now + lease_chrono(lease)).await.unwrap().unwrap();
    assert_eq!(taken.lease.attempt, 2);
    assert!(!h.store.heartbeat(&claimed.lease, now + lease_chrono(lease)).await.unwrap(), "A's lease is gone");
    let last = h.events(job).await.pop().unwrap();
    match last.decode().unwrap() {
        EventPayload::JobClaimed(c) => {
            assert!(c.after_lost_lease);
            assert_eq!((c.attempt, c.worker.as_str()), (2, "b"));
        }
        other => panic!("expected JobClaimed, got {other:?}"),
    }
}

/// A `StepCompleted` at `seq`, recorded at `at` by worker `a`.
fn step_at(seq: i64, at: chrono::DateTime<chrono::Utc>) -> NewEvent {
    NewEvent { recorded_at: at, ..step_event(seq) }
}

/// Appends a step at `seq` under `lease`, recorded now, with the queue change `queue`.
async fn append_step(h: &Harness, lease: &Lease, seq: i64, queue: QueueChange) -> Result<Committed, StoreError> {
    let events = vec![step_at(seq, h.clock.now_ts())];
    h.store.append(lease, Append { events, effects: None, touched: Vec::new(), queue, row: None }).await
}

pub async fn a_step_that_keeps_its_lease_leaves_at_least_half_of_it(h: Harness) {
    let engine = h.engine();
    let job = h.request_example(&engine, json!({"items": 10})).await;
    let lease = lease_chrono(Duration::from_secs(30));
    let (a, b) = (WorkerId::new("a"), WorkerId::new("b"));
    let now = h.clock.now_ts();
    let claimed = h.store.claim(&a, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().unwrap();
    let mut seq = claimed.next_seq;
    let mut next_step = |h: &Harness, seconds: u64| {
        h.clock.advance(Duration::from_secs(seconds));
        seq += 1;
        (seq - 1, QueueChange::Continue { lease_until: h.clock.now_ts() + lease })
    };

    // Twenty seconds on, a third of the lease is left: A's step renews it (to fifty seconds).
    let (s1, keep) = next_step(&h, 20);
    append_step(&h, &claimed.lease, s1, keep).await.expect("A's first step");
    // At forty seconds the claim's lease would be over; the renewed one holds.
    let (s2, keep) = next_step(&h, 20);
    let now = h.clock.now_ts();
    assert!(h.store.claim(&b, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().is_none(), "the step renewed it");
    // With ten seconds left this step renews it again (to seventy); five seconds later one with
    // more than half of it left may leave it, but never so that it ends before the middle of the
    // step's time and the end it asked for (sixty).
    append_step(&h, &claimed.lease, s2, keep).await.expect("A's second step");
    let (s3, keep) = next_step(&h, 5);
    append_step(&h, &claimed.lease, s3, keep).await.expect("A's third step");
    h.clock.advance(Duration::from_secs(24));
    let now = h.clock.now_ts();
    assert!(h.store.claim(&b, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().is_none(), "69 s: still A's");
    // A goes silent: once the lease it holds is over (seventy or seventy-five seconds), B takes
    // over, after A's last step.
    h.clock.advance(Duration::from_secs(7));
    let now = h.clock.now_ts();
    let taken = h.store.claim(&b, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().unwrap();
    assert_eq!((taken.lease.attempt, taken.next_seq), (2, s3 + 2), "B's claim follows A's last step");
    let late = append_step(&h, &claimed.lease, s3 + 1, QueueChange::Continue { lease_until: now + lease }).await;
    assert!(matches!(late, Err(StoreError::Fenced(_))), "A's lease is gone: {late:?}");
    assert_eq!(h.events(job).await.len() as i64, s3 + 1);
}

pub async fn a_step_that_commits_after_failures_resets_their_count(h: Harness) {
    let engine = h.engine();
    h.request_example(&engine, json!({"items": 10})).await;
    let lease = lease_chrono(Duration::from_secs(30));
    let a = WorkerId::new("a");
    let now = h.clock.now_ts();
    let claimed = h.store.claim(&a, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().unwrap();
    assert_eq!(claimed.step_failures, 0);

    // The step fails and is retried a second on; the retry's claim counts one failure.
    let failed = NewEvent {
        seq: claimed.next_seq,
        payload: EventPayload::StepFailed(dongbo_engine::event::StepFailed {
            v: 1,
            step: "count".into(),
            attempt: 1,
            error: "upstream down".into(),
            retryable: true,
            next_retry_at: Some(now + chrono::Duration::seconds(1)),
        }),
        recorded_at: now,
        actor: "a".into(),
    };
    let queue = QueueChange::RetryAt { run_at: now + chrono::Duration::seconds(1) };
    h.store
        .append(&claimed.lease, Append { events: vec![failed], effects: None, touched: Vec::new(), queue, row: None })
        .await
        .expect("the failure");
    h.clock.advance(Duration::from_secs(1));
    let now = h.clock.now_ts();
    let retry = h.store.claim(&a, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().unwrap();
    assert_eq!(retry.step_failures, 1);

    // Its step commits and keeps the lease; then A dies. The next claim counts no failure.
    append_step(&h, &retry.lease, retry.next_seq, QueueChange::Continue { lease_until: now + lease })
        .await
        .expect("the retried step");
    h.clock.advance(Duration::from_secs(31));
    let now = h.clock.now_ts();
    let taken = h.store.claim(&a, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().unwrap();
    assert_eq!((taken.lease.attempt, taken.step_failures), (3, 0), "the committed step reset the count");
}

fn lease_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap()
}

trait NowTs {
    fn now_ts(&self) -> chrono::DateTime<chrono::Utc>;
}

impl NowTs for dongbo_engine::ManualClock {
    fn now_ts(&self) -> chrono::DateTime<chrono::Utc> {
        dongbo_engine::Clock::now(self)
    }
}

pub async fn a_running_worker_keeps_its_job_from_others_by_heartbeat(h: Harness) {
    // Real time here: the worker's heartbeat task renews a short lease while a long step runs.
    let engine = Engine::new(h.store.clone(), h.registry());
    let job = h.request_example(&engine, json!({"items": 2, "batch": 2, "stepMillis": 3000})).await;
    let mut config = worker_config("holder");
    config.lease = Duration::from_millis(1500);
    let holder = engine.worker(config);
    let run = tokio::spawn(async move { holder.run_once().await });
    dongbo_tests::wait_for("the holder's claim", Duration::from_secs(10), || async {
        (h.job(job).await.status == JobStatus::Running).then_some(())
    })
    .await;
    let mut config = worker_config("rival");
    config.lease = Duration::from_millis(1500);
    let rival = engine.worker(config);
    while !run.is_finished() {
        assert!(rival.run_once().await.unwrap().is_none(), "the rival took a job whose holder is alive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(run.await.unwrap().unwrap().unwrap().1, RunOutcome::Completed);
    assert_eq!(h.job(job).await.attempts, 1);
}

pub async fn graceful_shutdown_releases_the_lease_for_an_immediate_resume(h: Harness) {
    let (gated, entered) = Gated::new(3);
    let mut registry = h.registry();
    registry.register(gated.clone());
    let engine = h.engine_with(registry);
    let job = engine.request(JobRequest::new(GATED, json!({}))).await.unwrap().job.id;
    let a = engine.worker(worker_config("a"));
    let stop = a.shutdown_handle();
    let run = tokio::spawn(async move { a.run_once().await });
    entered.next().await;
    stop.shutdown();
    gated.open_once();
    assert_eq!(run.await.unwrap().unwrap().unwrap().1, RunOutcome::Released);

    // No clock movement: the job is claimable at once and resumes after the committed step.
    let b = engine.worker(worker_config("b"));
    gated.open_once();
    gated.open_once();
    let run = tokio::spawn(async move { b.run_once().await });
    let (_, outcome) = run.await.unwrap().unwrap().unwrap();
    assert_eq!(outcome, RunOutcome::Completed);
    let row = h.job(job).await;
    assert_eq!((row.processed, row.attempts), (3, 2));
    assert_eq!(ledger_rows(&h.store.db(), job).await, 3);
    let resumed = h.events(job).await.into_iter().filter(|e| e.event_type == "JobClaimed").nth(1).unwrap();
    match resumed.decode().unwrap() {
        EventPayload::JobClaimed(c) => {
            assert!(!c.after_lost_lease);
            assert_eq!(c.resumed_from, Some(3), "resumes from the first step's checkpoint");
        }
        other => panic!("{other:?}"),
    }
    drop(entered);
}

pub async fn a_thousand_jobs_on_four_workers_with_separate_pools_run_exactly_once(h: Harness) {
    let engine = Engine::new(h.store.clone(), h.registry());
    let mut jobs = Vec::new();
    for _ in 0..1000 {
        jobs.push(h.request_example(&engine, json!({"items": 1, "batch": 1})).await);
    }
    let mut handles = Vec::new();
    let mut stops = Vec::new();
    for i in 0..4 {
        let store = h.second_store().await;
        let engine = Engine::new(store, h.registry());
        let worker = engine.worker(worker_config(&format!("w{i}")));
        stops.push(worker.shutdown_handle());
        handles.push(tokio::spawn(async move { worker.run().await }));
    }
    let store = h.store.clone();
    dongbo_tests::wait_for("1,000 jobs to complete", Duration::from_secs(300), || {
        let store = store.clone();
        async move {
            let counts = store.job_counts().await.unwrap();
            let done: i64 = counts.iter().filter(|(_, s, _)| *s == JobStatus::Completed).map(|(_, _, n)| n).sum();
            (done == 1000).then_some(())
        }
    })
    .await;
    for s in &stops {
        s.shutdown();
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let mut claimers = std::collections::BTreeSet::new();
    for job in jobs {
        let events = h.events(job).await;
        let claims: Vec<_> = events.iter().filter(|e| e.event_type == "JobClaimed").collect();
        assert_eq!(claims.len(), 1, "job {job} was claimed {} times", claims.len());
        claimers.insert(claims[0].actor.clone());
        let stats = example_stats(&h.store.db(), job).await.unwrap();
        assert_eq!((stats.ledger_rows, stats.executions), (1, 1), "job {job} ran other than once");
    }
    assert!(claimers.len() >= 2, "work should spread over the workers: {claimers:?}");
}

pub async fn the_live_feed_announces_each_append(h: Harness) {
    let engine = h.engine();
    let mut feed = h.store.subscribe();
    let job = h.request_example(&engine, json!({"items": 20, "batch": 10})).await;
    let worker = h.worker(&engine, "w");
    worker.run_once().await.unwrap();
    let last = h.events(job).await.last().unwrap().seq;
    let mut seen = 0;
    while seen < last {
        let notice = tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.expect("a notice").unwrap();
        if notice.job_id == job {
            seen = seen.max(notice.seq);
        }
    }
    assert_eq!(seen, last);
}

/// Another connection holding the write lock: SQLite's one writer's lock, or on PostgreSQL an
/// exclusive lock on the queue (which a claim's `FOR UPDATE` waits for, and a plain read does
/// not). Released by [`WriteLock::release`], or when the connection is dropped.
enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    async fn take(url: &str) -> WriteLock {
        use sqlx::Connection;
        if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut c).await.unwrap();
            WriteLock::Sqlite(c)
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut c).await.unwrap();
            sqlx::query("LOCK TABLE job_queue IN EXCLUSIVE MODE").execute(&mut c).await.unwrap();
            WriteLock::Postgres(c)
        }
    }

    async fn release(self) {
        match self {
            WriteLock::Sqlite(mut c) => drop(sqlx::query("ROLLBACK").execute(&mut c).await.unwrap()),
            WriteLock::Postgres(mut c) => drop(sqlx::query("ROLLBACK").execute(&mut c).await.unwrap()),
        }
    }
}

pub async fn an_idle_workers_poll_takes_no_write_lock_and_a_due_job_is_still_claimed(h: Harness) {
    let engine = h.engine();
    let (a, lease) = (WorkerId::new("a"), lease_chrono(Duration::from_secs(30)));
    // Nothing due (the one job leased to another worker): the poll answers while another
    // connection holds the writer's lock, instead of queueing behind it (up to the 30 s busy
    // timeout on SQLite).
    let job = h.request_example(&engine, json!({"items": 1})).await;
    let now = h.clock.now_ts();
    let b = WorkerId::new("b");
    h.store.claim(&b, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().expect("b claims the job");
    let lock = WriteLock::take(&h.db.url).await;
    let poll = tokio::time::timeout(Duration::from_secs(10), h.store.claim(&a, &[EXAMPLE_COUNT], now, now + lease));
    let polled = poll.await.expect("an idle poll must not wait for the writer's lock").unwrap();
    assert!(polled.is_none(), "nothing is due: the job's lease is live");
    lock.release().await;
    // The look before the lock hides nothing: once b's lease has run out, a claims the job.
    h.clock.advance(Duration::from_secs(31));
    let now = h.clock.now_ts();
    let claimed = h.store.claim(&a, &[EXAMPLE_COUNT], now, now + lease).await.unwrap().expect("the due job");
    assert_eq!((claimed.lease.job_id, claimed.lease.attempt), (job, 2));
}
