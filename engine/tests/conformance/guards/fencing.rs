//! One test per fencing guard, each on both append paths (PostgreSQL commits a step without local
//! writes or audit entries in one statement, and one with them in a transaction) and the stale
//! ones under every kind of queue change (each has its own text or trigger branch): a stale sequence
//! number under a valid lease, a valid sequence number under a stale lease, a committed append
//! repeated, and (PostgreSQL) a commit whose reply was lost and which is then retried.

use std::time::Duration;

use dongbo_engine::event::{EventPayload, NewEvent, Progress, StepCompleted};
use dongbo_engine::example::EXAMPLE_COUNT;
use dongbo_engine::store::{Append, ClaimedJob, Committed, Lease, QueueChange};
use dongbo_engine::{
    Clock, EffectError, EntityRef, Event, JobId, SharedStore, StepEffects, StoreError, StoreTx, WorkerId,
};
use serde_json::json;

use super::proxy::LossyProxy;
use crate::gated::ledger_rows;
use crate::harness::Harness;

/// The step's local write, idempotent as the catalog's writes are (an upsert): a second append of
/// the same step would write nothing new and not fail, so only the fence can refuse it — the
/// ledger's key must not be what makes these tests pass.
struct Upsert {
    job: JobId,
    item: i64,
}

#[async_trait::async_trait]
impl StepEffects for Upsert {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        match tx {
            StoreTx::Sqlite(c) => {
                sqlx::query("INSERT INTO example_ledger (job_id, item) VALUES (?, ?) ON CONFLICT DO NOTHING")
                    .bind(self.job.to_string())
                    .bind(self.item)
                    .execute(c)
                    .await?;
            }
            StoreTx::Postgres(c) => {
                sqlx::query("INSERT INTO example_ledger (job_id, item) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(self.job.as_uuid())
                    .bind(self.item)
                    .execute(c)
                    .await?;
            }
        }
        Ok(())
    }
}

const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// How a test append commits.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    /// No local writes, no audit entries, the caller's row: PostgreSQL's one-statement path.
    Bare,
    /// Local writes and audit entries: the transaction path.
    WithWrites,
}

const PATHS: [Path; 2] = [Path::Bare, Path::WithWrites];

fn step_event(seq: i64, actor: &str, note: &str) -> NewEvent {
    NewEvent {
        seq,
        payload: EventPayload::StepCompleted(StepCompleted {
            v: 1,
            step: "guard".into(),
            state_version: 1,
            state: json!({"next": 1}),
            progress: Progress { processed: 1, successful: 1, ..Progress::default() },
            note: Some(note.into()),
            touched: vec![],
            touched_count: None,
            wait_until: None,
        }),
        recorded_at: chrono::Utc::now(),
        actor: actor.into(),
    }
}

/// The queue change of a step that keeps its lease (extended from the claim).
fn keep_lease(claimed: &ClaimedJob) -> QueueChange {
    QueueChange::Continue { lease_until: claimed_at(claimed) + LEASE }
}

/// Every kind of queue change a step's commit makes, each committed by its own text or trigger
/// branch (the fence must hold on each).
fn queue_changes(claimed: &ClaimedJob) -> [QueueChange; 4] {
    let at = claimed_at(claimed) + LEASE;
    [
        keep_lease(claimed),
        QueueChange::RetryAt { run_at: at },
        QueueChange::WaitUntil { run_at: at },
        QueueChange::Finish,
    ]
}

/// Appends one `StepCompleted` at `seq` under `lease` on `path` with the queue change `queue`.
#[allow(clippy::too_many_arguments)]
async fn append(
    store: &SharedStore,
    lease: &Lease,
    claimed: &ClaimedJob,
    path: Path,
    seq: i64,
    note: &str,
    item: i64,
    queue: QueueChange,
) -> Result<Committed, StoreError> {
    let mark = Upsert { job: lease.job_id, item };
    let append = match path {
        Path::Bare => Append {
            events: vec![step_event(seq, lease.worker.as_str(), note)],
            effects: None,
            touched: Vec::new(),
            queue,
            row: Some(claimed.row.clone()),
        },
        Path::WithWrites => Append {
            events: vec![step_event(seq, lease.worker.as_str(), note)],
            effects: Some(&mark),
            touched: vec![EntityRef { kind: "guard_item".into(), id: item.to_string(), action: "fenced".into() }],
            queue,
            row: None,
        },
    };
    store.append(lease, append).await
}

/// The claim's time (its row was updated by it).
fn claimed_at(claimed: &ClaimedJob) -> chrono::DateTime<chrono::Utc> {
    claimed.row.updated_at
}

/// Gives the lease up and cancels the job, so the next claim finds the next job.
async fn finish(h: &Harness, lease: &Lease) {
    h.store.release(lease).await.unwrap();
    h.store.cancel(lease.job_id, "test", h.clock.now()).await.unwrap();
}

async fn claim(h: &Harness, store: &SharedStore, worker: &str) -> ClaimedJob {
    let now = h.clock.now();
    store.claim(&WorkerId::new(worker), &[EXAMPLE_COUNT], now, now + LEASE).await.unwrap().expect("a due job")
}

/// Everything a refused append must leave as it was.
#[derive(Debug, PartialEq)]
struct Trace {
    events: Vec<Event>,
    ledger: i64,
    row: dongbo_engine::BackgroundJob,
    touched: usize,
}

async fn trace(h: &Harness, job: JobId) -> Trace {
    Trace {
        events: h.events(job).await,
        ledger: ledger_rows(&h.store.db(), job).await,
        row: h.job(job).await,
        touched: h.store.entity_events(&format!("guard_item:{}", 7), 1000).await.unwrap().len()
            + h.store.entity_events(&format!("guard_item:{}", 8), 1000).await.unwrap().len(),
    }
}

fn assert_fenced(r: Result<Committed, StoreError>, what: &str) {
    match r {
        Err(StoreError::Fenced(_)) => {}
        Err(e) => panic!("{what}: expected Fenced, got {e}"),
        Ok(c) => panic!("{what}: the append committed ({:?})", c.row.status),
    }
}

pub async fn a_stale_sequence_under_a_valid_lease_is_fenced_and_leaves_nothing(h: Harness) {
    let engine = h.engine();
    for path in PATHS {
        let job = h.request_example(&engine, json!({"items": 10})).await;
        let claimed = claim(&h, &h.store, "a").await;
        assert_eq!(claimed.lease.job_id, job);
        let before = trace(&h, job).await;
        let taken = claimed.next_seq - 1;
        let gap = claimed.next_seq + 1;
        for (seq, what) in [(taken, "a taken sequence number"), (gap, "a sequence number after a gap")] {
            for queue in queue_changes(&claimed) {
                let r = append(&h.store, &claimed.lease, &claimed, path, seq, "stale", 7, queue).await;
                assert_fenced(r, &format!("{path:?}, {queue:?}: {what} under a valid lease"));
                assert_eq!(trace(&h, job).await, before, "{path:?}, {queue:?}: {what} left something behind");
            }
        }
        // The guard refused the sequence, not the lease: the right number still commits.
        append(&h.store, &claimed.lease, &claimed, path, claimed.next_seq, "valid", 8, keep_lease(&claimed))
            .await
            .expect("valid append");
        let after = trace(&h, job).await;
        assert_eq!(after.events.len(), before.events.len() + 1);
        let writes = i64::from(path == Path::WithWrites);
        assert_eq!((after.ledger, after.row.processed), (before.ledger + writes, 1));
        finish(&h, &claimed.lease).await;
    }
}

pub async fn a_valid_sequence_under_a_stale_lease_is_fenced_and_leaves_nothing(h: Harness) {
    let engine = h.engine();
    for path in PATHS {
        let job = h.request_example(&engine, json!({"items": 10})).await;
        let a = claim(&h, &h.store, "a").await;
        // A's lease runs out and B takes the job over: B's claim takes A's next number.
        h.clock.advance(Duration::from_secs(31));
        let b = claim(&h, &h.store, "b").await;
        assert_eq!((b.lease.job_id, b.lease.attempt, b.next_seq), (job, a.lease.attempt + 1, a.next_seq + 1));
        let before = trace(&h, job).await;
        let stale = [
            (a.lease.clone(), "A's own lease"),
            (Lease { job_id: job, worker: WorkerId::new("a"), attempt: b.lease.attempt }, "A's name with B's claim"),
            (Lease { job_id: job, worker: WorkerId::new("b"), attempt: a.lease.attempt }, "B's name with A's claim"),
        ];
        for (lease, what) in stale {
            for queue in queue_changes(&b) {
                let r = append(&h.store, &lease, &b, path, b.next_seq, "stale lease", 7, queue).await;
                assert_fenced(r, &format!("{path:?}, {queue:?}: the valid sequence number under {what}"));
                assert_eq!(trace(&h, job).await, before, "{path:?}, {queue:?}: {what} left something behind");
            }
        }
        append(&h.store, &b.lease, &b, path, b.next_seq, "holder", 8, keep_lease(&b))
            .await
            .expect("the holder's append");
        assert_eq!(h.events(job).await.len(), before.events.len() + 1);
        finish(&h, &b.lease).await;
    }
}

/// `StepCompleted` events of `job` carrying `note`.
fn copies(events: &[Event], note: &str) -> usize {
    events.iter().filter(|e| e.event_type == "StepCompleted" && e.payload["note"] == json!(note)).count()
}

fn assert_contiguous(events: &[Event]) {
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
}

pub async fn a_committed_append_repeated_is_fenced_and_appends_nothing_twice(h: Harness) {
    let engine = h.engine();
    for path in PATHS {
        let job = h.request_example(&engine, json!({"items": 10})).await;
        let claimed = claim(&h, &h.store, "a").await;
        append(&h.store, &claimed.lease, &claimed, path, claimed.next_seq, "once", 7, keep_lease(&claimed))
            .await
            .expect("first append");
        let after_first = trace(&h, job).await;
        // The caller did not hear back and sends the same append again.
        let again =
            append(&h.store, &claimed.lease, &claimed, path, claimed.next_seq, "once", 7, keep_lease(&claimed)).await;
        assert_fenced(again, &format!("{path:?}: the repeated append"));
        let after = trace(&h, job).await;
        assert_eq!(after, after_first, "{path:?}: the repeat changed something");
        assert_eq!(copies(&after.events, "once"), 1);
        assert_contiguous(&after.events);
        assert_eq!(after.row.processed, 1, "{path:?}: the step was counted twice");
        finish(&h, &claimed.lease).await;
    }
}

/// `CommandComplete` for a statement tag, as PostgreSQL sends it.
fn command_complete(tag: &str) -> Vec<u8> {
    let mut m = vec![b'C'];
    m.extend_from_slice(&(4 + tag.len() as i32 + 1).to_be_bytes());
    m.extend_from_slice(tag.as_bytes());
    m.push(0);
    m
}

/// PostgreSQL: the reply to the step's commit is lost (the connection is cut after the server
/// committed), the store and then the caller try again, and the log holds the step once.
pub async fn a_commit_whose_reply_was_lost_is_not_appended_twice(h: Harness, with_writes: bool) {
    let path = if with_writes { Path::WithWrites } else { Path::Bare };
    let proxy = LossyProxy::start(&h.db.url).await;
    let store = dongbo_engine::open(&proxy.url(&h.db.url)).await.expect("open through the proxy");
    let engine = h.engine();
    let job = h.request_example(&engine, json!({"items": 10})).await;
    // Claimed through the proxy: the store keeps that connection for the job's next commit.
    let claimed = claim(&h, &store, "a").await;
    // The one-statement commit ends with `SELECT 1`; the transaction with `COMMIT`.
    proxy.arm(&command_complete(if with_writes { "COMMIT" } else { "SELECT 1" }));
    let first =
        append(&store, &claimed.lease, &claimed, path, claimed.next_seq, "lost reply", 7, keep_lease(&claimed)).await;
    assert_eq!(proxy.cuts(), 1, "{path:?}: the reply was not cut (first try: {:?})", first.as_ref().map(|_| ()));
    // The caller retries the same append, as a worker that lost a reply would.
    let again =
        append(&store, &claimed.lease, &claimed, path, claimed.next_seq, "lost reply", 7, keep_lease(&claimed)).await;
    assert_fenced(again, &format!("{path:?}: the retry after a lost reply"));

    let events = h.events(job).await;
    assert_eq!(copies(&events, "lost reply"), 1, "{path:?}: the commit must be there exactly once: {events:?}");
    assert_contiguous(&events);
    assert_eq!(h.job(job).await.processed, 1, "{path:?}: the step was counted twice");
    assert_eq!(ledger_rows(&h.store.db(), job).await, i64::from(with_writes));
}
