//! What `dongbo sim` does: `eval "$(cargo run -q -p dongbo-simulator --example sim -- --customers 1000)"`.

use clap::Parser;
use dongbo_simulator::{run_cli, SimArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run_cli(Cli::parse().sim).await
}
