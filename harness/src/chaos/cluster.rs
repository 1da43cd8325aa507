//! Where the chaos suite keeps its databases: a scratch directory removed on drop, and a private
//! PostgreSQL cluster in it (its own `initdb`, its own free port), so restarting PostgreSQL
//! mid-run disturbs no other test or bench sharing the machine.
//!
//! The binaries come from `DONGBO_PG_BIN`, else `PATH`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's layout). PostgreSQL refuses to run as root, so when the
//! suite runs as root every PostgreSQL command runs as the `postgres` user through `su`, as
//! `.ci/postgres.sh` does.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::Command;

/// A directory under the system's temporary directory, removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub(crate) fn new() -> anyhow::Result<ScratchDir> {
        let path = std::env::temp_dir().join(format!("dongbo-chaos-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The directory holding `initdb`, `pg_ctl` and `createdb`, if this machine has one.
pub fn find_pg_bin() -> Option<PathBuf> {
    let complete = |d: &Path| ["initdb", "pg_ctl", "createdb"].iter().all(|b| d.join(b).is_file());
    if let Some(dir) = std::env::var_os("DONGBO_PG_BIN").map(PathBuf::from) {
        return complete(&dir).then_some(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| complete(d)) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A running private PostgreSQL cluster; stopped (immediately) and deleted on drop.
pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    // Declared last: dropped after the server is stopped in `Drop`.
    dir: ScratchDir,
}

impl PgCluster {
    /// `initdb` in a fresh scratch directory and start on a free loopback port.
    pub async fn start(bin: &Path) -> anyhow::Result<PgCluster> {
        let dir = ScratchDir::new()?;
        let as_postgres = running_as_root().await;
        if as_postgres {
            let status =
                Command::new("chown").arg("postgres:").arg(dir.path()).status().await.context("running chown")?;
            if !status.success() {
                bail!("cannot hand {} to the postgres user (is there one?)", dir.path().display());
            }
        }
        let cluster =
            PgCluster { bin: bin.to_owned(), data: dir.path().join("data"), port: free_port()?, as_postgres, dir };
        let data = cluster.data.display().to_string();
        cluster.pg("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"]).await?;
        // fsync off is safe here: the restart below kills the server, not the machine, so the
        // operating system keeps every write; synchronous_commit stays on so a commit the
        // workers saw is in the WAL the restarted server replays.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c full_page_writes=off",
            cluster.port,
            cluster.dir.path().display()
        );
        let log = cluster.dir.path().join("server.log").display().to_string();
        cluster.pg("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start"]).await?;
        Ok(cluster)
    }

    /// The URL of database `name` (the cluster's `postgres` database for "postgres").
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The cluster's data directory (where a test puts files the server must read, such as a
    /// TLS certificate, before turning on the settings that name them).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Whether the server runs as the `postgres` user (this process being root): files put in
    /// the data directory must then be handed to that user.
    pub fn runs_as_postgres(&self) -> bool {
        self.as_postgres
    }

    /// Creates database `name`.
    pub(crate) async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let port = self.port.to_string();
        self.pg("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name]).await
    }

    /// Kills the server as a crash would (`-m immediate`: no checkpoint, connections cut) and
    /// starts it again with the same options; returns once it accepts connections.
    pub(crate) async fn restart(&self) -> anyhow::Result<Duration> {
        let started = std::time::Instant::now();
        let data = self.data.display().to_string();
        // `restart` reuses the server's options but not its log file: name it again, or the
        // server would write to (and hold open) this command's output.
        let log = self.dir.path().join("server.log").display().to_string();
        self.pg("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "-m", "immediate", "restart"]).await?;
        Ok(started.elapsed())
    }

    async fn pg(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let line = std::iter::once(exe.display().to_string())
                .chain(args.iter().map(|a| a.to_string()))
                .map(|a| sh_quote(&a))
                .collect::<Vec<_>>()
                .join(" ");
            let mut c = Command::new("su");
            c.args(["postgres", "-s", "/bin/sh", "-c", &line]);
            c
        } else {
            let mut c = Command::new(&exe);
            c.args(args);
            c
        };
        // The command's output goes to a file, never a pipe: the server pg_ctl starts inherits
        // it and would hold a pipe open for as long as it runs.
        let out_path = self.dir.path().join(format!("{program}.out"));
        let out = std::fs::File::create(&out_path).with_context(|| format!("creating {}", out_path.display()))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {}", exe.display()))?;
        let status = match tokio::time::timeout(Duration::from_secs(120), child.wait()).await {
            Ok(status) => status?,
            Err(_) => bail!("{program} did not finish within 120 s"),
        };
        if !status.success() {
            let said = std::fs::read_to_string(&out_path).unwrap_or_default();
            bail!("{program} failed ({status}): {}", said.trim());
        }
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data.display().to_string();
        let mut cmd = if self.as_postgres {
            let line = format!("{} -D {} -m immediate stop", sh_quote(&pg_ctl.display().to_string()), sh_quote(&data));
            let mut c = std::process::Command::new("su");
            c.args(["postgres", "-s", "/bin/sh", "-c", &line]);
            c
        } else {
            let mut c = std::process::Command::new(pg_ctl);
            c.args(["-D", &data, "-m", "immediate", "stop"]);
            c
        };
        let _ = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

async fn running_as_root() -> bool {
    match Command::new("id").arg("-u").output().await {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim() == "0",
        Err(_) => false,
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `s` as one word for `sh -c`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn a_quoted_word_survives_spaces_and_quotes() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
