//! The catalog store: the only place in this crate with SQL. Functions take the engine's
//! [`dongbo_engine::Db`] for reads and, for writes that belong to a step, are [`dongbo_engine::StepEffects`]
//! applied in the step's transaction ([`dongbo_engine::StoreTx`]). Each backend has its own SQL.

pub mod credentials;
pub mod limits;
pub mod matching;
pub mod pulls;
pub mod sync;
pub mod webhooks;
