//! The journal of every write the Shopify server received, applied or not.

use std::sync::Mutex;

use serde::Serialize;

/// One write received: one item of a mutation (a metafield, an inventory quantity, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// The mutation: `inventorySetQuantities`, `metafieldsSet`, `customerSet` or
    /// `productVariantsBulkUpdate`.
    pub kind: String,
    /// The gid written to: inventory item, metafield owner, customer or variant.
    pub target: String,
    /// The item as received (plus the location for inventory).
    pub value: serde_json::Value,
    /// The `@idempotent(key:)` of the request, if any.
    pub idempotency_key: Option<String>,
    /// False when the write changed nothing: deduplicated by its key, or rejected with userErrors.
    pub applied: bool,
    /// Why it was not applied (`deduplicated`, or the first userError's message).
    pub note: Option<String>,
    /// Simulator time of receipt, unix milliseconds.
    pub at: i64,
}

/// Append-only list of entries.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    entries: Mutex<Vec<JournalEntry>>,
}

impl Journal {
    pub(crate) fn extend(&self, entries: impl IntoIterator<Item = JournalEntry>) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).extend(entries);
    }

    pub(crate) fn all(&self) -> Vec<JournalEntry> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
