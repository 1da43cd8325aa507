//! `engine`: empty steps per second through the engine against the raw single-row insert+commit
//! rate of the same database server, measured in the same run (issue 2: ratio ≥ 0.5), on SQLite
//! and PostgreSQL. Each figure gets its own scratch databases. The PostgreSQL row names the
//! server's durability; on a durable server a second row measures both with
//! `synchronous_commit` off (commits that wait for no flush, as on a server with `fsync` off),
//! where the cost of a step's own work shows rather than the disk's.

use std::time::Instant;

use anyhow::Context;
use async_trait::async_trait;
use dongbo_engine::{
    Engine, JobRequest, Progress, Registry, Step, StepContext, StepError, WorkerConfig, WorkerId, Workflow,
};
use serde_json::{json, Value};

use super::{backends, note, Backend, BenchOpts, Row, ScratchDb};

const TARGET: f64 = 0.5;

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

/// Rounds per figure: raw inserts and engine steps alternate, so that a change in the machine's
/// load or the disk's flush latency during the run weighs on both figures alike.
const ROUNDS: u32 = 8;

/// Runs the section.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>> {
    let n = opts.steps.unwrap_or(opts.size(2_000, 8_000)).max(ROUNDS);
    let per_round = n / ROUNDS;
    note("engine", &format!("{} empty steps per figure, in {ROUNDS} interleaved rounds", per_round * ROUNDS));
    let mut rows = Vec::new();
    for backend in backends(opts, "engine") {
        rows.push(figure(opts, backend, per_round, false).await?);
        if backend == Backend::Postgres {
            // The same server with commits that wait for no flush (`synchronous_commit` off on
            // both scratch databases), when it flushes them: where a step's own work shows.
            let durable = rows.last().is_some_and(|r| r.name.contains("durable"));
            if durable {
                rows.push(figure(opts, backend, per_round, true).await?);
            }
        }
    }
    Ok(rows)
}

/// One row: the engine's empty steps/s against the raw insert rate, on fresh scratch databases of
/// `backend` (with `synchronous_commit` off on both when `async_commit`).
async fn figure(opts: &BenchOpts, backend: Backend, per_round: u32, async_commit: bool) -> anyhow::Result<Row> {
    let (raw_db, engine_db) = (ScratchDb::new(backend, opts).await?, ScratchDb::new(backend, opts).await?);
    if async_commit {
        for db in [&raw_db, &engine_db] {
            no_commit_flush(db.url()).await?;
        }
    }
    let mut raw = Raw::open(raw_db.url()).await?;
    // Named in the row: the same code measures 0.3 against a server that flushes nothing and
    // 0.6-0.75 against one that flushes every commit (as production servers do).
    let durability = raw.durability().await?;
    let engine = empty_engine(engine_db.url()).await?;
    // One unmeasured round each: connections, prepared statements, the first claim.
    raw.insert(per_round).await?;
    engine_job(&engine, per_round).await?;
    let (mut raw_secs, mut engine_secs) = (0.0, 0.0);
    for _ in 0..ROUNDS {
        raw_secs += raw.insert(per_round).await?;
        engine_secs += engine_job(&engine, per_round).await?;
    }
    raw.close().await?;
    let steps = f64::from(per_round * ROUNDS);
    let name = match durability {
        Some(settings) => format!("engine empty steps/s ({}, {settings})", backend.name()),
        None => format!("engine empty steps/s ({})", backend.name()),
    };
    Ok(Row::at_least(name, steps / engine_secs, steps / raw_secs, TARGET))
}

/// Makes the PostgreSQL database at `url` commit without waiting for the disk (for the
/// connections opened after this).
async fn no_commit_flush(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await?;
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&mut c).await?;
    sqlx::query(&format!("ALTER DATABASE \"{name}\" SET synchronous_commit = off")).execute(&mut c).await?;
    c.close().await?;
    Ok(())
}

/// Single-row INSERT + commit per statement (autocommit) on one connection, the payload shaped
/// like a checkpoint.
enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

const PAYLOAD: &str = r#"{"v": 1, "step": "empty", "state": 1}"#;

impl Raw {
    async fn open(url: &str) -> anyhow::Result<Raw> {
        use sqlx::Connection;
        if url.starts_with("sqlite:") {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().context("sqlite URL")?;
            let opts = opts
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
            sqlx::query("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
                .execute(&mut c)
                .await?;
            Ok(Raw::Sqlite(c))
        } else {
            let mut c = sqlx::PgConnection::connect(url).await?;
            sqlx::query("CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, payload JSONB NOT NULL)")
                .execute(&mut c)
                .await?;
            Ok(Raw::Postgres(c))
        }
    }

    /// The durability both sides run with. PostgreSQL's settings: the baseline is a disk flush
    /// per commit on a durable server, and a bare round trip with `fsync` or `synchronous_commit`
    /// off.
    async fn durability(&mut self) -> anyhow::Result<Option<String>> {
        // Both sides run the engine's default: a write-ahead log flushed at checkpoints, not at
        // every commit (an application crash loses nothing, a power cut the last commits).
        let Raw::Postgres(c) = self else { return Ok(Some("WAL, synchronous NORMAL".to_owned())) };
        let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut *c).await?;
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut *c).await?;
        let durable = fsync == "on" && sync != "off";
        Ok(Some(if durable { "durable".to_owned() } else { format!("fsync {fsync}, synchronous_commit {sync}") }))
    }

    /// Inserts `n` rows, one commit each; seconds taken.
    async fn insert(&mut self, n: u32) -> anyhow::Result<f64> {
        let start = Instant::now();
        for _ in 0..n {
            match self {
                Raw::Sqlite(c) => {
                    sqlx::query("INSERT INTO bench_raw (payload) VALUES (?)").bind(PAYLOAD).execute(&mut *c).await?;
                }
                Raw::Postgres(c) => {
                    sqlx::query("INSERT INTO bench_raw (payload) VALUES ($1::jsonb)")
                        .bind(PAYLOAD)
                        .execute(&mut *c)
                        .await?;
                }
            }
        }
        Ok(start.elapsed().as_secs_f64())
    }

    async fn close(self) -> anyhow::Result<()> {
        use sqlx::Connection;
        match self {
            Raw::Sqlite(c) => c.close().await?,
            Raw::Postgres(c) => c.close().await?,
        }
        Ok(())
    }
}

/// An engine on `url` that runs the empty workflow.
async fn empty_engine(url: &str) -> anyhow::Result<Engine> {
    let store = dongbo_workflows::open(url).await?;
    let mut registry = Registry::new();
    registry.register(Empty);
    Ok(Engine::new(store, registry))
}

/// One job of `n` empty steps worked by one worker, from its first claim to its last commit;
/// seconds taken.
async fn engine_job(engine: &Engine, n: u32) -> anyhow::Result<f64> {
    engine.request(JobRequest::new("BENCH_EMPTY", json!(n))).await?;
    let worker = engine.worker(WorkerConfig::new(WorkerId::new("bench")));
    let start = Instant::now();
    while worker.run_once().await?.is_some() {}
    Ok(start.elapsed().as_secs_f64())
}
