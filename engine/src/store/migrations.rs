//! The engine's migrations, `migrations/engine/{sqlite,postgres}`: its own tables and nothing
//! else (the catalog's are the workflows crate's).
//!
//! Every set of migrations on a database shares the one bookkeeping table sqlx keeps,
//! `_sqlx_migrations`, keyed by version. So the sets split one sequence of numbers between them
//! (no version belongs to two sets; `migrations/README.md`), and each runs as a [`shared`] set:
//! the rows of the other sets are not its business. The binary, which knows every set, refuses a
//! database holding a version none of them has (`dongbo_workflows::open`), as a single migrator
//! would.

use sqlx::migrate::Migrator;

/// The engine's SQLite migrations, as a [`shared`] set.
pub fn sqlite() -> Migrator {
    shared(sqlx::migrate!("../migrations/engine/sqlite"))
}

/// The engine's PostgreSQL migrations, as a [`shared`] set.
pub fn postgres() -> Migrator {
    shared(sqlx::migrate!("../migrations/engine/postgres"))
}

/// `set`, run beside other sets in one `_sqlx_migrations`: an applied version it does not have
/// is another set's, not an error. Its own versions are still checked (an applied one whose
/// checksum changed fails) and applied in order when missing.
pub fn shared(mut set: Migrator) -> Migrator {
    set.set_ignore_missing(true);
    set
}
