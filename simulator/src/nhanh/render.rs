//! Nhanh's JSON for products, inventory and customers, with its habits: numbers that arrive as
//! strings, many nulls.

use serde_json::{json, Value};

use crate::data::customers::{person, NhanhCustomer, NhanhMobile};
use crate::data::depot_id;
use crate::data::products::NhanhProduct;

fn maybe_string(n: u64, as_string: bool) -> Value {
    if as_string {
        json!(n.to_string())
    } else {
        json!(n)
    }
}

/// The `inventory` block of a product (apidocs.nhanh.vn/v3/product/list and
/// /v3/product/inventory): totals and one row per depot in `depots` (the depots the token
/// covers, narrowed by a `depotIds` filter), `available` = `remain` − holding − shipping −
/// damaged.
fn inventory_block(p: &NhanhProduct, depots: &[usize]) -> Value {
    let mut totals = [0i64; 6];
    let rows: Vec<Value> = depots
        .iter()
        .map(|&d| {
            let held = p.held(d);
            let row = [p.remain(d), held.shipping, held.damaged, held.holding, held.transfering, p.stock[d]];
            for (t, v) in totals.iter_mut().zip(row) {
                *t += v;
            }
            json!({
                "id": depot_id(d),
                "remain": row[0],
                "shipping": row[1],
                "damaged": row[2],
                "holding": row[3],
                "transfering": row[4],
                "available": row[5],
            })
        })
        .collect();
    json!({
        "remain": totals[0],
        "shipping": totals[1],
        "damaged": totals[2],
        "holding": totals[3],
        "transfering": totals[4],
        "available": totals[5],
        "depots": rows,
    })
}

fn prices(p: &NhanhProduct) -> Value {
    json!({
        "retail": maybe_string(p.retail, p.prices_as_strings),
        "import": maybe_string(p.import, p.prices_as_strings),
        "old": 0,
        "wholesale": maybe_string(p.wholesale, p.prices_as_strings),
        "avgCost": maybe_string(p.import, p.prices_as_strings),
    })
}

/// A `product/list` item, its stock over `depots`.
pub(crate) fn product(p: &NhanhProduct, depots: &[usize]) -> Value {
    json!({
        "id": p.id,
        "parentId": p.parent_id,
        "code": p.code,
        "barcode": p.barcode,
        "name": p.name,
        "otherName": null,
        "status": p.status,
        "prices": prices(p),
        "images": {"avatar": format!("https://pos.nhanh.vn/images/{}.jpg", p.id), "others": []},
        "inventory": inventory_block(p, depots),
        "updatedAt": p.updated_at,
        "createdAt": p.created_at,
    })
}

/// A `product/inventory` item: the product, its prices, and its stock over `depots` nested
/// under `inventory`.
pub(crate) fn inventory(p: &NhanhProduct, depots: &[usize]) -> Value {
    let mut prices = prices(p);
    if let Some(obj) = prices.as_object_mut() {
        obj.remove("old");
    }
    json!({
        "productId": p.id,
        "barcode": p.barcode,
        "name": p.name,
        "prices": prices,
        "inventory": inventory_block(p, depots),
    })
}

/// A `customer/list` item.
pub(crate) fn customer(seed: u64, c: &NhanhCustomer) -> Value {
    let person = person(seed, c.person as u64);
    let mobile = match &person.nhanh_mobile {
        NhanhMobile::Null => Value::Null,
        NhanhMobile::Text(t) => json!(t),
        NhanhMobile::Number(n) => json!(n),
    };
    json!({
        "id": c.id,
        "type": person.nhanh_type,
        "name": person.nhanh_name(),
        "mobile": mobile,
        "code": (c.id % 4 != 0).then(|| format!("KH{:07}", c.id % 10_000_000)),
        "gender": person.gender,
        "address": person.address,
        "birthday": person.birthday,
        "points": maybe_string(person.points, person.total_as_string),
        "startedDate": chrono::DateTime::from_timestamp(person.created_at, 0).map(|d| d.format("%Y-%m-%d").to_string()),
        "taxCode": null,
        "locations": null,
        "level": (person.points > 1000).then(|| json!({"id": 2, "name": "Thành viên bạc"})),
        "group": (person.nhanh_type != 1).then(|| json!({"id": person.nhanh_type, "name": if person.nhanh_type == 2 { "Khách sỉ" } else { "Đại lý" }})),
        "totalAmount": maybe_string(c.total_amount, person.total_as_string),
        "updatedAt": c.updated_at,
    })
}
