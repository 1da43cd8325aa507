//! `dongbo jobs …` against a real server over TCP.

use std::process::Command;
use std::time::Duration;

use dongbo_api::http::{serve, AppState};
use dongbo_engine::example::{ExampleCount, EXAMPLE_COUNT};
use dongbo_engine::{Engine, JobRequest, Registry, WorkerConfig, WorkerId};
use serde_json::json;

struct Server {
    url: String,
    engine: Engine,
    _db: dongbo_tests::TestDb,
}

async fn spawn_server(token: Option<&str>) -> Server {
    let db = dongbo_tests::sqlite_db();
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let mut registry = Registry::new();
    registry.register(ExampleCount);
    let engine = Engine::new(store, registry);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(engine.clone(), token.map(str::to_owned));
    tokio::spawn(serve(listener, state, std::future::pending()));
    Server { url, engine, _db: db }
}

/// Runs `dongbo jobs --server URL [--token T] ARGS…` off the async runtime.
async fn dongbo(url: &str, token: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dongbo"));
    cmd.args(["jobs", "--server", url]);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    cmd.args(args).env_remove("DONGBO_API_TOKEN");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run dongbo jobs")).await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_watch_follows_a_running_job_to_completion_and_list_and_events_show_it() {
    let server = spawn_server(Some("s3cret")).await;
    let input = json!({"items": 60, "batch": 10, "stepMillis": 50});
    let job = server.engine.request(JobRequest::new(EXAMPLE_COUNT, input)).await.unwrap().job.id.to_string();
    let worker = server.engine.worker(WorkerConfig::new(WorkerId::new("w")));
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(async move { worker.run().await });

    let (watch_ok, watch_out, watch_err) = dongbo(&server.url, Some("s3cret"), &["watch", &job]).await;
    assert!(watch_ok, "watch failed: {watch_err}");
    assert!(watch_out.contains(&format!("{job}: COMPLETED (60 processed, 0 failed)")), "{watch_out}");
    stop.shutdown();
    tokio::time::timeout(Duration::from_secs(10), running).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_show_events_and_cancel_speak_to_the_api_and_a_wrong_token_is_refused() {
    let server = spawn_server(Some("s3cret")).await;
    let job =
        server.engine.request(JobRequest::new(EXAMPLE_COUNT, json!({"items": 5}))).await.unwrap().job.id.to_string();
    let (ok, out, _) = dongbo(&server.url, Some("s3cret"), &["list"]).await;
    assert!(ok && out.contains(&job) && out.contains("PENDING"), "{out}");
    let (ok, out, _) = dongbo(&server.url, Some("s3cret"), &["show", &job]).await;
    assert!(ok && out.contains("\"type\": \"EXAMPLE_COUNT\""), "{out}");
    let (ok, out, _) = dongbo(&server.url, Some("s3cret"), &["events", &job]).await;
    assert!(ok && out.contains("JobRequested"), "{out}");
    let (ok, out, _) = dongbo(&server.url, Some("s3cret"), &["cancel", &job]).await;
    assert!(ok && out.contains("CANCELLED"), "{out}");
    let (ok, _, err) = dongbo(&server.url, Some("wrong"), &["list"]).await;
    assert!(!ok && err.contains("401"), "{err}");
}
