//! Scratch databases for one measurement: an SQLite file in a temporary directory (removed with
//! it), or a fresh `dongbo_bench_<uuid>` database on a PostgreSQL server (dropped, with any
//! connection still open to it, when the value is dropped).

use anyhow::Context;
use sqlx::Connection;

use super::BenchOpts;

/// Which store a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`, as row names carry it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database that lives as long as this value.
pub struct ScratchDb {
    url: String,
    kind: Kind,
}

enum Kind {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server: String, name: String },
}

impl ScratchDb {
    /// A fresh SQLite file in a new temporary directory.
    pub fn sqlite() -> anyhow::Result<ScratchDb> {
        let dir =
            tempfile::Builder::new().prefix("dongbo-bench-").tempdir().context("creating a temporary directory")?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        Ok(ScratchDb { url, kind: Kind::Sqlite(dir) })
    }

    /// A fresh database on the PostgreSQL server at `server_url`.
    pub async fn postgres(server_url: &str) -> anyhow::Result<ScratchDb> {
        let name = format!("dongbo_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(server_url).await.context("connecting to the PostgreSQL server")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating the scratch database {name}"))?;
        let _ = conn.close().await;
        let url = with_database(server_url, &name);
        Ok(ScratchDb { url, kind: Kind::Postgres { server: server_url.to_owned(), name } })
    }

    /// A fresh database on `backend` (PostgreSQL from `opts.pg_url`).
    pub async fn new(backend: Backend, opts: &BenchOpts) -> anyhow::Result<ScratchDb> {
        match backend {
            Backend::Sqlite => ScratchDb::sqlite(),
            Backend::Postgres => {
                let server = opts.pg_url.as_deref().context("PostgreSQL rows need a server URL (--pg)")?;
                ScratchDb::postgres(server).await
            }
        }
    }

    /// The URL to open it with.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let Kind::Postgres { server, name } = &self.kind else { return };
        // Drop may run inside the async runtime, which cannot be blocked on from within; a thread
        // with its own small runtime does the DROP and is waited for, so the database is gone
        // when the value is.
        let (server, name) = (server.clone(), name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
                conn.close().await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop the scratch database {}", self.kind_name());
        }
    }
}

impl ScratchDb {
    fn kind_name(&self) -> &str {
        match &self.kind {
            Kind::Sqlite(_) => "sqlite",
            Kind::Postgres { name, .. } => name,
        }
    }
}

/// `server_url` with its database path replaced by `name` (query parameters kept).
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_server_url_gets_the_scratch_database_in_place_of_its_own() {
        for (url, expect) in [
            ("postgres://postgres@127.0.0.1:54329/postgres", "postgres://postgres@127.0.0.1:54329/d"),
            ("postgres://u:p@h:5432", "postgres://u:p@h:5432/d"),
            ("postgres://h/db?sslmode=disable", "postgres://h/d?sslmode=disable"),
        ] {
            assert_eq!(with_database(url, "d"), expect, "{url}");
        }
    }
}
