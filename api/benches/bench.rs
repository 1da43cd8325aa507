//! `cargo bench -p dongbo-api [-- SECTION... --quick --json --pg URL]`: the same run as
//! `dongbo bench` with the same arguments and environment (see `dongbo bench --help`).

use std::process::ExitCode;

fn main() -> ExitCode {
    // Cargo passes `--bench` to a harness-less bench; `dongbo bench` does not take it.
    let args = std::env::args_os().skip(1).filter(|a| a != "--bench");
    let bin = ["--dongbo-bin".into(), env!("CARGO_BIN_EXE_dongbo").into()];
    dongbo_api::cli::main_with(["dongbo".into(), "bench".into()].into_iter().chain(bin).chain(args))
}
