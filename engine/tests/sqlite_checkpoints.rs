//! A SQLite store checkpoints its write-ahead log in the background: committed steps reach the
//! database file itself while the log is still far below the size at which a commit would
//! checkpoint it (4,000 pages), so no step commit waits for a checkpoint's flushes.

use std::path::Path;
use std::time::{Duration, Instant};

use dongbo_engine::example::{ExampleCount, EXAMPLE_COUNT};
use dongbo_engine::{Engine, JobRequest, Registry, WorkerConfig, WorkerId};
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

/// StepCompleted events of `job` in the database file at `path` read without its log: a copy
/// of the file alone, opened apart. `None` while the copy cannot be read (a checkpoint may be
/// writing the file as it is copied).
async fn steps_in_file_alone(path: &Path, job: &str) -> Option<i64> {
    let copy = path.with_file_name("copy.db");
    for leftover in ["copy.db", "copy.db-wal", "copy.db-shm"] {
        let _ = std::fs::remove_file(path.with_file_name(leftover));
    }
    std::fs::copy(path, &copy).ok()?;
    let mut conn = SqliteConnection::connect(&format!("sqlite:{}", copy.display())).await.ok()?;
    let n = sqlx::query_scalar("SELECT count(*) FROM events WHERE job_id = ?1 AND event_type = 'StepCompleted'")
        .bind(job)
        .fetch_one(&mut conn)
        .await
        .ok();
    let _ = conn.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_steps_reach_the_database_file_without_waiting_for_the_log_to_fill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dongbo.db");
    let store = dongbo_engine::open(&format!("sqlite:{}", path.display())).await.unwrap();
    let mut registry = Registry::new();
    registry.register(ExampleCount);
    let engine = Engine::new(store, registry);
    // 100 steps: well under the 4,000 log pages that make a commit checkpoint by itself.
    let job = engine.request(JobRequest::new(EXAMPLE_COUNT, json!({"items": 100, "batch": 1}))).await.unwrap().job.id;
    let worker = engine.worker(WorkerConfig::new(WorkerId::new("w1")));
    while worker.run_once().await.unwrap().is_some() {}
    let committed = engine.store().events(job, 0, 10_000).await.unwrap();
    let steps = committed.iter().filter(|e| e.event_type == "StepCompleted").count();
    assert_eq!(steps, 100, "the job ran all its steps");

    // The file alone catches up with what was committed, the store still open (closing the last
    // connection would checkpoint by itself).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = steps_in_file_alone(&path, &job.to_string()).await;
        if seen == Some(100) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(100), "the database file holds every committed step (read without its log)");
    drop(engine);
}
