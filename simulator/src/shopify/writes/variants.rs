//! `productVariantsBulkUpdate`: price, barcode and SKU of one product's variants.

use async_graphql::ID;
use serde_json::json;

use super::{entry, problem, INJECTED};
use crate::shopify::mutations::*;
use crate::shopify::objects::*;
use crate::sim::Sim;

/// Parses a Money input (`"199000"`, `"199000.00"`) into whole VND.
fn parse_money(text: &str) -> Option<u64> {
    let v: f64 = text.trim().parse().ok()?;
    (v.is_finite() && (0.0..1e15).contains(&v)).then(|| v.round() as u64)
}

pub(crate) fn update_variants(
    sim: &Sim,
    product_id: &ID,
    inputs: &[ProductVariantsBulkInput],
    partial: bool,
    key: Option<String>,
) -> ProductVariantsBulkUpdatePayload {
    let journal_value = |v: &ProductVariantsBulkInput| {
        json!({"productId": product_id.as_str(), "price": v.price.as_ref().map(|m| &m.0), "barcode": v.barcode,
               "sku": v.inventory_item.as_ref().and_then(|i| i.sku.clone())})
    };
    let target = |v: &ProductVariantsBulkInput| v.id.as_ref().map(|i| i.to_string()).unwrap_or_default();
    let mut world = sim.write();
    let Some(product) = world.product_index(product_id) else {
        let p = problem(&["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST");
        sim.journal.extend(inputs.iter().map(|v| {
            entry(sim, "productVariantsBulkUpdate", target(v), journal_value(v), &key, Some(p.message.clone()))
        }));
        return ProductVariantsBulkUpdatePayload { product: None, product_variants: None, user_errors: vec![p.into()] };
    };
    let mut problems = Vec::new();
    let mut ok = Vec::new();
    for (i, v) in inputs.iter().enumerate() {
        let index = i.to_string();
        let found =
            v.id.as_ref()
                .and_then(|id| world.variant_index(id))
                .filter(|&x| world.variants[x].product as usize == product);
        let price = v.price.as_ref().map(|m| parse_money(&m.0));
        let p = match (found, price) {
            (None, _) if v.id.is_none() => Some(problem(
                &["variants", &index, "id"],
                "Product variant id is missing",
                "PRODUCT_VARIANT_ID_MISSING",
            )),
            (None, _) => Some(problem(
                &["variants", &index, "id"],
                "Product variant does not exist",
                "PRODUCT_VARIANT_DOES_NOT_EXIST",
            )),
            (_, Some(None)) => Some(problem(&["variants", &index, "price"], "Price is invalid", "INVALID_INPUT")),
            (Some(_), _) if v.barcode.as_ref().is_some_and(|b| b.chars().count() > 255) => Some(problem(
                &["variants", &index, "barcode"],
                "Barcode is too long (maximum is 255 characters)",
                "INVALID_INPUT",
            )),
            (Some(_), _) if sim.faults.item_fails(&target(v)) => {
                Some(problem(&["variants", &index, "id"], INJECTED, "INTERNAL_ERROR"))
            }
            (Some(x), price) => {
                ok.push((i, x, price.flatten()));
                None
            }
        };
        problems.extend(p);
    }
    let apply = problems.is_empty() || partial;
    let now = sim.clock.unix_secs();
    let mut updated = Vec::new();
    if apply {
        for &(i, x, price) in &ok {
            let input = &inputs[i];
            let variant = &mut world.variants[x];
            if let Some(price) = price {
                variant.price = price;
            }
            if let Some(barcode) = &input.barcode {
                variant.barcode = Some(barcode.clone());
            }
            if let Some(sku) = input.inventory_item.as_ref().and_then(|i| i.sku.clone()) {
                variant.sku = Some(sku);
            }
            variant.updated_at = now;
            updated.push(x);
        }
        world.shop_products[product].updated_at = now;
    }
    let note = (!problems.is_empty()).then(|| problems[0].message.clone());
    sim.journal.extend(inputs.iter().enumerate().map(|(i, v)| {
        let applied = apply && ok.iter().any(|&(j, _, _)| j == i);
        entry(
            sim,
            "productVariantsBulkUpdate",
            target(v),
            journal_value(v),
            &key,
            if applied { None } else { note.clone().or(Some("rejected".into())) },
        )
    }));
    ProductVariantsBulkUpdatePayload {
        product: Some(product_view(&world, product)),
        product_variants: Some(updated.iter().map(|&x| variant_view(&world, x)).collect()),
        user_errors: problems.into_iter().map(Into::into).collect(),
    }
}
