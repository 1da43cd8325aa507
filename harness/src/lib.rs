//! dongbo-harness: the harnesses that measure and shake the product, kept out of its library.
//!
//! It owns no product behaviour: it drives the engine, the workflows and the simulator as a user
//! would, and starts `dongbo worker` processes from the binary whose path it is given. It depends
//! on no `dongbo-api` code (the binary depends on it, for `dongbo bench`), so the API crate stays
//! HTTP, CLI and dashboard.
//!
//! # Layout
//!
//! - [`bench`]: `dongbo bench`, every benchmark against a baseline measured in the same run.
//! - [`chaos`]: the chaos suite: the whole pipeline under kills, a database restart and upstream
//!   faults, compared with an undisturbed run (`tests/chaos.rs`, `dongbo bench chaos`).
//! - [`worker_process`]: `dongbo worker` child processes, started and killed with SIGKILL (also
//!   what `dongbo demo` shows).

#![forbid(unsafe_code)]

use dongbo_engine::example::ExampleCount;
use dongbo_engine::Registry;
use dongbo_workflows::Upstreams;

pub mod bench;
pub mod chaos;
pub mod worker_process;

/// The job types the harnesses request and run in process, with `upstreams`: the same as the
/// `dongbo worker` processes they start (the binary's registry), the engine's example included
/// (the `bulk_rss` bench's floor).
fn registry(upstreams: &Upstreams) -> Registry {
    let mut r = Registry::new();
    r.register(ExampleCount);
    dongbo_workflows::register_all(&mut r, upstreams);
    r
}

/// [`registry`] plus the job types that request child jobs on `store` (RECONCILE, PIPELINE),
/// registered as `dongbo serve` and `dongbo worker` register them.
fn registry_on(store: &dongbo_engine::SharedStore, upstreams: &Upstreams) -> Registry {
    let mut r = registry(upstreams);
    dongbo_workflows::schedules::register(&mut r, store, upstreams);
    r
}
