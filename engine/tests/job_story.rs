//! The log tells one job's story in order: at `info`, every line of a run carries the job's span
//! (id, type, claim number) and each step's span (sequence number), from the claim through a
//! failed step, its retry and each committed step to the end.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dongbo_engine::example::{ExampleCount, EXAMPLE_COUNT};
use dongbo_engine::{Engine, JobRequest, ManualClock, Registry, RunOutcome, WorkerConfig, WorkerId};
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

/// Everything the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn at_info_one_jobs_claim_retry_steps_and_end_read_in_order_under_its_spans() {
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("dongbo_engine=info")
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = dongbo_engine::open("sqlite::memory:").await.unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let mut registry = Registry::new();
    registry.register(ExampleCount);
    let engine = Engine::with_clock(store, registry, Arc::new(clock.clone()));
    let input = json!({"items": 2, "batch": 1, "transientFailures": 1});
    let job = engine.request(JobRequest::new(EXAMPLE_COUNT, input)).await.unwrap().job.id;
    let worker = engine.worker(WorkerConfig::new(WorkerId::new("w1")));
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::RetryScheduled);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(worker.run_once().await.unwrap().unwrap().1, RunOutcome::Completed);

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let first = format!("job{{job={job} job_type=EXAMPLE_COUNT attempt=1 worker=w1}}");
    let second = format!("job{{job={job} job_type=EXAMPLE_COUNT attempt=2 worker=w1}}");
    // Each expected line: the span it is told in, and what it says, in this order.
    let story = [
        (first.as_str(), "job claimed"),
        (first.as_str(), "step failed; retry scheduled"),
        (first.as_str(), "run ended outcome=RetryScheduled"),
        (second.as_str(), "job claimed"),
        (second.as_str(), "step committed step=count processed=1"),
        (second.as_str(), "job completed processed=2"),
        (second.as_str(), "run ended outcome=Completed"),
    ];
    let mut lines = text.lines();
    for (span, says) in story {
        let found = lines.by_ref().any(|line| line.contains(span) && line.contains(says));
        assert!(found, "no line in span {span} saying {says:?} after the previous one in:\n{text}");
    }
    // A step's lines are told in its own span too, inside the job's.
    let committed: Vec<&str> = text.lines().filter(|l| l.contains("step committed")).collect();
    assert_eq!(committed.len(), 2, "{text}");
    assert!(committed.iter().all(|l| l.contains(&format!("}}:step{{job={job} seq="))), "{text}");
}
