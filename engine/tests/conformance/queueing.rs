//! Queueing and priorities: a request of another input waits behind the unfinished job of its
//! concurrency key, a free worker claims by priority and then age, waiting work ages past fresh
//! urgent work, and no two jobs of one key ever run at once, however many workers race.

use std::collections::BTreeMap;
use std::time::Duration;

use dongbo_engine::event::{EventPayload, JobCompleted, NewEvent};
use dongbo_engine::example::EXAMPLE_COUNT;
use dongbo_engine::store::{Append, ClaimRequest, ClaimedJob, QueueChange};
use dongbo_engine::{Clock, Engine, Existing, JobId, JobRequest, JobStatus, Priority, QueuePolicy, Store, WorkerId};
use serde_json::{json, Value};

use crate::harness::{worker_config, Harness};

fn at(priority: Priority, input: Value) -> JobRequest {
    JobRequest { priority, ..JobRequest::new(EXAMPLE_COUNT, input) }
}

async fn claim_as(h: &Harness, store: &dyn Store, name: &str, policy: QueuePolicy) -> Option<ClaimedJob> {
    let now = h.clock.now();
    let worker = WorkerId::new(name);
    let request = ClaimRequest {
        worker: &worker,
        job_types: &[EXAMPLE_COUNT],
        now,
        lease_until: now + chrono::Duration::seconds(30),
        policy,
    };
    store.claim_next(request).await.unwrap()
}

/// Completes a claimed job directly through the store.
async fn finish(h: &Harness, claimed: &ClaimedJob) {
    let done = NewEvent {
        seq: claimed.next_seq,
        payload: EventPayload::JobCompleted(JobCompleted { v: 1, summary: Value::Null }),
        recorded_at: h.clock.now(),
        actor: claimed.lease.worker.to_string(),
    };
    let append =
        Append { events: vec![done], effects: None, touched: Vec::new(), queue: QueueChange::Finish, row: None };
    h.store.append(&claimed.lease, append).await.unwrap();
}

pub async fn a_request_with_another_input_waits_behind_the_unfinished_job_of_its_key(h: Harness) {
    let engine = h.engine();
    let full = json!({"items": 3, "exclusive": "shop"});
    let targeted = json!({"items": 1, "exclusive": "shop"});
    let first = engine.request(JobRequest::new(EXAMPLE_COUNT, full.clone())).await.unwrap();
    let holder = claim_as(&h, h.store.as_ref(), "a", QueuePolicy::default()).await.expect("the first job is claimed");
    assert_eq!(holder.lease.job_id, first.job.id);

    // Another input: a new job, pending, behind the running one.
    let queued = engine.request(JobRequest::new(EXAMPLE_COUNT, targeted.clone())).await.unwrap();
    assert_eq!(queued.existing, None);
    assert_ne!(queued.job.id, first.job.id);
    assert_eq!((queued.job.status, queued.waiting_behind), (JobStatus::Pending, Some(first.job.id)));
    // The same input as either unfinished job: that job, nothing new.
    let again = engine.request(JobRequest::new(EXAMPLE_COUNT, full)).await.unwrap();
    assert_eq!((again.existing, again.job.id), (Some(Existing::AlreadyRunning), first.job.id));
    let again = engine.request(JobRequest::new(EXAMPLE_COUNT, targeted)).await.unwrap();
    assert_eq!((again.existing, again.job.id), (Some(Existing::AlreadyRunning), queued.job.id));

    // The queue shows it and what it waits behind; no worker may claim it meanwhile.
    let waiting = engine.queue().await.unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!((waiting[0].job.id, waiting[0].waiting_behind), (queued.job.id, Some(first.job.id)));
    assert!(claim_as(&h, h.store.as_ref(), "b", QueuePolicy::default()).await.is_none());

    // Once the holder finishes, the waiting job is claimed.
    finish(&h, &holder).await;
    let next = claim_as(&h, h.store.as_ref(), "b", QueuePolicy::default()).await.expect("the waiting job is claimed");
    assert_eq!(next.lease.job_id, queued.job.id);
    assert!(engine.queue().await.unwrap().is_empty());
}

pub async fn a_free_worker_claims_webhook_then_manual_then_scheduled_work(h: Harness) {
    let engine = h.engine();
    // A second apart, so age alone would claim them in the order asked.
    let ask = |priority, items| {
        h.clock.advance(Duration::from_secs(1));
        engine.request(at(priority, json!({ "items": items })))
    };
    let scheduled = ask(Priority::Scheduled, 1).await.unwrap().job;
    let manual = ask(Priority::Manual, 2).await.unwrap().job;
    let webhook = ask(Priority::Webhook, 3).await.unwrap().job;
    let later_webhook = ask(Priority::Webhook, 4).await.unwrap().job;
    assert_eq!(
        (scheduled.priority, manual.priority, webhook.priority),
        (Priority::Scheduled, Priority::Manual, Priority::Webhook)
    );
    assert_eq!(h.job(webhook.id).await.priority, Priority::Webhook, "the projection keeps the priority");
    let expected = vec![webhook.id, later_webhook.id, manual.id, scheduled.id];
    let listed: Vec<JobId> = engine.queue().await.unwrap().into_iter().map(|q| q.job.id).collect();
    assert_eq!(listed, expected, "the queue lists in claim order");
    let mut claimed = Vec::new();
    while let Some(c) = claim_as(&h, h.store.as_ref(), "w", QueuePolicy::default()).await {
        claimed.push(c.lease.job_id);
    }
    assert_eq!(claimed, expected);
}

pub async fn waiting_scheduled_work_ages_past_fresh_webhook_work(h: Harness) {
    let engine = h.engine();
    let aging = QueuePolicy { aging: Duration::from_secs(60) };
    let old = engine.request(at(Priority::Scheduled, json!({"items": 1}))).await.unwrap().job;
    // Three aging periods later the scheduled job stands at level 3, above a fresh webhook's 2.
    h.clock.advance(Duration::from_secs(181));
    let fresh = engine.request(at(Priority::Webhook, json!({"items": 2}))).await.unwrap().job;
    let order =
        |q: Vec<dongbo_engine::QueuedJob>| q.into_iter().map(|q| (q.job.id, q.effective_level)).collect::<Vec<_>>();
    let now = h.clock.now();
    assert_eq!(order(h.store.queue(now, aging).await.unwrap()), vec![(old.id, 3), (fresh.id, 2)]);
    // Under the default policy (ten minutes a level) it has not aged yet.
    assert_eq!(order(h.store.queue(now, QueuePolicy::default()).await.unwrap()), vec![(fresh.id, 2), (old.id, 0)]);
    let first = claim_as(&h, h.store.as_ref(), "w", aging).await.unwrap();
    assert_eq!(first.lease.job_id, old.id);
    finish(&h, &first).await;
    // And an engine's workers claim by the engine's policy.
    let engine = h.engine().with_queue_policy(aging);
    let other = engine.request(at(Priority::Scheduled, json!({"items": 3}))).await.unwrap().job;
    h.clock.advance(Duration::from_secs(181));
    let newer = engine.request(at(Priority::Webhook, json!({"items": 4}))).await.unwrap().job;
    let worker = h.worker(&engine, "aged");
    let ran: Vec<JobId> = [worker.run_once().await.unwrap(), worker.run_once().await.unwrap()]
        .into_iter()
        .map(|r| r.unwrap().0)
        .collect();
    // `fresh` (webhook, 3 minutes waiting) is level 5 now; `other` has aged to 3; `newer` is 2.
    assert_eq!(ran, vec![fresh.id, other.id]);
    assert_eq!(h.job(newer.id).await.status, JobStatus::Pending);
}

pub async fn no_two_jobs_of_one_key_run_at_once_however_many_workers_race(h: Harness) {
    let engine = Engine::new(h.store.clone(), h.registry());
    let mut by_key: BTreeMap<&str, Vec<JobId>> = BTreeMap::new();
    for i in 0..8u32 {
        for key in ["left", "right"] {
            let input = json!({"items": 3 + i, "batch": 1, "stepMillis": 5, "exclusive": key});
            let r = engine.request(JobRequest::new(EXAMPLE_COUNT, input)).await.unwrap();
            assert_eq!(r.existing, None, "each input is new");
            by_key.entry(key).or_default().push(r.job.id);
        }
    }
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    for i in 0..4 {
        let engine = Engine::new(h.second_store().await, h.registry());
        let worker = engine.worker(worker_config(&format!("w{i}")));
        stops.push(worker.shutdown_handle());
        handles.push(tokio::spawn(async move { worker.run().await }));
    }
    let store = h.store.clone();
    dongbo_tests::wait_for("16 jobs to complete", Duration::from_secs(120), || {
        let store = store.clone();
        async move {
            let counts = store.job_counts().await.unwrap();
            let done: i64 = counts.iter().filter(|(_, s, _)| *s == JobStatus::Completed).map(|(_, _, n)| n).sum();
            (done == 16).then_some(())
        }
    })
    .await;
    for s in &stops {
        s.shutdown();
    }
    for handle in handles {
        handle.await.unwrap();
    }
    // In the log's global order, each job of a key is claimed only after the one before it ended:
    // a claim can only see the key free once the previous holder's last event is committed.
    for (key, jobs) in by_key {
        let mut spans = Vec::new();
        for job in jobs {
            let events = h.events(job).await;
            let claimed = events.iter().find(|e| e.event_type == "JobClaimed").unwrap().position;
            let ended = events.iter().find(|e| e.event_type == "JobCompleted").unwrap().position;
            spans.push((claimed, ended));
        }
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[1].0 > pair[0].1, "two jobs of key {key} ran at once: {spans:?}");
        }
    }
}
