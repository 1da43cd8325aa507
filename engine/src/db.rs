//! Handles on the database the engine runs on, for code outside the stores: a pool for reads
//! ([`Db`]) and a step's open transaction for its writes ([`StoreTx`]).
//!
//! They sit apart from [`crate::store`] so the workflow model can name them without depending on
//! the store, which depends on the workflow model for a step's writes.

/// A pool on one of the two backends: read access for workflows and the catalog store.
#[derive(Clone, Debug)]
pub enum Db {
    /// Embedded SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
}

/// A step's open transaction, handed to its writes (`StepEffects::apply`).
pub enum StoreTx<'a> {
    /// On SQLite.
    Sqlite(&'a mut sqlx::SqliteConnection),
    /// On PostgreSQL.
    Postgres(&'a mut sqlx::PgConnection),
}
