//! The catalog store: the only place in this crate with SQL. Functions take the engine's
//! [`dongbo_engine::Db`] for reads and, for writes that belong to a step, are [`dongbo_engine::StepEffects`]
//! applied in the step's transaction ([`dongbo_engine::StoreTx`]). A statement is written once
//! where the two backends agree; what they spell differently (job ids, lists and batches of rows
//! as parameters, JSON, byte order) is the `dialect` module's, the only one that matches on the
//! backend. The catalog's tables are its own migrations ([`schema`]), applied after the engine's.

pub mod console;
pub mod credentials;
mod dialect;
pub mod limits;
pub mod matching;
pub mod pulls;
pub mod reconcile;
pub mod schedules;
pub mod schema;
pub mod sync;
pub mod webhooks;

pub use dialect::postgres_pool;
