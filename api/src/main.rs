//! The `dongbo` binary.

fn main() -> std::process::ExitCode {
    dongbo_api::cli::main()
}
