//! The verdict: each check compares the disturbed pass with the undisturbed one, the simulator's
//! truth or the simulator's journal, and says in words what differs.
//!
//! # How "steps redone" is measured, and why it is sound
//!
//! From each job's event log. A worker commits a step's writes, its checkpoint and its
//! `StepCompleted` in one transaction, and runs one step at a time under its lease; so the only
//! uncommitted work in a job at any moment is the one step in flight. That work is thrown away
//! exactly when a lease ends without a commit, and the next claim says so
//! (`JobClaimed.after_lost_lease`): each such claim is one step redone. The claim also names the
//! checkpoint it resumes from (`resumed_from`); resuming from anything but the latest
//! `StepCompleted` would redo every step committed after it, so those are counted too (and
//! reported as a violation), rather than assumed away. A step that failed and is retried
//! (`StepFailed`, then an ordinary claim) is a retry caused by a fault, counted apart.
//!
//! Jobs run one at a time, so one kill or one PostgreSQL restart can cost at most the one step
//! in flight: more steps redone than kills plus restarts means work was lost some other way (a
//! lease lost to a late heartbeat, a resume from an old checkpoint).
//!
//! The journal cross-checks the log where the outside world can see a redo: every inventory
//! write carries the key `dongbo:<job>:<checkpoint>:<batch>`, and a key sent again after it
//! applied is journalled as `deduplicated`. In-call retries cannot cause that (the injected 5xx
//! and timeouts answer before the write runs), only a re-run of the step can; so every
//! checkpoint the journal shows replayed must be one the log shows resumed or retried — else
//! the log under-counts.

use std::collections::{BTreeMap, BTreeSet};

use dongbo_engine::event::EventPayload;
use dongbo_engine::JobStatus;
use dongbo_simulator::{JournalEntry, Truth};
use dongbo_workflows::jobs::*;

use super::outcome::Outcome;
use super::pipeline::{JobRun, Pass, REFUSED};

/// Every job of `pass` COMPLETED.
pub(crate) fn completed(pass: &Pass) -> Vec<String> {
    pass.jobs
        .iter()
        .filter(|j| j.row.status != JobStatus::Completed)
        .map(|j| format!("{} ended {} ({})", j.row.job_type, j.row.status, j.row.error.as_deref().unwrap_or("-")))
        .collect()
}

/// `(total, processed, successful, failed)` the truth fixes for a job type; `None` where it
/// fixes nothing (a match's candidates depend on the matcher, not the generator).
pub(crate) fn truth_counters(job_type: &str, truth: &Truth) -> [Option<i64>; 4] {
    let all = |n: usize| [Some(n as i64), Some(n as i64), Some(n as i64), Some(0)];
    let refused = REFUSED.min(truth.customer_pairs.len()) as i64;
    // Nhanh's v3 pages document no total count, so a Nhanh pull's total stays unknown (it is
    // still compared with the undisturbed run's, which must be unknown too).
    let counted = |n: usize| [None, Some(n as i64), Some(n as i64), Some(0)];
    match job_type {
        PULL_NHANH_PRODUCTS => counted(truth.nhanh_products),
        PULL_SHOPIFY_PRODUCTS => all(truth.shopify_products),
        PULL_NHANH_CUSTOMERS => counted(truth.nhanh_customers),
        PULL_SHOPIFY_CUSTOMERS => all(truth.shopify_customers),
        AUTO_MATCH_PRODUCTS => [None, None, Some(truth.product_pairs.len() as i64), Some(0)],
        AUTO_MATCH_CUSTOMERS => [None, None, Some(truth.customer_pairs.len() as i64), Some(0)],
        PRODUCT_SYNC => all(truth.product_pairs.len()),
        CUSTOMER_SYNC => {
            let n = truth.customer_pairs.len() as i64;
            [Some(n), Some(n), Some(n - refused), Some(refused)]
        }
        RETRY_FAILED_SYNC => all(refused as usize),
        _ => [None; 4],
    }
}

fn counters_of(j: &JobRun) -> [Option<i64>; 4] {
    [j.row.total, Some(j.row.processed), Some(j.row.successful), Some(j.row.failed)]
}

/// Each job's counters against the truth and against the undisturbed pass.
pub(crate) fn counters(reference: &Pass, run: &Pass) -> Vec<String> {
    const NAMES: [&str; 4] = ["total", "processed", "successful", "failed"];
    let mut v = Vec::new();
    let ref_stages: Vec<usize> = reference.jobs.iter().map(|j| j.stage).collect();
    let run_stages: Vec<usize> = run.jobs.iter().map(|j| j.stage).collect();
    if ref_stages != run_stages {
        v.push(format!("stages run: {run_stages:?}, undisturbed {ref_stages:?}"));
    }
    for j in &run.jobs {
        let got = counters_of(j);
        let truth = truth_counters(&j.row.job_type, &run.truth);
        for i in 0..4 {
            if truth[i].is_some() && got[i] != truth[i] {
                v.push(format!("{} {} = {:?}, truth {:?}", j.row.job_type, NAMES[i], got[i], truth[i]));
            }
        }
        if let Some(r) = reference.jobs.iter().find(|r| r.stage == j.stage) {
            if counters_of(r) != got {
                v.push(format!("{} counters {got:?}, undisturbed {:?}", j.row.job_type, counters_of(r)));
            }
        }
    }
    v
}

/// The local tables and Shopify's final state equal the undisturbed pass's.
pub(crate) fn same_outcome(reference: &Outcome, run: &Outcome) -> Vec<String> {
    let mut v = Vec::new();
    for ((name, got), (_, want)) in run.tables.iter().zip(&reference.tables) {
        if got != want {
            let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            v.push(format!(
                "{name}: {} rows, undisturbed {}; first difference at row {at}: {} vs {}",
                got.len(),
                want.len(),
                got.get(at).map_or("none", String::as_str),
                want.get(at).map_or("none", String::as_str)
            ));
        }
    }
    v.extend(first_difference("Shopify inventory", &run.inventory, &reference.inventory));
    v.extend(first_difference("Shopify total_spent", &run.total_spent, &reference.total_spent));
    v
}

fn first_difference<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    what: &str,
    got: &BTreeMap<K, V>,
    want: &BTreeMap<K, V>,
) -> Option<String> {
    let differing = want.iter().filter(|(k, w)| got.get(*k) != Some(*w)).count()
        + got.keys().filter(|k| !want.contains_key(*k)).count();
    let (k, w) = want.iter().find(|(k, w)| got.get(*k) != Some(*w))?;
    Some(format!("{what}: {differing} entries differ, e.g. {k:?} = {:?}, undisturbed {w:?}", got.get(k)))
}

/// The inventory writes of a journal.
#[derive(Debug, Default)]
pub(crate) struct InventoryWrites {
    /// Applied entries per `(key, item, location)`.
    pub(crate) applied: BTreeMap<(String, String, String), usize>,
    /// Applied entries per `(item, location)`, whatever the key.
    pub(crate) per_level: BTreeMap<(String, String), usize>,
    /// Keys sent again after they applied, by `(job, checkpoint)`.
    pub(crate) replayed: BTreeMap<(String, i64), BTreeSet<String>>,
}

pub(crate) fn inventory_writes(journal: &[JournalEntry]) -> InventoryWrites {
    let mut w = InventoryWrites::default();
    for e in journal.iter().filter(|e| e.kind == "inventorySetQuantities") {
        let key = e.idempotency_key.clone().unwrap_or_default();
        let location = e.value["locationId"].as_str().unwrap_or_default().to_owned();
        if e.applied {
            *w.applied.entry((key, e.target.clone(), location.clone())).or_default() += 1;
            *w.per_level.entry((e.target.clone(), location)).or_default() += 1;
        } else if e.note.as_deref() == Some("deduplicated") {
            let mut parts = key.split(':');
            let (job, checkpoint) = (parts.nth(1).unwrap_or_default(), parts.next().and_then(|c| c.parse().ok()));
            w.replayed.entry((job.to_owned(), checkpoint.unwrap_or(-1))).or_default().insert(key);
        }
    }
    w
}

/// No key applied twice, every level written as often as undisturbed, no item lost: every
/// expected level and total reached and written.
pub(crate) fn shopify_writes(pass: &Pass, writes: &InventoryWrites, reference: &InventoryWrites) -> Vec<String> {
    let mut v = Vec::new();
    let twice: Vec<_> = writes.applied.iter().filter(|(_, n)| **n > 1).collect();
    if let Some(((key, item, location), n)) = twice.first() {
        v.push(format!("{} inventory keys applied twice, e.g. {key} on {item} at {location} ({n}×)", twice.len()));
    }
    if writes.per_level != reference.per_level {
        let differing: Vec<_> =
            writes.per_level.iter().filter(|(k, n)| reference.per_level.get(*k) != Some(*n)).take(3).collect();
        v.push(format!("applied inventory writes per item and location differ from undisturbed: {differing:?}"));
    }
    let state = &pass.outcome;
    let lost: Vec<_> = pass
        .expected_inventory
        .iter()
        .filter(|l| {
            let key = (l.inventory_item_id.clone(), l.location_id.clone());
            state.inventory.get(&key) != Some(&Some(l.quantity)) || !writes.per_level.contains_key(&key)
        })
        .collect();
    if let Some(l) = lost.first() {
        v.push(format!(
            "{} of {} expected stock levels not reached or never written, e.g. {} at {} (want {})",
            lost.len(),
            pass.expected_inventory.len(),
            l.inventory_item_id,
            l.location_id,
            l.quantity
        ));
    }
    let spent: Vec<_> = pass
        .expected_spent
        .iter()
        .filter(|(gid, want)| state.total_spent.get(gid) != Some(&Some(want.to_string())))
        .collect();
    if let Some((gid, want)) = spent.first() {
        v.push(format!(
            "{} of {} customers' total_spent not Nhanh's, e.g. {gid} (want {want})",
            spent.len(),
            pass.expected_spent.len()
        ));
    }
    v
}

/// Redo figures of a pass, from the event log.
#[derive(Debug, Default, Clone)]
pub(crate) struct Redo {
    pub(crate) lost_lease_resumes: usize,
    pub(crate) steps_redone: usize,
    pub(crate) step_retries: usize,
    pub(crate) max_redone_one_step: usize,
    pub(crate) steps_committed: usize,
    /// `(job, checkpoint)` a later claim resumed from (after a lost lease or a retry).
    pub(crate) resumed: BTreeSet<(String, i64)>,
}

/// Walks every job's log (see the module doc); violations for gaps and stale resumes.
pub(crate) fn redo(jobs: &[JobRun]) -> (Redo, Vec<String>) {
    let mut r = Redo::default();
    let mut v = Vec::new();
    let mut per_step: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for j in jobs {
        let job = j.id.to_string();
        let seqs: Vec<i64> = j.events.iter().map(|e| e.seq).collect();
        if seqs != (1..=seqs.len() as i64).collect::<Vec<_>>() {
            v.push(format!("{} ({job}): sequence numbers not contiguous", j.row.job_type));
        }
        let mut checkpoints: Vec<i64> = Vec::new();
        for ev in &j.events {
            match ev.decode() {
                Ok(EventPayload::StepCompleted(_)) => {
                    checkpoints.push(ev.seq);
                    r.steps_committed += 1;
                }
                Ok(EventPayload::StepFailed(f)) if f.retryable => r.step_retries += 1,
                Ok(EventPayload::JobClaimed(c)) => {
                    let last = checkpoints.last().copied();
                    if c.resumed_from != last {
                        let from = c.resumed_from.unwrap_or(0);
                        let skipped = checkpoints.iter().filter(|s| **s > from).count();
                        r.steps_redone += skipped;
                        v.push(format!(
                            "{} ({job}) claim {} resumed from {:?}, the last checkpoint was {last:?}: {skipped} steps redone",
                            j.row.job_type, c.attempt, c.resumed_from
                        ));
                    }
                    let at = (job.clone(), c.resumed_from.unwrap_or(0));
                    if c.attempt > 1 {
                        r.resumed.insert(at.clone());
                    }
                    if c.after_lost_lease {
                        r.lost_lease_resumes += 1;
                        r.steps_redone += 1;
                        *per_step.entry(at).or_default() += 1;
                    }
                }
                Ok(_) => {}
                Err(err) => v.push(format!("{} ({job}) event {}: {err}", j.row.job_type, ev.seq)),
            }
        }
    }
    r.max_redone_one_step = per_step.values().copied().max().unwrap_or(0);
    (r, v)
}

/// At most one step redone per kill or restart, and every replay the journal saw explained by a
/// resume or retry in the log.
pub(crate) fn redo_bounded(redo: &Redo, disruptions: usize, writes: &InventoryWrites) -> Vec<String> {
    let mut v = Vec::new();
    if redo.steps_redone > disruptions {
        v.push(format!("{} steps redone for {disruptions} kills and restarts", redo.steps_redone));
    }
    for ((job, checkpoint), keys) in &writes.replayed {
        if !redo.resumed.contains(&(job.clone(), *checkpoint)) {
            v.push(format!(
                "the journal shows {} inventory keys of job {job} checkpoint {checkpoint} sent again, \
                 but its log records no resume or retry from that checkpoint",
                keys.len()
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use dongbo_engine::event::{JobClaimed, StepCompleted};
    use dongbo_engine::{BackgroundJob, Event, EventPayload, JobId, Progress};
    use serde_json::json;

    use super::*;

    fn claim(attempt: u32, resumed_from: Option<i64>, after_lost_lease: bool) -> EventPayload {
        EventPayload::JobClaimed(JobClaimed {
            v: 1,
            worker: "w".into(),
            attempt,
            resumed_from,
            after_lost_lease,
            after_wait: false,
        })
    }

    fn step() -> EventPayload {
        EventPayload::StepCompleted(StepCompleted {
            v: 1,
            step: "page".into(),
            state_version: 1,
            state: json!({}),
            progress: Progress::default(),
            note: None,
            touched: Vec::new(),
            touched_count: None,
            wait_until: None,
        })
    }

    /// A job whose log is `payloads` from seq 1 (the request is left out: the walk ignores it).
    fn job(id: JobId, payloads: Vec<EventPayload>) -> JobRun {
        let row: BackgroundJob = serde_json::from_value(json!({
            "id": id, "type": "PRODUCT_SYNC", "status": "COMPLETED", "total": 1, "processed": 1,
            "successful": 1, "failed": 0, "metadata": {}, "error": null, "createdAt": Utc::now(),
            "startedAt": null, "updatedAt": Utc::now(), "completedAt": null, "attempts": 2
        }))
        .unwrap();
        let events = payloads
            .into_iter()
            .enumerate()
            .map(|(i, p)| Event {
                position: i as i64 + 1,
                job_id: id,
                seq: i as i64 + 1,
                event_type: p.event_type().into(),
                payload: p.to_json(),
                recorded_at: Utc::now(),
                actor: "w".into(),
            })
            .collect();
        JobRun { stage: 6, id, row, elapsed: Duration::ZERO, running: Duration::ZERO, events }
    }

    #[test]
    fn a_resume_after_a_lost_lease_is_one_step_redone_and_a_resume_from_an_old_checkpoint_is_a_violation() {
        let id = JobId::new();
        // Claimed, two steps (seq 2, 3), the holder killed, resumed from seq 3: one step redone.
        let good = job(id, vec![claim(1, None, false), step(), step(), claim(2, Some(3), true), step()]);
        let (r, v) = redo(&[good]);
        assert!(v.is_empty(), "{v:?}");
        assert_eq!((r.lost_lease_resumes, r.steps_redone, r.max_redone_one_step, r.steps_committed), (1, 1, 1, 3));
        assert!(r.resumed.contains(&(id.to_string(), 3)));

        // Resumed from seq 2 although seq 3 was committed: that step is redone too.
        let stale = job(id, vec![claim(1, None, false), step(), step(), claim(2, Some(2), true), step()]);
        let (r, v) = redo(&[stale]);
        assert_eq!(r.steps_redone, 2);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(redo_bounded(&r, 1, &InventoryWrites::default()).len(), 1, "2 steps redone for 1 kill");
    }

    #[test]
    fn an_inventory_key_sent_again_must_be_explained_by_a_resume_in_the_log() {
        let id = JobId::new();
        let entry = |applied: bool, note: Option<&str>| JournalEntry {
            kind: "inventorySetQuantities".into(),
            target: "gid://shopify/InventoryItem/1".into(),
            value: json!({ "locationId": "gid://shopify/Location/1", "quantity": 5 }),
            idempotency_key: Some(format!("dongbo:{id}:3:batch-1")),
            applied,
            note: note.map(Into::into),
            at: 0,
        };
        let writes = inventory_writes(&[entry(true, None), entry(false, Some("deduplicated"))]);
        assert_eq!(writes.applied.values().sum::<usize>(), 1);
        let resumed = job(id, vec![claim(1, None, false), step(), step(), claim(2, Some(3), true), step()]);
        let (r, _) = redo(&[resumed]);
        assert!(redo_bounded(&r, 1, &writes).is_empty());
        let never = job(id, vec![claim(1, None, false), step(), step(), step()]);
        let (r, _) = redo(&[never]);
        let v = redo_bounded(&r, 1, &writes);
        assert!(v.len() == 1 && v[0].contains("no resume or retry"), "{v:?}");
    }
}
