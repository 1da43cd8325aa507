//! Outgoing notifications against a real receiving HTTP server that checks every signature: a
//! job that fails is notified (the receiver answers 500 first, then 200: the retry is shown), the
//! same job completing after its resume is notified as recovered, the Nhanh token's expiry
//! notice is notified once, and a notifier started afresh on the same database (a restart)
//! sends nothing twice and loses nothing queued.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use dongbo_engine::{
    Engine, JobRequest, JobStatus, Registry, SharedStore, Step, StepContext, StepError, SystemClock, WorkerConfig,
    WorkerId, Workflow,
};
use dongbo_tests::{fresh_db, wait_for, Backend};
use dongbo_workflows::catalog::store::console::outbox_entries;
use dongbo_workflows::notices::{NoticeLevel, Notices};
use dongbo_workflows::notify::sign::verify;
use dongbo_workflows::notify::{Notifier, NotifyConfig};
use serde_json::{json, Value};

const SECRET: &str = "s3cret-for-the-test";

/// A job that fails permanently while `FAIL` is set and completes otherwise.
struct Flaky(Arc<AtomicBool>);

#[async_trait]
impl Workflow for Flaky {
    type Input = Value;
    type State = u32;

    fn job_type(&self) -> &'static str {
        "FLAKY"
    }

    fn initial_state(&self, _input: &Value) -> u32 {
        0
    }

    async fn step(&self, _ctx: &StepContext, _input: &Value, _state: u32) -> Result<Step<u32>, StepError> {
        if self.0.load(Ordering::SeqCst) {
            Err(StepError::Permanent { message: "Shopify refused the token".into() })
        } else {
            Ok(Step::complete("done", json!({})))
        }
    }
}

/// What the receiver saw: verified bodies, and how many requests it refused.
#[derive(Default)]
struct Receiver {
    bodies: Mutex<Vec<Value>>,
    requests: AtomicUsize,
    bad_signatures: AtomicUsize,
}

/// Verifies the signature, answers 500 to the very first request and 200 afterwards.
async fn receive(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = rx.requests.fetch_add(1, Ordering::SeqCst);
    let ts: i64 =
        headers.get("x-dongbo-timestamp").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    let sig = headers.get("x-dongbo-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !verify(SECRET.as_bytes(), ts, &body, sig) || (Utc::now().timestamp() - ts).abs() > 300 {
        rx.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if n == 0 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    rx.bodies.lock().unwrap().push(serde_json::from_slice(&body).expect("JSON body"));
    StatusCode::OK
}

/// Waits until an event of `event_type` is in the past by the notifier's reckoning: a scan reads
/// events recorded before its `now` (milliseconds on SQLite), so a scan in the very millisecond of
/// the event finds it only on the next pass.
async fn readable(store: &SharedStore, event_type: &str) {
    wait_for("the event to be in the past", Duration::from_secs(5), || async {
        let seen = store.events_by_type(Some(event_type), DateTime::UNIX_EPOCH, Utc::now(), 0, 1).await.unwrap();
        (!seen.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn failures_recoveries_and_token_expiry_are_notified_signed_retried_and_once_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh_db(backend).await else { continue };
        let store = dongbo_workflows::open(&db.url).await.expect("open");
        let fail = Arc::new(AtomicBool::new(true));
        let mut registry = Registry::new();
        registry.register(Flaky(fail.clone()));
        let engine = Engine::new(store.clone(), registry);

        let rx = Arc::new(Receiver::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new().route("/hook", post(receive)).with_state(rx.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let mut config = NotifyConfig::from_parts(Some(&url), Some(SECRET)).unwrap().unwrap();
        config.first_delay = Duration::from_millis(200);
        config.settle = Duration::ZERO;
        let notices = Notices::new();
        let notifier = |n: &Notices| Notifier::new(config.clone(), store.clone(), n.clone(), Arc::new(SystemClock));
        let first = notifier(&notices);
        first.scan().await.unwrap(); // starts reading the log here: older jobs are history

        let id = engine.request(JobRequest::new("FLAKY", json!({}))).await.unwrap().job.id;
        let worker = engine.worker(WorkerConfig::new(WorkerId::new("notify-test")));
        worker.run_once().await.unwrap();
        assert_eq!(store.job(id).await.unwrap().unwrap().status, JobStatus::Failed);
        readable(&store, "JobFailed").await;

        // The first attempt gets 500 and is retried after its backoff; the second is delivered.
        assert_eq!(first.pass().await.unwrap(), 0, "{backend:?}: the receiver refused the first attempt");
        let entry = outbox_entries(&store.db(), 10).await.unwrap().remove(0);
        assert_eq!((entry.event.as_str(), entry.attempts, entry.delivered_at), ("job.failed", 1, None));
        assert_eq!(entry.last_error.as_deref(), Some("the receiver answered 500 Internal Server Error"));
        wait_for("the retry to be delivered", Duration::from_secs(20), || async {
            (first.pass().await.unwrap() == 1).then_some(())
        })
        .await;
        let failed = rx.bodies.lock().unwrap()[0].clone();
        assert_eq!(failed["event"], "job.failed");
        assert_eq!(failed["job"]["id"], id.to_string());
        assert_eq!(failed["job"]["status"], "FAILED");
        assert_eq!(failed["job"]["error"], "Shopify refused the token");
        assert!(failed["text"].as_str().unwrap().contains("FLAKY job"), "{failed}");
        assert_eq!(outbox_entries(&store.db(), 10).await.unwrap()[0].attempts, 2);

        // Resumed, it completes: notified as recovered. A second notifier (a restarted process)
        // on the same database queues the same events once.
        fail.store(false, Ordering::SeqCst);
        engine.resume(id, "test", Some("token renewed")).await.unwrap();
        worker.run_once().await.unwrap();
        assert_eq!(store.job(id).await.unwrap().unwrap().status, JobStatus::Completed);
        readable(&store, "JobCompleted").await;
        let restarted = notifier(&notices);
        assert_eq!(restarted.scan().await.unwrap(), 1, "{backend:?}: only the recovery is new");
        assert_eq!(first.scan().await.unwrap(), 0, "{backend:?}: queued once across processes");
        assert_eq!(restarted.send_due().await.unwrap(), 1);

        // The token notice: once per text, whichever process raises it.
        notices.raise(
            dongbo_workflows::nhanh_token::NOTICE,
            NoticeLevel::Warning,
            "the Nhanh token expires in 12 days",
            Utc::now(),
        );
        assert_eq!(restarted.pass().await.unwrap(), 1);
        assert_eq!(first.pass().await.unwrap(), 0, "{backend:?}: the same notice is not sent twice");

        let bodies = rx.bodies.lock().unwrap().clone();
        let events: Vec<&str> = bodies.iter().map(|b| b["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["job.failed", "job.recovered", "token.expiring"], "{backend:?}");
        assert_eq!(bodies[1]["job"]["resumedFrom"], "FAILED");
        assert_eq!(bodies[2]["notice"]["level"], "warning");
        assert_eq!(bodies[2]["notice"]["message"], "the Nhanh token expires in 12 days");
        assert_eq!(rx.bad_signatures.load(Ordering::SeqCst), 0);
        assert_eq!(rx.requests.load(Ordering::SeqCst), 4, "{backend:?}: one retry, nothing sent twice");
        server.abort();
    }
}
