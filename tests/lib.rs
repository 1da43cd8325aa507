//! The harness the test suites share: a fresh database per test on either backend, the path of
//! the `dongbo` binary, waiting for a condition with a deadline (never a bare sleep), and one test
//! per backend for each case of a file (`on_both_stores!`).
//!
//! PostgreSQL tests read the server from `DONGBO_TEST_PG_URL` (`.ci/run` starts one and sets it).
//! Without it they are skipped with a loud message — except under `CI=true`, where a missing
//! server is a failure, so CI can never pass by skipping them.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::Connection;

/// A database for one test, removed on drop: the SQLite file lives in a temporary directory, the
/// PostgreSQL database is dropped.
pub struct TestDb {
    /// The URL to open it with.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// The server's admin URL and the database's name, on PostgreSQL.
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else { return };
        // On a thread of its own: drop may run inside (or outside) the test's runtime. The test's
        // pools may still hold sessions; FORCE ends them. Failing only leaves the database behind.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("note: test database {} was left behind", self.url);
        }
    }
}

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A fresh database on `backend`, or `None` when PostgreSQL is not available outside CI.
pub async fn fresh_db(backend: Backend) -> Option<TestDb> {
    match backend {
        Backend::Sqlite => Some(sqlite_db()),
        Backend::Postgres => postgres_db().await,
    }
}

/// A fresh SQLite database file.
pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("dongbo.db").display());
    TestDb { url, _dir: Some(dir), pg: None }
}

/// A fresh PostgreSQL database on the server `DONGBO_TEST_PG_URL` names.
pub async fn postgres_db() -> Option<TestDb> {
    let Ok(admin) = std::env::var("DONGBO_TEST_PG_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but DONGBO_TEST_PG_URL is not set: the PostgreSQL suites must run in CI");
        }
        eprintln!("\n!!! SKIPPED a PostgreSQL test: DONGBO_TEST_PG_URL is not set (see .ci/postgres.sh) !!!\n");
        return None;
    };
    let name = format!("dongbo_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to DONGBO_TEST_PG_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(TestDb { url: format!("{base}/{name}"), _dir: None, pg: Some((admin.clone(), name)) })
}

/// The `dongbo` binary cargo built beside the running test, brought up to date once per test
/// process: `cargo test -p dongbo-tests` alone does not build other packages' binaries, and a
/// binary left from an older build would test old code.
///
/// It is brought up to date by `cargo test --workspace --no-run`, not `cargo build -p dongbo-api`:
/// the README's `cargo test --workspace` has built the binary already (the API's integration
/// tests need it), with the workspace's features, so this is a no-op there; `cargo build -p`
/// would resolve other features and rebuild sqlx, reqwest and their kin once per run.
pub fn dongbo_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let dir = exe.parent().and_then(|d| d.parent()).expect("target directory");
            let bin = dir.join(format!("dongbo{}", std::env::consts::EXE_SUFFIX));
            // Under cargo, CARGO names it; a test binary run by hand uses the binary beside it.
            if let Ok(cargo) = std::env::var("CARGO") {
                let mut build = std::process::Command::new(cargo);
                build.args(["test", "--quiet", "--workspace", "--no-run"]);
                if dir.ends_with("release") {
                    build.arg("--release");
                }
                let status = build.status().expect("run cargo test --no-run");
                assert!(status.success(), "building the dongbo binary failed");
            }
            assert!(bin.exists(), "no dongbo binary at {}", bin.display());
            bin
        })
        .clone()
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `deadline` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `dongbo worker --db URL` (one worker, 1.5 s leases) with `env` added to its
/// environment (the simulator's `NHANH_*`/`SHOPIFY_*`); its output is discarded.
pub fn spawn_worker(db_url: &str, env: &[(String, String)]) -> std::process::Child {
    std::process::Command::new(dongbo_bin())
        .args(["worker", "--db", db_url, "--workers", "1", "--lease-ms", "1500"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dongbo worker")
}

/// One `#[tokio::test]` per backend for each `case(backend)` of the calling test file, in modules
/// `sqlite` and `postgres`; after `multi_thread:`, on a runtime of two worker threads.
#[macro_export]
macro_rules! on_both_stores {
    (multi_thread: $($case:ident),* $(,)?) => {
        $crate::on_both_stores!(@each tokio::test(flavor = "multi_thread", worker_threads = 2); $($case),*);
    };
    (@each $test:meta; $($case:ident),*) => {
        mod sqlite {
            $(#[$test]
            async fn $case() {
                super::$case($crate::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[$test]
            async fn $case() {
                super::$case($crate::Backend::Postgres).await
            })*
        }
    };
    ($($case:ident),* $(,)?) => {
        $crate::on_both_stores!(@each tokio::test; $($case),*);
    };
}
