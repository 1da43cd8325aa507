//! `dongbo run` from the terminal: a pull against the simulator to completion, a pipeline whose
//! children run on the command's own worker, a detached request, and bad input refused with a
//! clear message.

use std::process::Command;

use dongbo_simulator::{SimConfig, Simulator};
use serde_json::Value;

async fn dongbo_run(env: &[(String, String)], db: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dongbo"));
    cmd.arg("run").args(args).args(["--db", db]).envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run dongbo")).await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_run_from_the_terminal_completes_with_every_customer_of_the_store() {
    let config = SimConfig { customers: 700, products: 50, ..SimConfig::default() };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.unwrap();
    let db = dongbo_tests::sqlite_db();
    let (ok, out, err) =
        dongbo_run(&sim.env(), &db.url, &["PULL_NHANH_CUSTOMERS", "--input", r#"{"mode":"full"}"#]).await;
    assert!(ok, "{err}");
    let row: Value = serde_json::from_str(&out).expect("the job as JSON");
    assert_eq!(row["status"], "COMPLETED");
    assert_eq!(row["processed"], sim.truth().nhanh_customers as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_run_only_requests_and_bad_input_is_refused_with_its_reason() {
    let sim = Simulator::start(
        SimConfig { customers: 10, products: 10, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let db = dongbo_tests::sqlite_db();
    let (ok, out, err) = dongbo_run(&sim.env(), &db.url, &["PULL_NHANH_PRODUCTS", "--detach"]).await;
    assert!(ok, "{err}");
    let id: dongbo_engine::JobId = out.trim().parse().expect("a job id");
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    assert_eq!(store.job(id).await.unwrap().unwrap().status, dongbo_engine::JobStatus::Pending);

    let (ok, _, err) =
        dongbo_run(&sim.env(), &db.url, &["PULL_NHANH_CUSTOMERS", "--input", r#"{"mode":"sideways"}"#]).await;
    assert!(!ok && err.contains("invalid input for PULL_NHANH_CUSTOMERS"), "{err}");
    let (ok, _, err) = dongbo_run(&sim.env(), &db.url, &["NOT_A_JOB"]).await;
    assert!(!ok && err.contains("unknown job type `NOT_A_JOB`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_run_from_the_terminal_runs_its_children_on_the_one_worker_it_starts() {
    let sim = Simulator::start(
        SimConfig { customers: 30, products: 10, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let db = dongbo_tests::sqlite_db();
    let input = r#"{"recheckSecs": 1, "stages": [
        {"name": "pull", "jobs": [{"type": "PULL_NHANH_CUSTOMERS", "input": {"mode": "full"}}]},
        {"name": "count", "jobs": [{"type": "EXAMPLE_COUNT", "input": {"items": 3}}]}
    ]}"#;
    let (ok, out, err) = dongbo_run(&sim.env(), &db.url, &["PIPELINE", "--input", input]).await;
    assert!(ok, "{err}");
    let row: Value = serde_json::from_str(&out).expect("the job as JSON");
    assert_eq!(row["status"], "COMPLETED", "{row}");
    assert_eq!((row["total"].as_i64(), row["processed"].as_i64()), (Some(2), Some(2)));
    assert_eq!(row["attempts"], 1, "waiting for its children is not an attempt");

    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let jobs = store.list_jobs(&dongbo_engine::JobFilter { limit: 10, ..Default::default() }).await.unwrap();
    let mut children: Vec<(String, dongbo_engine::JobStatus, i64)> =
        jobs.iter().filter(|j| j.job_type != "PIPELINE").map(|j| (j.job_type.clone(), j.status, j.processed)).collect();
    children.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        children,
        vec![
            ("EXAMPLE_COUNT".to_owned(), dongbo_engine::JobStatus::Completed, 3),
            (
                "PULL_NHANH_CUSTOMERS".to_owned(),
                dongbo_engine::JobStatus::Completed,
                sim.truth().nhanh_customers as i64
            ),
        ]
    );
}

/// A pipeline's stages look at their children only every `recheckSecs` (here an hour), but each
/// child that ends wakes its parent at once (`schedules::wake_parents`, installed by `dongbo run`
/// as by `serve` and `worker`): three stages finish in seconds. Without the wake the command
/// would still be waiting when the test gives up on it (and kills it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_is_woken_by_its_children_not_by_its_hourly_look() {
    let db = dongbo_tests::sqlite_db();
    let input = r#"{"recheckSecs": 3600, "stages": [
        {"name": "one", "jobs": [{"type": "EXAMPLE_COUNT", "input": {"items": 2}}]},
        {"name": "two", "jobs": [{"type": "EXAMPLE_COUNT", "input": {"items": 3}}, {"type": "EXAMPLE_COUNT", "input": {"items": 4}}]},
        {"name": "three", "jobs": [{"type": "EXAMPLE_COUNT", "input": {"items": 5}}]}
    ]}"#;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dongbo"));
    cmd.args(["run", "PIPELINE", "--input", input, "--db", &db.url]).kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("the pipeline still waited after 120 s: its children did not wake it")
        .expect("run dongbo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let row: Value = serde_json::from_slice(&out.stdout).expect("the job as JSON");
    assert_eq!(row["status"], "COMPLETED", "{row}");
    assert_eq!((row["total"].as_i64(), row["processed"].as_i64()), (Some(4), Some(4)), "{row}");
}
