//! Engine step overhead: empty steps per second through the engine against the raw single-row
//! insert+commit rate of the same database, measured in the same run. Target: ratio ≥ 0.5.
//!
//! `cargo bench -p dongbo-engine` (PostgreSQL from `DONGBO_TEST_PG_URL`; skipped without it).
//! `DONGBO_BENCH_STEPS` sets the number of steps (default 2,000).

use std::time::Instant;

use async_trait::async_trait;
use dongbo_engine::{
    Engine, JobRequest, Progress, Registry, Step, StepContext, StepError, WorkerConfig, WorkerId, Workflow,
};
use dongbo_tests::{fresh_db, Backend};
use serde_json::{json, Value};

/// A workflow whose steps do nothing but count down.
struct Empty;

#[async_trait]
impl Workflow for Empty {
    type Input = u32;
    type State = u32;

    fn job_type(&self) -> &'static str {
        "BENCH_EMPTY"
    }

    fn initial_state(&self, steps: &u32) -> u32 {
        *steps
    }

    async fn step(&self, _ctx: &StepContext, _input: &u32, left: u32) -> Result<Step<u32>, StepError> {
        let step = if left <= 1 { Step::complete("empty", Value::Null) } else { Step::next("empty", left - 1) };
        Ok(step.with_progress(Progress { processed: 1, successful: 1, ..Progress::default() }))
    }
}

/// Raw single-row insert+commit, one connection, `n` rows; seconds taken.
struct Raw {
    conn: RawConn,
    payload: String,
}

enum RawConn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Raw {
    async fn open(url: &str) -> Raw {
        use sqlx::Connection;
        let payload = json!({"v": 1, "step": "empty", "state": 1}).to_string();
        let conn = if url.starts_with("sqlite:") {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let opts = opts
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            sqlx::query("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
                .execute(&mut c)
                .await
                .unwrap();
            RawConn::Sqlite(c)
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, payload JSONB NOT NULL)")
                .execute(&mut c)
                .await
                .unwrap();
            RawConn::Postgres(c)
        };
        Raw { conn, payload }
    }

    async fn run(&mut self, n: u32) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            match &mut self.conn {
                RawConn::Sqlite(c) => {
                    sqlx::query("INSERT INTO bench_raw (payload) VALUES (?)")
                        .bind(&self.payload)
                        .execute(&mut *c)
                        .await
                        .unwrap();
                }
                RawConn::Postgres(c) => {
                    sqlx::query("INSERT INTO bench_raw (payload) VALUES ($1::jsonb)")
                        .bind(&self.payload)
                        .execute(&mut *c)
                        .await
                        .unwrap();
                }
            }
        }
        start.elapsed().as_secs_f64()
    }
}

/// One job of `n` empty steps through the engine; seconds taken.
async fn engine_job(engine: &Engine, n: u32) -> f64 {
    engine.request(JobRequest::new("BENCH_EMPTY", json!(n))).await.unwrap();
    let worker = engine.worker(WorkerConfig::new(WorkerId::new("bench")));
    let start = Instant::now();
    while worker.run_once().await.unwrap().is_some() {}
    start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let n: u32 = std::env::var("DONGBO_BENCH_STEPS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    println!("{:<34} {:>12} {:>12} {:>7} {:>7} {:>4}", "name", "measured", "baseline", "ratio", "target", "met");
    for (backend, name) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
        let (Some(a), Some(b)) = (fresh_db(backend).await, fresh_db(backend).await) else { continue };
        // Interleaved rounds, so that a change in the machine's load or the disk's flush latency
        // during the run weighs on both figures alike.
        let mut raw = Raw::open(&a.url).await;
        let store = dongbo_engine::open(&b.url).await.unwrap();
        let mut registry = Registry::new();
        registry.register(Empty);
        let engine_ = Engine::new(store, registry);
        let rounds = 8;
        let (mut raw_s, mut engine_s) = (0.0, 0.0);
        for _ in 0..rounds {
            raw_s += raw.run(n / rounds).await;
            engine_s += engine_job(&engine_, n / rounds).await;
        }
        let raw = f64::from(n) / raw_s;
        let engine = f64::from(n) / engine_s;
        let ratio = engine / raw;
        println!(
            "{:<34} {:>10.0}/s {:>10.0}/s {:>7.2} {:>7} {:>4}",
            format!("engine empty steps ({name})"),
            engine,
            raw,
            ratio,
            "≥0.50",
            if ratio >= 0.5 { "yes" } else { "no" }
        );
    }
}
