//! Nhanh's webhook bodies, as its pages show them (the examples are kept as fixtures in
//! `simulator/tests/fixtures/webhooks/`, whose README names each page).
//!
//! - `inventoryChange` (apidocs.nhanh.vn/webhooks/inventory, the same on /v2/webhooks/inventory):
//!   `data` is an object keyed by product id; each product has `id`, `remain`, `shipping`,
//!   `holding`, `damage`, `available` and `depots`, an object keyed by depot id with the same five
//!   figures. Note `damage` (not product/list's `damaged`) and no `transfering`.
//! - `productAdd` / `productUpdate` (apidocs.nhanh.vn/v3/webhooks/product): `data` is an array
//!   of products (`id`, `parentId`, `code`, `barcode`, `name`, `otherName`, `status`, …). The
//!   simulator never creates or deletes products, so it sends `productUpdate` only.
//! - `orderAdd` / `orderUpdate` (apidocs.nhanh.vn/v3/webhooks/order): `data` is the order as
//!   order/list gives it (`depot`, `info`, …). The simulator sends `orderAdd` for each order.

use serde_json::{json, Map, Value};

use crate::data::depot_id;
use crate::data::names::DEPOTS;
use crate::data::products::NhanhProduct;

/// Event names.
pub const INVENTORY_CHANGE: &str = "inventoryChange";
/// A product's information changed.
pub const PRODUCT_UPDATE: &str = "productUpdate";
/// An order was created.
pub const ORDER_ADD: &str = "orderAdd";

/// The body every Nhanh delivery shares: `{"event", "businessId", "data"}`, plus the v2-style
/// `webhooksVerifyToken` when asked for.
pub fn body(event: &str, business_id: u64, data: Value, token_in_body: Option<&str>) -> Value {
    let mut body = json!({"event": event, "businessId": business_id, "data": data});
    if let (Some(token), Some(obj)) = (token_in_body, body.as_object_mut()) {
        obj.insert("webhooksVerifyToken".into(), json!(token));
    }
    body
}

/// One product's stock in an `inventoryChange`: totals and every depot's figures.
pub(crate) fn inventory_item(p: &NhanhProduct) -> Value {
    let mut totals = [0i64; 5];
    let mut depots = Map::new();
    for d in 0..DEPOTS.len() {
        let held = p.held(d);
        let row = [p.remain(d), held.shipping, held.holding, held.damaged, p.stock[d]];
        for (t, v) in totals.iter_mut().zip(row) {
            *t += v;
        }
        depots.insert(
            depot_id(d).to_string(),
            json!({"remain": row[0], "shipping": row[1], "holding": row[2], "damage": row[3], "available": row[4]}),
        );
    }
    json!({
        "id": p.id,
        "remain": totals[0],
        "shipping": totals[1],
        "holding": totals[2],
        "damage": totals[3],
        "available": totals[4],
        "depots": depots,
    })
}

/// `inventoryChange` data for these products (the caller keeps to the batch size).
pub(crate) fn inventory_change(products: &[&NhanhProduct]) -> Value {
    let data: Map<String, Value> = products.iter().map(|p| (p.id.to_string(), inventory_item(p))).collect();
    Value::Object(data)
}

/// One product of a `productAdd` / `productUpdate`.
pub(crate) fn product(p: &NhanhProduct) -> Value {
    json!({
        "id": p.id,
        "parentId": p.parent_id,
        "code": p.code,
        "barcode": p.barcode,
        "name": p.name,
        "otherName": null,
        "status": p.status,
    })
}

/// An order of `orderAdd` / `orderUpdate`: where it ships from, what it is, and whose it is.
///
/// `depot` and `info` follow the page's "Order information"; `customer {id, name, mobile}` and
/// `info.status` / `info.createdAt` are (unverified) read from order/list, which the page says
/// the data mirrors.
pub struct Order<'a> {
    /// Nhanh order id.
    pub id: u64,
    /// Depot index it ships from.
    pub depot: usize,
    /// The customer's Nhanh id.
    pub customer_id: u64,
    /// The customer's name.
    pub customer_name: &'a str,
    /// The customer's mobile as Nhanh holds it.
    pub customer_mobile: Value,
    /// Unix seconds.
    pub created_at: i64,
}

/// The order's `data`.
pub fn order(o: &Order<'_>) -> Value {
    let (name, _) = DEPOTS[o.depot.min(DEPOTS.len() - 1)];
    json!({
        "depot": {"id": depot_id(o.depot), "name": name},
        "info": {"id": o.id, "type": 1, "status": 60, "createdAt": o.created_at},
        "customer": {"id": o.customer_id, "name": o.customer_name, "mobile": o.customer_mobile},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(event: &str, data: Value, expect: Value) {
        assert_eq!(body(event, 18523, data, None), expect);
    }

    #[test]
    fn bodies_carry_event_business_and_data() {
        check(PRODUCT_UPDATE, json!([]), json!({"event": "productUpdate", "businessId": 18523, "data": []}));
        let with_token = body(ORDER_ADD, 1, json!({}), Some("t"));
        assert_eq!(with_token["webhooksVerifyToken"], "t");
    }
}
