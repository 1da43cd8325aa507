//! Worker loops under supervision: a loop that dies (a panic outside a step, which the worker
//! does not catch) is started again after a short pause, and the number of live loops is kept
//! for the health check.
//!
//! A panic inside a step never gets here: the worker turns it into a failed step. What does is a
//! bug in the engine, a store or a step hook. The dead loop's heartbeat stops with it, so its
//! job's lease runs out and the job is claimed again (by the restarted loop or another worker).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::worker::{panic_message, ShutdownHandle, Worker, WorkerConfig};

/// How many worker loops a pool should have and how many are running now.
#[derive(Debug, Clone)]
pub struct WorkerHealth {
    configured: usize,
    live: Arc<AtomicUsize>,
    restarts: Arc<AtomicU64>,
}

impl WorkerHealth {
    /// Health for `configured` loops, none running yet (an API-only process passes 0).
    pub fn new(configured: usize) -> Self {
        WorkerHealth { configured, live: Arc::default(), restarts: Arc::default() }
    }

    /// The loops the process was configured with.
    pub fn configured(&self) -> usize {
        self.configured
    }

    /// The loops running now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// How many times a dead loop was started again.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// Whether fewer loops run than were configured.
    pub fn degraded(&self) -> bool {
        self.live() < self.configured
    }
}

/// Counts one live loop for as long as it exists; dropped when its task ends, panics or is
/// cancelled.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Alive(live.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Worker loops, each restarted when it dies, until [`WorkerPool::stop`].
pub struct WorkerPool {
    health: WorkerHealth,
    stops: Vec<ShutdownHandle>,
    supervisors: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts one supervised loop per config; a dead loop is started again after `restart_delay`.
    pub fn start(engine: &Engine, configs: Vec<WorkerConfig>, restart_delay: Duration) -> WorkerPool {
        let health = WorkerHealth::new(configs.len());
        let mut stops = Vec::new();
        let mut supervisors = Vec::new();
        for config in configs {
            let worker = Arc::new(engine.worker(config));
            stops.push(worker.shutdown_handle());
            supervisors.push(tokio::spawn(supervise(worker, health.clone(), restart_delay)));
        }
        WorkerPool { health, stops, supervisors }
    }

    /// A handle on the pool's live count.
    pub fn health(&self) -> WorkerHealth {
        self.health.clone()
    }

    /// Stops every loop after its current step (releasing its lease) and waits for them.
    pub async fn stop(self) {
        for s in &self.stops {
            s.shutdown();
        }
        for task in self.supervisors {
            let _ = task.await;
        }
    }
}

async fn supervise(worker: Arc<Worker>, health: WorkerHealth, restart_delay: Duration) {
    let mut shutdown = worker.shutdown_signal();
    loop {
        let alive = Alive::new(&health.live);
        let running = worker.clone();
        let ended = tokio::spawn(async move {
            let _alive = alive;
            running.run().await
        })
        .await;
        let error = match ended {
            // `run` returns only when asked to stop.
            Ok(()) => return,
            Err(e) if e.is_panic() => panic_message(e.into_panic().as_ref()),
            Err(e) => e.to_string(),
        };
        if worker.stopping() {
            return;
        }
        health.restarts.fetch_add(1, Ordering::SeqCst);
        tracing::error!(worker = %worker.id(), %error, ?restart_delay, "worker loop died; restarting it");
        tokio::select! {
            _ = tokio::time::sleep(restart_delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}
