//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds `migrations/` at
//! compile time, and Cargo would otherwise not notice a new file there.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
