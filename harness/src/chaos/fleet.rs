//! The worker processes of a chaos run: `dongbo worker --db URL --workers 1` each, started with
//! the simulator's environment, killed with SIGKILL and started again on demand, and every one of
//! them killed when the fleet is dropped.
//!
//! Each process gets `HOSTNAME=chaos-w<slot>`, the prefix of its worker id
//! (`chaos-w<slot>-<pid>-<suffix>`, see `WorkerId::generate`), so the lease holder a job's
//! `JobClaimed` names can be traced back to the process holding it.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::worker_process::worker_command;

/// One worker process slot.
struct Slot {
    child: Child,
    starts: usize,
}

/// The worker processes of one run.
pub(crate) struct Fleet {
    bin: PathBuf,
    db_url: String,
    env: Vec<(String, String)>,
    lease: Duration,
    log_dir: Option<PathBuf>,
    slots: Vec<Slot>,
    /// Processes that exited by themselves (e.g. started while PostgreSQL was down) and were
    /// started again.
    pub(crate) unexpected_exits: usize,
}

impl Fleet {
    /// Starts `n` worker processes.
    pub(crate) fn start(
        bin: PathBuf,
        db_url: &str,
        env: Vec<(String, String)>,
        lease: Duration,
        log_dir: Option<PathBuf>,
        n: usize,
    ) -> anyhow::Result<Fleet> {
        let mut fleet =
            Fleet { bin, db_url: db_url.to_owned(), env, lease, log_dir, slots: Vec::new(), unexpected_exits: 0 };
        for slot in 0..n {
            let child = fleet.spawn(slot)?;
            fleet.slots.push(Slot { child, starts: 1 });
        }
        Ok(fleet)
    }

    fn spawn(&self, slot: usize) -> anyhow::Result<Child> {
        let stderr = match &self.log_dir {
            Some(dir) => {
                let path = dir.join(format!("worker-{slot}.log"));
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("opening {}", path.display()))?;
                Stdio::from(file)
            }
            None => Stdio::null(),
        };
        worker_command(&self.bin, &self.db_url, &self.env, self.lease)
            .env("HOSTNAME", format!("chaos-w{slot}"))
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} worker", self.bin.display()))
    }

    /// How many slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slot whose live process holds the lease `worker_id` names, if any.
    pub(crate) fn slot_of(&self, worker_id: &str) -> Option<usize> {
        let mut parts = worker_id.rsplitn(3, '-');
        let (_suffix, pid) = (parts.next()?, parts.next()?.parse::<u32>().ok()?);
        self.slots.iter().position(|s| s.child.id() == pid)
    }

    /// SIGKILLs the process in `slot`, waits for it, and starts a new one there.
    pub(crate) fn kill_and_restart(&mut self, slot: usize) -> anyhow::Result<u32> {
        let killed = self.slots[slot].child.id();
        // `Child::kill` is SIGKILL on Unix: no shutdown hook, no lease release.
        let _ = self.slots[slot].child.kill();
        let _ = self.slots[slot].child.wait();
        self.slots[slot].child = self.spawn(slot)?;
        self.slots[slot].starts += 1;
        Ok(killed)
    }

    /// Starts again any process that exited by itself; returns how many did.
    pub(crate) fn revive(&mut self) -> anyhow::Result<usize> {
        let mut revived = 0;
        for slot in 0..self.slots.len() {
            if matches!(self.slots[slot].child.try_wait(), Ok(Some(_))) {
                self.slots[slot].child = self.spawn(slot)?;
                self.slots[slot].starts += 1;
                revived += 1;
            }
        }
        self.unexpected_exits += revived;
        Ok(revived)
    }

    /// Process starts over the run, first ones included.
    pub(crate) fn starts(&self) -> usize {
        self.slots.iter().map(|s| s.starts).sum()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for s in &mut self.slots {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}
