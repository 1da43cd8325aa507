//! `dongbo worker` child processes: the command line every one is started with, and a job
//! worked by one that is killed with SIGKILL mid-job — what `dongbo demo` shows, the bench's
//! `resume` and `matching` sections measure, and the chaos fleet does at random.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use dongbo_engine::{BackgroundJob, JobId, JobStatus, SharedStore};
use rustix::process::{kill_process, Pid, Signal};

/// `dongbo worker --db DB --workers 1 --lease-ms LEASE` with `env` added to its environment
/// (the upstreams' `NHANH_*`/`SHOPIFY_*`), no input and its output discarded; the caller
/// decides where its log goes.
pub fn worker_command(dongbo_bin: &Path, db: &str, env: &[(String, String)], lease: Duration) -> Command {
    let mut c = Command::new(dongbo_bin);
    c.args(["worker", "--db", db, "--workers", "1", "--lease-ms", &lease.as_millis().to_string()])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// A running `dongbo worker` process (killed if dropped).
pub struct WorkerProcess {
    child: tokio::process::Child,
    pid: u32,
}

impl WorkerProcess {
    /// Starts [`worker_command`] with its log discarded.
    pub fn spawn(dongbo_bin: &Path, db: &str, env: &[(String, String)], lease: Duration) -> anyhow::Result<Self> {
        let mut command = worker_command(dongbo_bin, db, env, lease);
        command.stderr(Stdio::null());
        let child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting a worker process ({})", dongbo_bin.display()))?;
        let pid = child.id().unwrap_or(0);
        Ok(WorkerProcess { child, pid })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` to the process; a process already gone is not an error here (the caller
    /// learns of its exit from `try_wait`).
    fn signal(&self, signal: Signal) {
        if let Some(pid) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, signal);
        }
    }

    /// Polls job `job` every 10 ms until `due` says so of its row, then kills the process with
    /// SIGKILL and waits for it to be gone. Returns the job's row at the kill. An error if the job
    /// finishes first or the process exits on its own.
    ///
    /// Each row is read while the process is stopped (SIGSTOP, then SIGCONT unless it is killed):
    /// it commits nothing between the read that decides and the kill, so the kill lands at
    /// exactly the state `due` saw — never after a fast job's last commit.
    pub async fn kill_when(
        mut self,
        store: &SharedStore,
        job: JobId,
        mut due: impl FnMut(&BackgroundJob) -> bool,
    ) -> anyhow::Result<BackgroundJob> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the worker process exited early with {status}");
            }
            // Left stopped on an error: `self` is dropped with it, which kills the process.
            self.signal(Signal::STOP);
            let row = store.job(job).await?.context("the job vanished")?;
            if due(&row) {
                break;
            }
            if row.status.is_finished() {
                bail!("{} finished before the kill ({})", row.job_type, row.status);
            }
            self.signal(Signal::CONT);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.child.start_kill().context("killing the worker process")?;
        self.child.wait().await?;
        store.job(job).await?.context("the job vanished")
    }

    /// Waits for job `job` to finish, reading the process's peak resident set (`VmHWM`) at every
    /// poll, then kills the process. `VmHWM` only grows, so the last reading, taken once the job
    /// has finished and before the kill, is its peak over the process's whole life. Returns the
    /// job's row and that peak in MB; an error if the job did not complete or `/proc` could not be
    /// read.
    pub async fn peak_mb_until_completed(
        self,
        store: &SharedStore,
        job: JobId,
    ) -> anyhow::Result<(BackgroundJob, f64)> {
        let pid = self.pid;
        let mut peak_kb = None;
        let row = self
            .kill_when(store, job, |row| {
                peak_kb = vm_hwm_kb(pid).or(peak_kb);
                row.status.is_finished()
            })
            .await?;
        anyhow::ensure!(row.status == JobStatus::Completed, "{} ended {}: {:?}", row.job_type, row.status, row.error);
        let kb = peak_kb.context("could not read the worker's VmHWM")?;
        Ok((row, kb as f64 / 1024.0))
    }
}

/// `VmHWM` (the peak resident set) of process `pid`, in kB.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()
}

/// Whether `row` has processed at least `fraction` of its total (known once its first step ran).
pub fn past(row: &BackgroundJob, fraction: f64) -> bool {
    row.total.is_some_and(|t| row.processed >= ((t as f64 * fraction) as i64).max(1))
}
