//! dongbo-api: the HTTP API, the dashboard, and the `dongbo` binary's subcommands.
//!
//! This crate is the only one that knows HTTP and the command line. It wires the engine, the
//! workflows and (for the demo) the simulator together; none of them know about it.
//!
//! # Layout
//!
//! - [`bench`]: `dongbo bench`, every benchmark against a baseline measured in the same run.
//! - [`chaos`]: the chaos suite: the whole pipeline under kills, a database restart and upstream
//!   faults, compared with an undisturbed run (`tests/chaos.rs`, `dongbo bench chaos`).
//! - [`cli`]: the `dongbo` subcommands (`demo`, `serve`, `worker`, `migrate`, `prune`, …).
//! - [`dashboard`]: the operator's page at `/`, its embedded assets, and the example trigger.
//! - [`registry`]: which job types this binary runs.
//! - [`worker_process`]: `dongbo worker` child processes, started and killed with SIGKILL.

#![forbid(unsafe_code)]

pub mod bench;
pub mod chaos;
pub mod cli;
pub mod dashboard;
pub mod http;
pub mod registry;
pub mod worker_process;
