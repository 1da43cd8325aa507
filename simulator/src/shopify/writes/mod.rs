//! What each mutation does to the world: validate every item, then apply all or nothing, and
//! journal each item.

mod customers;
mod inventory;
mod metafields;
mod variants;

pub(crate) use customers::set_customer;
pub(crate) use inventory::set_quantities;
pub(crate) use metafields::set_metafields;
pub(crate) use variants::update_variants;

use serde_json::Value;

use crate::journal::JournalEntry;
use crate::sim::Sim;

/// A userError before it takes its mutation's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: &'static str,
}

pub(super) fn problem(field: &[&str], message: impl Into<String>, code: &'static str) -> Problem {
    Problem { field: Some(field.iter().map(|s| s.to_string()).collect()), message: message.into(), code }
}

pub(super) const INJECTED: &str = "Simulated failure for this item.";

pub(super) fn entry(
    sim: &Sim,
    kind: &str,
    target: String,
    value: Value,
    key: &Option<String>,
    note: Option<String>,
) -> JournalEntry {
    JournalEntry {
        kind: kind.into(),
        target,
        value,
        idempotency_key: key.clone(),
        applied: note.is_none(),
        note,
        at: sim.clock.unix_ms(),
    }
}
