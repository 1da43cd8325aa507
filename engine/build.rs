//! Rebuilds the engine when one of its migrations is added or changed: `sqlx::migrate!` embeds
//! the `migrations/engine/` folders at compile time.

fn main() {
    println!("cargo:rerun-if-changed=../migrations/engine");
}
