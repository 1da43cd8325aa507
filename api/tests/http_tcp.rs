//! The HTTP API over real TCP: the token, live progress as server-sent events, and a graceful
//! shutdown with a stream open.

mod http_support;

use std::time::{Duration, Instant};

use dongbo_engine::{JobStatus, WorkerConfig, WorkerId};
use http_support::*;
use serde_json::{json, Value};

const TOKEN: &str = "tcp-token-9f3e";

/// Reads server-sent events from a streaming response.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

/// One event: its name and its data.
#[derive(Debug)]
struct SseEvent {
    name: String,
    data: String,
}

impl SseReader {
    fn new(response: reqwest::Response) -> Self {
        SseReader { response, buffer: String::new() }
    }

    /// The next event, or `None` when the stream ended. Comments (keep-alives) are skipped.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.trim_start().to_owned());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some(SseEvent { name, data: data.join("\n") });
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

#[tokio::test]
async fn over_tcp_an_api_request_needs_the_token_and_health_does_not() {
    let app = app(Some(TOKEN)).await;
    let server = spawn_server(app.state.clone()).await;
    let client = reqwest::Client::new();
    let jobs = format!("{}/api/jobs", server.base);

    let denied = client.get(&jobs).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.headers()["www-authenticate"], "Bearer");
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["success"], json!(false));
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));

    let wrong = client.get(&jobs).bearer_auth("tcp-token-9f3f").send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let triggered = client
        .post(format!("{}/api/sync/auto-match-batch", server.base))
        .bearer_auth(TOKEN)
        .json(&json!({"dryRun": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(triggered.status(), 202);
    let body: Value = triggered.json().await.unwrap();
    assert_eq!(body["data"]["type"], json!("AUTO_MATCH_CUSTOMERS"));

    let listed: Value = client.get(&jobs).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["data"]["items"][0]["id"], body["data"]["jobId"]);

    let health = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let _ = server.stop.send(());
}

#[tokio::test]
async fn over_tcp_an_oversized_body_is_a_413_in_the_envelope() {
    let app = app(None).await;
    let server = spawn_server(app.state.clone()).await;
    let body = format!("{{\"dryRun\": true, \"pad\": \"{}\"}}", "x".repeat((1 << 20) + 10));
    let answer = reqwest::Client::new()
        .post(format!("{}/api/sync/auto-match", server.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["success"], json!(false));
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_delivers_each_committed_step_in_order_within_a_second() {
    const ITEMS: i64 = 6;
    let app = app(None).await;
    let server = spawn_server(app.state.clone()).await;
    let store = app.engine.store().clone();
    let id = app
        .engine
        .request(dongbo_engine::JobRequest::new(
            "EXAMPLE_COUNT",
            json!({"items": ITEMS, "batch": 1, "stepMillis": 150}),
        ))
        .await
        .unwrap()
        .job
        .id;

    // When each commit happened: the store announces a job's growth right after it commits.
    let mut notices = store.subscribe();
    let commits = tokio::spawn({
        let store = store.clone();
        async move {
            let mut seen: Vec<(i64, Instant)> = Vec::new();
            loop {
                let Ok(n) = notices.recv().await else { return seen };
                let at = Instant::now();
                if n.job_id != id {
                    continue;
                }
                let job = store.job(id).await.unwrap().unwrap();
                if seen.last().map_or(0, |(p, _)| *p) < job.processed {
                    seen.push((job.processed, at));
                }
                if job.status.is_finished() {
                    return seen;
                }
            }
        }
    });

    let response = reqwest::Client::new().get(format!("{}/api/jobs/{id}/stream", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut stream = SseReader::new(response);
    let first = within(5, "the current row", stream.next()).await.expect("a first event");
    assert_eq!(first.name, "progress");
    let first: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(first["status"], json!("PENDING"));
    assert_eq!(first["id"], json!(id.to_string()));

    // Only now does a worker start, so every step is committed while the stream is open.
    let worker = app.engine.worker(WorkerConfig::new(WorkerId::new("sse-worker")));
    let stop_worker = worker.shutdown_handle();
    let worker_task = tokio::spawn(async move { worker.run().await });

    let mut received: Vec<(i64, String, Instant)> = Vec::new();
    let ended = within(30, "the stream to deliver the whole job", async {
        while let Some(event) = stream.next().await {
            if event.name == "end" {
                return Some(event);
            }
            assert_eq!(event.name, "progress", "{event:?}");
            let row: Value = serde_json::from_str(&event.data).unwrap();
            let processed = row["processed"].as_i64().unwrap();
            received.push((processed, row["status"].as_str().unwrap().to_owned(), Instant::now()));
        }
        None
    })
    .await;
    let ended = ended.expect("an `end` event after the terminal row");
    assert!(ended.data.contains("COMPLETED"), "{ended:?}");
    assert!(within(5, "the stream to close", stream.next()).await.is_none(), "nothing after `end`");

    let processed: Vec<i64> = received.iter().map(|(p, _, _)| *p).collect();
    assert!(processed.windows(2).all(|w| w[0] <= w[1]), "progress goes backwards: {processed:?}");
    let (last, status, _) = received.last().expect("progress events");
    assert_eq!((*last, status.as_str()), (ITEMS, JobStatus::Completed.as_str()));

    let commits = within(5, "the commit log", commits).await.unwrap();
    assert_eq!(commits.last().map(|(p, _)| *p), Some(ITEMS), "{commits:?}");
    for (count, committed_at) in &commits {
        let (_, _, arrived) = received
            .iter()
            .find(|(p, _, _)| p >= count)
            .unwrap_or_else(|| panic!("no event showed processed ≥ {count}: {processed:?}"));
        let late = arrived.saturating_duration_since(*committed_at);
        assert!(late < Duration::from_secs(1), "processed = {count} arrived {late:?} after its commit");
    }
    assert!(received.len() as i64 >= ITEMS / 2, "most steps arrive as their own event: {processed:?}");

    stop_worker.shutdown();
    within(10, "the worker to stop", worker_task).await.unwrap();
    let _ = server.stop.send(());
}

#[tokio::test]
async fn a_graceful_shutdown_is_not_held_up_by_an_open_event_stream() {
    let app = app(None).await;
    let server = spawn_server(app.state.clone()).await;
    let id = trigger(&app.router, "/api/nhanh/pull-products", None).await;
    let response = reqwest::get(format!("{}/api/jobs/{id}/stream", server.base)).await.unwrap();
    let mut stream = SseReader::new(response);
    within(5, "the current row", stream.next()).await.expect("a first event");

    let _ = server.stop.send(());
    let served = within(10, "the server to stop", server.task).await.unwrap();
    assert!(served.is_ok(), "{served:?}");
    assert!(within(5, "the stream to end", stream.next()).await.is_none());
}
