//! Nhanh's JSON for products, inventory and customers, with its habits: numbers that arrive as
//! strings, many nulls.

use serde_json::{json, Value};

use crate::data::customers::{person, NhanhCustomer, NhanhMobile};
use crate::data::depot_id;
use crate::data::names::DEPOTS;
use crate::data::products::NhanhProduct;

fn maybe_string(n: u64, as_string: bool) -> Value {
    if as_string {
        json!(n.to_string())
    } else {
        json!(n)
    }
}

fn inventory_block(p: &NhanhProduct, depots: Option<&[usize]>) -> Value {
    let chosen: Vec<usize> = match depots {
        Some(d) => d.to_vec(),
        None => (0..DEPOTS.len()).collect(),
    };
    let rows: Vec<Value> = chosen
        .iter()
        .map(|&d| {
            let available = p.stock[d];
            json!({
                "id": depot_id(d),
                "name": DEPOTS[d].0,
                "remain": available,
                "shipping": 0,
                "damaged": 0,
                "holding": 0,
                "transfering": 0,
                "available": available,
            })
        })
        .collect();
    let total: i64 = chosen.iter().map(|&d| p.stock[d]).sum();
    json!({
        "remain": total,
        "shipping": 0,
        "damaged": 0,
        "holding": 0,
        "transfering": 0,
        "available": total,
        "depots": rows,
    })
}

/// A `product/list` item.
pub(crate) fn product(p: &NhanhProduct, depots: Option<&[usize]>) -> Value {
    json!({
        "id": p.id,
        "parentId": p.parent_id,
        "code": p.code,
        "barcode": p.barcode,
        "name": p.name,
        "otherName": null,
        "status": p.status,
        "prices": {
            "retail": maybe_string(p.retail, p.prices_as_strings),
            "import": maybe_string(p.import, p.prices_as_strings),
            "old": 0,
            "wholesale": maybe_string(p.wholesale, p.prices_as_strings),
            "avgCost": maybe_string(p.import, p.prices_as_strings),
        },
        "images": {"avatar": format!("https://pos.nhanh.vn/images/{}.jpg", p.id), "others": []},
        "inventory": inventory_block(p, depots),
        "unit": "cái",
        "updatedAt": p.updated_at,
        "createdAt": p.created_at,
    })
}

/// A `product/inventory` item.
pub(crate) fn inventory(p: &NhanhProduct, depots: Option<&[usize]>) -> Value {
    let mut block = inventory_block(p, depots);
    if let Some(obj) = block.as_object_mut() {
        obj.insert("productId".into(), json!(p.id));
        obj.insert("updatedAt".into(), json!(p.updated_at));
    }
    block
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
