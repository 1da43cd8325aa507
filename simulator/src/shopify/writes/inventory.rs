//! `inventorySetQuantities`: absolute quantities, at most once per `@idempotent` key, with the
//! compare-and-swap rules of the request's API version ([`InventoryRules`]).

use async_graphql::{MaybeUndefined, ID};
use serde_json::json;

use super::{entry, problem, Problem, INJECTED};
use crate::clock::iso;
use crate::data::location_index;
use crate::gid::gid;
use crate::shopify::mutations::*;
use crate::shopify::objects::*;
use crate::sim::Sim;

const REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

/// The quantity a call expects to find before it sets a new one, and the userError it fails
/// with when it does not; `Ok(None)` skips the compare; `Err` when the rules want a compare the
/// call did not give.
type Expectation = Result<Option<(i32, &'static str, &'static str)>, Problem>;

fn expectation(
    rules: InventoryRules,
    input: &InventorySetQuantitiesInput,
    q: &InventoryQuantityInput,
    i: &str,
) -> Expectation {
    const CHANGE_FROM: (&str, &str) = ("changeFromQuantity", "CHANGE_FROM_QUANTITY_STALE");
    match (&q.change_from_quantity, rules) {
        (MaybeUndefined::Null, _) => Ok(None),
        (MaybeUndefined::Value(n), _) => Ok(Some((*n, CHANGE_FROM.0, CHANGE_FROM.1))),
        // Shopify's enum has no code of its own for a missing `changeFromQuantity`; its one
        // "must be given" code is COMPARE_QUANTITY_REQUIRED.
        (MaybeUndefined::Undefined, InventoryRules::ChangeFromRequired) => Err(problem(
            &["input", "quantities", i, "changeFromQuantity"],
            "The changeFromQuantity argument must be given to each quantity: pass null to skip the quantity comparison.",
            "COMPARE_QUANTITY_REQUIRED",
        )),
        (MaybeUndefined::Undefined, InventoryRules::Compare2026_01) => match q.compare_quantity {
            _ if input.ignore_compare_quantity == Some(true) => Ok(None),
            Some(n) => Ok(Some((n, "compareQuantity", "COMPARE_QUANTITY_STALE"))),
            None => Err(problem(
                &["input", "quantities", i, "compareQuantity"],
                "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",
                "COMPARE_QUANTITY_REQUIRED",
            )),
        },
    }
}

pub(crate) fn set_quantities(
    sim: &Sim,
    input: &InventorySetQuantitiesInput,
    key: Option<String>,
    rules: InventoryRules,
) -> InventorySetQuantitiesPayload {
    let journal_value = |q: &InventoryQuantityInput| {
        let change_from = match q.change_from_quantity {
            MaybeUndefined::Undefined => json!("absent"),
            MaybeUndefined::Null => json!(null),
            MaybeUndefined::Value(n) => json!(n),
        };
        json!({"locationId": q.location_id.as_str(), "quantity": q.quantity, "compareQuantity": q.compare_quantity,
               "changeFromQuantity": change_from, "name": input.name, "reason": input.reason})
    };
    // The idempotency lock is held across check and apply so a concurrent retry waits.
    let mut seen = sim.idempotency.lock().unwrap_or_else(|e| e.into_inner());
    let key_opt = key.clone();
    if let Some(previous) = key.as_ref().and_then(|k| seen.get(k)) {
        sim.journal.extend(input.quantities.iter().map(|q| {
            entry(
                sim,
                "inventorySetQuantities",
                q.inventory_item_id.to_string(),
                journal_value(q),
                &key_opt,
                Some("deduplicated".into()),
            )
        }));
        return previous.clone();
    }
    let mut world = sim.write();
    let mut problems = Vec::new();
    if !matches!(input.name.as_str(), "available" | "on_hand") {
        problems.push(problem(
            &["input", "name"],
            "The quantity name must be either 'available' or 'on_hand'.",
            "INVALID_NAME",
        ));
    }
    if !REASONS.contains(&input.reason.as_str()) {
        problems.push(problem(&["input", "reason"], "The specified reason is invalid.", "INVALID_REASON"));
    }
    let max = sim.config.shopify.max_inventory_quantities;
    if input.quantities.len() > max {
        problems.push(problem(
            &["input", "quantities"],
            format!("The quantities list can hold at most {max} items."),
            "INVALID_QUANTITY_INPUT",
        ));
    }
    let mut targets = Vec::new();
    for (i, q) in input.quantities.iter().enumerate() {
        let index = i.to_string();
        let item = world.inventory_item_index(&q.inventory_item_id);
        let location = location_index(&q.location_id);
        match (item, location) {
            (None, _) => problems.push(problem(
                &["input", "quantities", &index, "inventoryItemId"],
                "The specified inventory item could not be found.",
                "INVALID_INVENTORY_ITEM",
            )),
            (_, None) => problems.push(problem(
                &["input", "quantities", &index, "locationId"],
                "The specified location could not be found.",
                "INVALID_LOCATION",
            )),
            (Some(v), Some(l)) => {
                let current = world.variants[v].levels[l];
                let expected = expectation(rules, input, q, &index);
                let stale = match &expected {
                    Ok(Some((n, field, code))) if i64::from(*n) != current => Some((*field, *code)),
                    _ => None,
                };
                if !(-1_000_000_000..=1_000_000_000).contains(&q.quantity) {
                    problems.push(problem(
                        &["input", "quantities", &index, "quantity"],
                        "The quantity is out of range.",
                        "INVALID_QUANTITY_TOO_HIGH",
                    ));
                } else if let Err(p) = expected {
                    problems.push(p);
                } else if let Some((field, code)) = stale {
                    problems.push(problem(
                        &["input", "quantities", &index, field],
                        format!("The {field} value does not match the persisted quantity."),
                        code,
                    ));
                } else if sim.faults.item_fails(q.inventory_item_id.as_str()) {
                    problems.push(problem(
                        &["input", "quantities", &index, "inventoryItemId"],
                        INJECTED,
                        "INTERNAL_ERROR",
                    ));
                } else {
                    targets.push((v, l, q.quantity as i64, current));
                }
            }
        }
    }
    if !problems.is_empty() {
        let note = Some(problems[0].message.clone());
        sim.journal.extend(input.quantities.iter().map(|q| {
            entry(
                sim,
                "inventorySetQuantities",
                q.inventory_item_id.to_string(),
                journal_value(q),
                &key_opt,
                note.clone(),
            )
        }));
        return InventorySetQuantitiesPayload {
            inventory_adjustment_group: None,
            user_errors: problems.into_iter().map(Into::into).collect(),
        };
    }
    let now = sim.clock.unix_secs();
    let mut changes = Vec::new();
    // The levels that moved: Shopify sends `inventory_levels/update` for API writes too (an
    // app's own included), once the write is applied; a set to the same number moves nothing.
    let mut moved = Vec::new();
    for &(v, l, quantity, before) in &targets {
        world.variants[v].levels[l] = quantity;
        world.variants[v].level_updated_at[l] = now;
        world.variants[v].updated_at = now;
        if quantity != before {
            moved.push((world.variants[v].inventory_item_id, crate::data::location_id(l), quantity));
        }
        changes.push(InventoryChange {
            name: input.name.clone(),
            delta: quantity - before,
            quantity_after_change: Some(quantity),
            item: variant_view(&world, v).inventory_item,
            location: location(sim, l),
        });
    }
    sim.journal.extend(input.quantities.iter().map(|q| {
        entry(sim, "inventorySetQuantities", q.inventory_item_id.to_string(), journal_value(q), &key_opt, None)
    }));
    let payload = InventorySetQuantitiesPayload {
        inventory_adjustment_group: Some(InventoryAdjustmentGroup {
            id: ID(gid("InventoryAdjustmentGroup", 90_000_000_000 + seen.len() as u64)),
            reason: input.reason.clone(),
            reference_document_uri: input.reference_document_uri.clone(),
            created_at: DateTime(iso(now)),
            changes,
        }),
        user_errors: vec![],
    };
    if let Some(key) = key {
        seen.insert(key, payload.clone());
    }
    drop(world);
    drop(seen);
    crate::webhooks::levels_written(sim, &moved);
    payload
}
