//! Pushing Nhanh stock and total spent to Shopify, and re-driving failed items.
//!
//! - `PRODUCT_SYNC` ([`ProductSync`]): for each mapped product, Nhanh's `available` stock summed
//!   per Shopify location over the depots mapped to it (`location_mappings`), read *fresh* from
//!   Nhanh by the call that pushes it (`product/inventory`, or `product/list` filtered by ids on
//!   every other call: Nhanh limits each URL apart, so two URLs keep reads ahead of Shopify's
//!   ≈ 10 calls/s; a product missing from Nhanh's answer, or a depot value it did not send, is
//!   not pushed but skipped with the reason), set with `inventorySetQuantities` in calls of whole
//!   products (≤ 250 quantities), each call under `@idempotent(key: ctx.idempotency_key("batch-<n>-<digest>"))`,
//!   the digest that of the call's quantities (a re-run with the same stock is applied once, a
//!   re-run after the stock moved sets the new stock).
//! - `CUSTOMER_SYNC` ([`CustomerSync`]): Nhanh's `totalAmount` (as mirrored by
//!   `PULL_NHANH_CUSTOMERS`) → metafield `custom.total_spent` (`number_integer`) with
//!   `metafieldsSet` in calls of ≤ 25, an absolute set; unchanged values are skipped unless
//!   `forceSync` (see [`SyncSettings::change_threshold`]).
//! - `RETRY_FAILED_SYNC` ([`RetryFailedSync`]): the oldest `sync_failures` rows, both kinds.
//!
//! Why stock is read fresh and totals from the mirror: stock moves by the minute and a stale
//! number oversells, so each call asks Nhanh for the stock of exactly the products it pushes
//! (one request of ≤ 100 ids); a customer's total spent changes slowly and an incremental customer pull
//! keeps the mirror current for one request per 100 changed customers.
//!
//! A step takes one keyset page of mappings (checkpoint: the last mapping id handled) and keeps
//! up to [`SyncSettings::calls_per_step`] Shopify calls in flight; the client's cost-bucket
//! limiter sets the pace. Per item, a `userErrors` entry or an item-level permanent problem (a
//! customer missing from the mirror, a variant without an inventory item) marks the mapping
//! `FAILED` with the reason and records a `sync_failures` row, while the rest of its call is sent
//! again without it in the same step. A transport failure of a call fails the step (transient:
//! the engine retries it; the re-run reuses the same idempotency keys), and a permanent one (bad
//! credentials, a GraphQL error) fails the job with the reason, since it is not the item's fault.
//!
//! # Layout
//!
//! - [`plan`]: the pure core — push decisions, stock per location, batching, userErrors → items.
//! - `push`: one page of mappings pushed to Shopify, with per-item outcomes.
//! - `full`: the `PRODUCT_SYNC` / `CUSTOMER_SYNC` workflow ([`FullSync`], generic over the
//!   [`SyncFamily`]) over keyset pages.
//!
//! [`PRODUCTS`], [`CUSTOMERS`] and [`RETRY_FAILED`] are the job types bound to their inputs, for
//! callers that request a sync (see [`crate::jobs::JobType`]).
//! - `retry`: `RETRY_FAILED_SYNC`.

mod full;
pub mod plan;
mod push;
mod retry;

use std::sync::Arc;

use dongbo_engine::{Registry, StepError};
use serde::{Deserialize, Serialize};

use crate::connectors::ConnectorError;
use crate::upstreams::Upstreams;

pub use full::{CustomerSync, FullSync, ProductSync, Stock, SyncFamily, SyncState, TotalSpent};
pub use retry::{RetryFailedSync, RetryInput, RetryState, DEFAULT_RETRY_LIMIT};

use crate::jobs::{self, JobType};

/// Which claim wrote a sync's checkpoint, and when the step that wrote it began (unix ms; 0
/// before the first): what tells a step that runs again after a cut-off run to read its items
/// back first, and from when (`push::ReadBack`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    /// `StepContext::attempt` of the claim.
    pub claim: u32,
    /// When its step began.
    pub at_ms: i64,
}

/// `PRODUCT_SYNC` with its input (what its triggers request).
pub const PRODUCTS: JobType<SyncInput> = JobType::new(jobs::PRODUCT_SYNC);
/// `CUSTOMER_SYNC` with its input.
pub const CUSTOMERS: JobType<SyncInput> = JobType::new(jobs::CUSTOMER_SYNC);
/// `RETRY_FAILED_SYNC` with its input.
pub const RETRY_FAILED: JobType<RetryInput> = JobType::new(jobs::RETRY_FAILED_SYNC);

/// Settings of the sync workflows (constructor parameters; [`register`] uses the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// A customer whose last pushed total differs from Nhanh's by less than this (₫) is skipped
    /// unless `forceSync` (the old tool's rule: 1,000 ₫). 0 skips only equal values.
    pub change_threshold: i64,
    /// Shopify calls a step keeps in flight (and so the page size: calls × items per call).
    pub calls_per_step: usize,
    /// Largest `inventorySetQuantities` call (Shopify: 250 quantities).
    pub max_quantities_per_call: usize,
    /// Largest `metafieldsSet` call (Shopify: 25).
    pub max_metafields_per_call: usize,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            change_threshold: 1000,
            calls_per_step: 10,
            max_quantities_per_call: 250,
            max_metafields_per_call: crate::connectors::shopify::mutations::MAX_METAFIELDS_PER_CALL,
        }
    }
}

impl SyncSettings {
    /// The defaults with another change threshold.
    pub fn with_change_threshold(change_threshold: i64) -> Self {
        SyncSettings { change_threshold, ..SyncSettings::default() }
    }
}

/// Input of `PRODUCT_SYNC` and `CUSTOMER_SYNC`: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncInput {
    /// Only these mappings (ids of `product_mappings` / `customer_mappings`); all mapped ones when
    /// absent. Each id is a number or its decimal string (see [`MappingId`]).
    #[serde(default, deserialize_with = "mapping_ids", skip_serializing_if = "Option::is_none")]
    pub mapping_ids: Option<Vec<i64>>,
    /// Push even values that look unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_sync: Option<bool>,
    /// The webhook deliveries this job was asked for (set by the webhook dispatcher: the audit
    /// link from a job back to what caused it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_delivery_ids: Option<Vec<i64>>,
}

/// A mapping id as a client may send it: dongbo's ids are integers, and the old front end, whose
/// ids were text, sends back the ids it was given as strings, so `"42"` is mapping 42. Any other
/// text (the old tool's own cuids, say) names no dongbo mapping and is refused, naming the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MappingId(pub i64);

impl std::str::FromStr for MappingId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let digits = !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit());
        match trimmed.parse::<i64>() {
            Ok(id) if digits && id > 0 => Ok(MappingId(id)),
            _ => {
                let shown: String = text.chars().take(64).collect();
                Err(format!(
                    "mapping id `{shown}` is not a dongbo mapping id (a positive integer, sent as a number or a decimal string)"
                ))
            }
        }
    }
}

impl<'de> Deserialize<'de> for MappingId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Number(i64),
            Text(String),
        }
        match Wire::deserialize(d)? {
            Wire::Number(id) if id > 0 => Ok(MappingId(id)),
            Wire::Number(id) => Err(serde::de::Error::custom(format!(
                "mapping id {id} is not a dongbo mapping id (a positive integer)"
            ))),
            Wire::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

fn mapping_ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    let ids: Option<Vec<MappingId>> = Option::deserialize(d)?;
    Ok(ids.map(|ids| ids.into_iter().map(|MappingId(id)| id).collect()))
}

/// Most mapping ids one job accepts.
pub const MAX_MAPPING_IDS: usize = 100_000;

/// Registers `PRODUCT_SYNC`, `CUSTOMER_SYNC` and `RETRY_FAILED_SYNC` with default settings.
pub fn register(registry: &mut Registry, upstreams: &Upstreams) {
    let settings = SyncSettings::default();
    registry.register(ProductSync::new(upstreams.clone(), settings));
    registry.register(CustomerSync::new(upstreams.clone(), settings));
    registry.register(RetryFailedSync::new(upstreams.clone(), settings));
}

/// A connector failure of a whole call, as the step's error.
pub(crate) fn step_error(e: ConnectorError) -> StepError {
    match e {
        ConnectorError::Transient { reason, retry_after } => StepError::Transient { message: reason, retry_after },
        other => StepError::permanent(other.to_string()),
    }
}

/// A catalog read failure: the database may come back, so the step is retried.
pub(crate) fn db_error(what: &str, e: sqlx::Error) -> StepError {
    StepError::transient(format!("{what}: database: {e}"))
}

/// The upstream client, or the permanent "not configured" error.
pub(crate) fn configured<T>(client: Result<&Arc<T>, String>) -> Result<Arc<T>, StepError> {
    client.cloned().map_err(StepError::permanent)
}

#[cfg(test)]
mod input_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mapping_ids_are_numbers_or_their_decimal_strings() {
        let input: SyncInput = serde_json::from_value(json!({"mappingIds": [3, "42", " 7 "]})).unwrap();
        assert_eq!(input.mapping_ids, Some(vec![3, 42, 7]));
        assert_eq!(serde_json::to_value(&input).unwrap(), json!({"mappingIds": [3, 42, 7]}));
        for bad in [json!("ckx1y2z3a0000abcd"), json!("-4"), json!("0"), json!(0), json!("4.5"), json!("")] {
            let e = serde_json::from_value::<SyncInput>(json!({ "mappingIds": [1, bad] })).unwrap_err();
            assert!(e.to_string().contains("not a dongbo mapping id"), "{bad}: {e}");
        }
        let e = serde_json::from_value::<SyncInput>(json!({"mappingIds": ["ckx1y2z3a0000abcd"]})).unwrap_err();
        assert!(e.to_string().contains("`ckx1y2z3a0000abcd`"), "the id is named: {e}");
    }
}
