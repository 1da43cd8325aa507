//! `resume`: the work redone after a kill -9. A CUSTOMER_SYNC runs in a `dongbo worker` child
//! process, is killed with SIGKILL, and is resumed by a worker here once the lease runs out. The
//! kill lands a third of the way in, once Shopify has received part of a step that the worker has
//! not committed — the worst moment. Measured, on each store:
//!
//! - **items re-sent**: customers whose metafield the simulator's write journal received both
//!   before the resuming claim and after it (an undisturbed run writes each once);
//! - **steps redone**: the steps committed after the resume that re-sent any of them (found by the
//!   customers each `StepCompleted` event touched), plus any step the killed worker had committed
//!   past the checkpoint the resume started from (the event log; fencing makes it zero).
//!
//! The baseline is the old tool, which kept no record of what it had sent: it redoes the whole
//! job — every step and every item. Targets: at most one step redone (DESIGN), and at most one
//! call's items re-sent (issue 17: the step the kill cut off reads its items back from Shopify
//! before it sends again, so what had landed is not re-sent).

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use dongbo_engine::event::EventPayload;
use dongbo_engine::{WorkerConfig, WorkerId};
use dongbo_workflows::jobs::CUSTOMER_SYNC;
use dongbo_workflows::sync::{self, SyncInput, SyncSettings};

use super::fixture::{finish, SyncFixture};
use super::{backends, note, BenchOpts, Row, ScratchDb};
use crate::worker_process::{self, WorkerProcess};

const LEASE: Duration = Duration::from_secs(2);

/// Runs the section.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>> {
    let customers = opts.size(4_000, 12_000);
    let mut rows = Vec::new();
    for backend in backends(opts, "resume") {
        let db = ScratchDb::new(backend, opts).await?;
        let url = db.url().to_owned();
        let f = SyncFixture::prepare(db, 200, customers).await?;
        let worker = WorkerProcess::spawn(&opts.dongbo_bin, &url, &f.sim.env(), LEASE)?;
        let job = f.engine.request(sync::CUSTOMERS.request(&SyncInput::default())?).await?.job.id;
        // Killed a third of the way in, once Shopify has received part of a step the worker has
        // not committed: the worst moment, whose whole step is redone.
        let at_kill = worker
            .kill_when(&f.store, job, |row| {
                let sent = f.sim.journal().iter().filter(|e| e.kind == "metafieldsSet").count();
                worker_process::past(row, 1.0 / 3.0) && sent as i64 > row.processed
            })
            .await?;
        let row = finish(&f.engine, job, WorkerConfig::new(WorkerId::new("bench-resume"))).await?;

        let events = f.store.events(job, 0, i64::MAX).await?;
        let mut decoded = Vec::with_capacity(events.len());
        for e in &events {
            decoded.push((e.seq, e.recorded_at, e.decode().with_context(|| format!("event {} of the job", e.seq))?));
        }
        let (resume_seq, resumed_at, resumed_from) = decoded
            .iter()
            .find_map(|(seq, at, p)| match p {
                EventPayload::JobClaimed(c) if c.attempt == 2 => Some((*seq, *at, c.resumed_from.unwrap_or(0))),
                _ => None,
            })
            .context("no resuming claim (attempt 2) in the job's events")?;
        let steps: Vec<_> = decoded
            .iter()
            .filter_map(|(seq, _, p)| match p {
                EventPayload::StepCompleted(s) => Some((*seq, s)),
                _ => None,
            })
            .collect();
        let committed_lost = steps.iter().filter(|(seq, _)| *seq > resumed_from && *seq < resume_seq).count();

        let resumed_ms = resumed_at.timestamp_millis();
        let journal = f.sim.journal();
        let writes = journal.iter().filter(|e| e.kind == "metafieldsSet");
        let before: HashSet<&str> = writes.clone().filter(|e| e.at < resumed_ms).map(|e| e.target.as_str()).collect();
        let resent: HashSet<&str> = writes
            .filter(|e| e.at >= resumed_ms && before.contains(e.target.as_str()))
            .map(|e| e.target.as_str())
            .collect();
        let redone_after = steps
            .iter()
            .filter(|(seq, s)| *seq > resume_seq && s.touched.iter().any(|t| resent.contains(t.id.as_str())))
            .count();
        let steps_redone = committed_lost + redone_after;
        let items = row.processed;
        let per_call = SyncSettings::default().max_metafields_per_call;
        note(
            "resume",
            &format!(
                "{} ({}): killed at {}/{items}, resumed from event {resumed_from} by claim {resume_seq}; {} steps in all; \
                 {steps_redone} step(s) and {} item(s) redone",
                CUSTOMER_SYNC,
                backend.name(),
                at_kill.processed,
                steps.len(),
                resent.len()
            ),
        );
        let name = |what: &str| format!("resume: {what} redone after kill -9, {CUSTOMER_SYNC} ({})", backend.name());
        let r = Row::new(name("steps"), steps_redone as f64, steps.len() as f64, "≤ 1 step", false);
        rows.push(Row { met: steps_redone <= 1, ..r });
        let r =
            Row::new(name("items"), resent.len() as f64, items as f64, format!("≤ 1 call ({per_call} items)"), false);
        rows.push(Row { met: resent.len() <= per_call, ..r });
        f.sim.shutdown().await;
    }
    Ok(rows)
}
