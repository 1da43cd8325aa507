//! Rebuilds the crate when one of the catalog's migrations is added or changed: `sqlx::migrate!`
//! embeds the `migrations/catalog/` folders at compile time.

fn main() {
    println!("cargo:rerun-if-changed=../migrations/catalog");
}
