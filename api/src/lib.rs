//! dongbo-api: the HTTP API, the dashboard, and the `dongbo` binary's subcommands.
//!
//! This crate is the only one that knows HTTP and the command line. It wires the engine, the
//! workflows and (for the demo) the simulator together; none of them know about it.
//!
//! # Layout
//!
//! - [`cli`]: the `dongbo` subcommands (`demo`, `serve`, `worker`, `migrate`, `prune`, …);
//!   `dongbo bench` is a thin entry into the harness crate (`dongbo_harness::bench`).
//! - [`dashboard`]: the operator's page at `/`, its embedded assets, and the example trigger.
//! - [`registry`]: which job types this binary runs.

#![forbid(unsafe_code)]

pub mod cli;
pub mod dashboard;
pub mod http;
pub mod registry;
