//! Reading a Nhanh webhook delivery (apidocs.nhanh.vn/v3/webhooks/…).
//!
//! The body is JSON `{"event", "businessId", "data"}`. The verify token the developer typed in
//! the app's settings comes as the `verifyToken` header (v3 intro page); the v2 pages put it in
//! the body as `webhooksVerifyToken`: both are accepted, and the body's is never stored.
//!
//! - `inventoryChange` (…/v3/webhooks/inventory): `data` keyed by product id, each
//!   `{id, remain, …, available, depots: {depotId: {…}}}`, up to 100 products per delivery.
//! - `productAdd` / `productUpdate` (…/v3/webhooks/product): `data` an array of products
//!   (`id`); the v2 form, one object with `productId`, is read too. `productDelete`: `data` an
//!   array of ids.
//! - `orderAdd` / `orderUpdate` (…/v3/webhooks/order): `data` the order as `order/list` gives
//!   it; its customer is `customer.id` (v3) or `customerId` (v2). An order changes the
//!   customer's total spent, which dongbo pushes. `orderDelete` names only order ids, so it is
//!   recorded and left to the scheduled pulls.

use serde_json::{Map, Value};

use super::{id_of, ReadDelivery, Touch, Touched, Unreadable};

/// The header Nhanh sends the verify token in.
pub const TOKEN_HEADER: &str = "verifytoken";

/// The body field of the v2 payloads that carries the verify token.
pub const TOKEN_FIELD: &str = "webhooksVerifyToken";

/// The events dongbo acts on (what to tick in Nhanh's app settings).
pub const EVENTS: [&str; 6] =
    ["inventoryChange", "productAdd", "productUpdate", "productDelete", "orderAdd", "orderUpdate"];

/// A Nhanh body, parsed, with the verify token taken out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct NhanhBody {
    /// The token the body carried (v2 style), if any.
    pub body_token: Option<String>,
    /// The body without the token, as it is stored.
    pub stored: String,
    /// The parsed body (without the token).
    pub value: Map<String, Value>,
}

/// Parses a body: JSON object or [`Unreadable`].
pub fn parse_body(body: &[u8]) -> Result<NhanhBody, Unreadable> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Unreadable(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut value) = value else {
        return Err(Unreadable("the body is not a JSON object".into()));
    };
    let body_token = match value.remove(TOKEN_FIELD) {
        Some(Value::String(s)) => Some(s),
        Some(_) | None => None,
    };
    let stored = Value::Object(value.clone()).to_string();
    Ok(NhanhBody { body_token, stored, value })
}

/// What a (verified) body is about.
pub fn read(body: &Map<String, Value>) -> Result<ReadDelivery, Unreadable> {
    let event = match body.get("event") {
        Some(Value::String(e)) if !e.trim().is_empty() => e.trim().to_owned(),
        _ => return Err(Unreadable("`event` is missing".into())),
    };
    let data = body.get("data").unwrap_or(&Value::Null);
    let touches: Vec<Touch> = match event.as_str() {
        "inventoryChange" => inventory(data)?.into_iter().map(|product_id| Touch::NhanhStock { product_id }).collect(),
        "productAdd" | "productUpdate" => {
            let new = event == "productAdd";
            products(data)?.into_iter().map(|product_id| Touch::NhanhProduct { product_id, new }).collect()
        }
        "productDelete" => ids(data, "productDelete")?
            .into_iter()
            .map(|product_id| Touch::NhanhProductDeleted { product_id })
            .collect(),
        "orderAdd" | "orderUpdate" => {
            order_customer(data)?.map(|customer_id| vec![Touch::NhanhCustomerTotal { customer_id }]).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let ignored = if touches.is_empty() {
        Some(match event.as_str() {
            "orderAdd" | "orderUpdate" => "the order names no customer".to_owned(),
            "orderDelete" => "a deleted order names no customer: the scheduled pulls catch the total".to_owned(),
            e if EVENTS.contains(&e) => "the delivery names no item".to_owned(),
            e => format!("dongbo does not act on `{e}`"),
        })
    } else {
        None
    };
    Ok(ReadDelivery {
        topic: event,
        touches: touches.into_iter().map(|touch| Touched { touch, at: None }).collect(),
        ignored,
    })
}

/// `inventoryChange`: product ids, from the keys of `data` (or each entry's `id`).
fn inventory(data: &Value) -> Result<Vec<i64>, Unreadable> {
    let bad = || Unreadable("inventoryChange: `data` is not a map of products".into());
    let entries: Vec<(Option<&str>, &Value)> = match data {
        Value::Object(m) => m.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
        Value::Array(a) => a.iter().map(|v| (None, v)).collect(),
        _ => return Err(bad()),
    };
    let mut out = Vec::new();
    for (key, entry) in entries {
        let id = entry
            .get("id")
            .or_else(|| entry.get("productId"))
            .and_then(id_of)
            .or_else(|| key.and_then(|k| id_of(&Value::String(k.to_owned()))))
            .ok_or_else(|| Unreadable(format!("inventoryChange: an entry has no product id: {}", shown(entry))))?;
        out.push(id);
    }
    dedup(&mut out);
    Ok(out)
}

/// `productAdd` / `productUpdate`: an array of products, or one product (v2).
fn products(data: &Value) -> Result<Vec<i64>, Unreadable> {
    let one = |p: &Value| {
        p.get("id")
            .or_else(|| p.get("productId"))
            .and_then(id_of)
            .ok_or_else(|| Unreadable(format!("a product has no id: {}", shown(p))))
    };
    let mut out = match data {
        Value::Array(a) => a.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        Value::Object(_) => vec![one(data)?],
        _ => return Err(Unreadable("`data` is not a product or an array of products".into())),
    };
    dedup(&mut out);
    Ok(out)
}

/// An array of ids.
fn ids(data: &Value, event: &str) -> Result<Vec<i64>, Unreadable> {
    let Value::Array(a) = data else {
        return Err(Unreadable(format!("{event}: `data` is not an array of ids")));
    };
    let mut out = a
        .iter()
        .map(|v| id_of(v).ok_or_else(|| Unreadable(format!("{event}: `{}` is not an id", shown(v)))))
        .collect::<Result<Vec<_>, _>>()?;
    dedup(&mut out);
    Ok(out)
}

/// The customer of an order: `customer.id` (v3), else `customerId` (v2).
fn order_customer(data: &Value) -> Result<Option<i64>, Unreadable> {
    if !data.is_object() {
        return Err(Unreadable("order event: `data` is not an order".into()));
    }
    Ok(data.pointer("/customer/id").and_then(id_of).or_else(|| data.get("customerId").and_then(id_of)))
}

fn dedup(ids: &mut Vec<i64>) {
    ids.sort_unstable();
    ids.dedup();
}

fn shown(v: &Value) -> String {
    v.to_string().chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value, expect: Result<(&str, Vec<Touch>), &str>) {
        let parsed = parse_body(body.to_string().as_bytes()).unwrap();
        match (read(&parsed.value), expect) {
            (Ok(d), Ok((topic, touches))) => {
                assert_eq!(d.topic, topic);
                assert_eq!(d.touches.into_iter().map(|t| t.touch).collect::<Vec<_>>(), touches);
            }
            (Err(e), Err(part)) => assert!(e.0.contains(part), "{e}"),
            (got, want) => panic!("{got:?} vs {want:?}"),
        }
    }

    #[test]
    fn events_become_touches() {
        check(
            json!({"event": "inventoryChange", "businessId": 1, "data": {"12": {"id": 12, "available": 3}, "7": {"available": 1}}}),
            Ok(("inventoryChange", vec![Touch::NhanhStock { product_id: 7 }, Touch::NhanhStock { product_id: 12 }])),
        );
        check(
            json!({"event": "productAdd", "data": [{"id": 5, "code": "A"}]}),
            Ok(("productAdd", vec![Touch::NhanhProduct { product_id: 5, new: true }])),
        );
        check(
            json!({"event": "productUpdate", "data": {"productId": "6"}}),
            Ok(("productUpdate", vec![Touch::NhanhProduct { product_id: 6, new: false }])),
        );
        check(
            json!({"event": "productDelete", "data": ["8", 9]}),
            Ok((
                "productDelete",
                vec![Touch::NhanhProductDeleted { product_id: 8 }, Touch::NhanhProductDeleted { product_id: 9 }],
            )),
        );
        check(
            json!({"event": "orderAdd", "data": {"info": {"id": 1}, "customer": {"id": 44}}}),
            Ok(("orderAdd", vec![Touch::NhanhCustomerTotal { customer_id: 44 }])),
        );
        check(
            json!({"event": "orderUpdate", "data": {"customerId": 45}}),
            Ok(("orderUpdate", vec![Touch::NhanhCustomerTotal { customer_id: 45 }])),
        );
        check(json!({"event": "orderDelete", "data": [1, 2]}), Ok(("orderDelete", vec![])));
        check(json!({"event": "billAdd", "data": {}}), Ok(("billAdd", vec![])));
        check(json!({"event": "inventoryChange", "data": "x"}), Err("not a map of products"));
        check(json!({"event": "inventoryChange", "data": {"abc": {"available": 1}}}), Err("no product id"));
        check(json!({"data": {}}), Err("`event` is missing"));
    }

    #[test]
    fn the_body_token_is_taken_out_before_storing() {
        let body = json!({"event": "orderAdd", "webhooksVerifyToken": "s3cret", "data": {}});
        let parsed = parse_body(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.body_token.as_deref(), Some("s3cret"));
        assert!(!parsed.stored.contains("s3cret"));
        assert!(parse_body(b"not json").is_err());
        assert!(parse_body(b"[1]").is_err());
    }
}
