//! One firing per slot with several real `dongbo worker` processes on PostgreSQL. Two schedules
//! whose latest slot passed while nothing ran (the processes start after it): every process
//! ticks at start and races for it; exactly one firing and one job per schedule result, the
//! older missed slots never fire, and the workers run the jobs — one a PIPELINE whose children
//! the processes share — to completion.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dongbo_engine::example::ExampleCount;
use dongbo_engine::{Engine, JobFilter, JobStatus, Registry};
use dongbo_tests::{dongbo_bin, postgres_db, wait_for};
use dongbo_workflows::catalog::store::schedules::{children_of, firings};
use dongbo_workflows::schedules::scheduler::NewSchedule;
use dongbo_workflows::schedules::Scheduler;
use serde_json::json;

/// Kills its processes however the test ends.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_worker_processes_fire_each_slot_once() {
    let Some(db) = postgres_db().await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let mut registry = Registry::new();
    registry.register(ExampleCount);
    dongbo_workflows::schedules::register(&mut registry, &store, &dongbo_workflows::Upstreams::default());
    let engine = Engine::new(store.clone(), registry);
    let scheduler = Scheduler::new(engine.clone(), "test");
    // Created three days ago: the daily slots of the last three midnights were all missed.
    let created = Utc::now() - chrono::Duration::days(3);
    let daily = |id: &str, job_type: &str, input| NewSchedule {
        id: id.into(),
        cron: "0 0 * * *".into(),
        time_zone: Some("UTC".into()),
        job_type: job_type.into(),
        input,
        paused: false,
    };
    scheduler.create(daily("count", "EXAMPLE_COUNT", json!({"items": 20, "batch": 5})), created).await.unwrap();
    let pipeline = json!({"recheckSecs": 1, "stages": [
        {"name": "first", "jobs": [{"type": "EXAMPLE_COUNT", "input": {"items": 6, "batch": 2, "exclusive": "p1"}},
                                   {"type": "EXAMPLE_COUNT", "input": {"items": 6, "batch": 2, "exclusive": "p2"}}]},
        {"name": "second", "jobs": [{"type": "EXAMPLE_COUNT", "input": {"items": 4, "batch": 2, "exclusive": "p3"}}]}
    ]});
    scheduler.create(daily("pipe", "PIPELINE", pipeline), created).await.unwrap();

    // Four processes, started together; each says when its first tick is done.
    let (ticked_tx, ticked) = mpsc::channel::<u32>();
    let mut workers = Workers(Vec::new());
    for _ in 0..4 {
        let mut child = Command::new(dongbo_bin())
            .args(["worker", "--db", &db.url, "--workers", "1", "--lease-ms", "3000"])
            .env("DONGBO_LOG", "dongbo_workflows::schedules=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dongbo worker");
        let pid = child.id();
        let stderr = child.stderr.take().unwrap();
        let tx = ticked_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("first schedule tick done") {
                    let _ = tx.send(pid);
                }
            }
        });
        workers.0.push(child);
    }
    for _ in 0..4 {
        ticked.recv_timeout(Duration::from_secs(120)).expect("every worker process ticks once at start");
    }

    // Every process has ticked: one firing per schedule, of the latest missed midnight.
    let today = Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap();
    let latest = Utc.from_utc_datetime(&today).timestamp_millis();
    for id in ["count", "pipe"] {
        let f = firings(&store.db(), id, 10).await.unwrap();
        assert_eq!(f.len(), 1, "{id}: {f:?}");
        assert_eq!(f[0].at_ms, latest, "{id} fired the latest missed slot");
        assert!(f[0].fired_by.contains(':'), "signed by a process: {}", f[0].fired_by);
    }
    let all = JobFilter { limit: 1000, ..JobFilter::default() };
    let scheduled: Vec<_> = store.list_jobs(&all).await.unwrap();
    let pipes: Vec<_> = scheduled.iter().filter(|j| j.job_type == "PIPELINE").collect();
    assert_eq!(pipes.len(), 1);

    // The workers run both to completion; the pipeline's children ran in the processes.
    let pipe_id = pipes[0].id;
    let done = wait_for("the pipeline to complete", Duration::from_secs(180), || {
        let store = store.clone();
        async move {
            let job = store.job(pipe_id).await.unwrap()?;
            job.status.is_finished().then_some(job)
        }
    })
    .await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    let children = children_of(&store.db(), &pipe_id.to_string()).await.unwrap();
    assert_eq!(children.len(), 3);
    let count_job = firings(&store.db(), "count", 1).await.unwrap()[0].job_id.clone().unwrap();
    let count_done = wait_for("the scheduled count to complete", Duration::from_secs(120), || {
        let store = store.clone();
        let id = count_job.parse().unwrap();
        async move { store.job(id).await.unwrap().filter(|j| j.status.is_finished()) }
    })
    .await;
    assert_eq!(count_done.status, JobStatus::Completed);
    // 1 scheduled count + 1 pipeline + 3 children, nothing else.
    assert_eq!(store.list_jobs(&all).await.unwrap().len(), 5);
}
