//! Nhanh list endpoints: the paginator, filters and paging rules.
//!
//! - `paginator.size` defaults to 50 and must be an integer in `1..=max_page`;
//! - `paginator.sort` is `{<key>: "asc"|"desc"}` with each page's documented key (`id` for
//!   `product/list`, `productId` for `product/inventory`), default descending; `customer/list`
//!   documents no sort, so a sort there is refused;
//! - the reply's `paginator.next` is an opaque object to echo back; it is `null` on the last page;
//!   some pages are deliberately short and still carry a `next`;
//! - no total count: the v3 pages document none.
//! - Stock rows cover only the depots the token covers ("số tồn bị giới hạn chỉ lấy ra ở các kho
//!   được chọn", apidocs.nhanh.vn/v3/product/list); a `depotIds` filter naming another depot is
//!   `ERR_INVALID_DEPOT_ID`.

use serde_json::{json, Value};

use super::render;
use super::NhanhError;
use crate::data::draw::mix;
use crate::data::{depot_id, names::DEPOTS};
use crate::sim::Sim;

const DEFAULT_PAGE: usize = 50;

/// A parsed list request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListRequest {
    pub size: usize,
    pub descending: bool,
    /// The id of the last row of the previous page.
    pub after: Option<u64>,
    pub ids: Option<Vec<u64>>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
}

/// A number Nhanh accepts as a JSON number or numeric string.
fn loose_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn parse(body: &Value, max_page: usize, sort_key: Option<&str>) -> Result<ListRequest, NhanhError> {
    let paginator = body.get("paginator").cloned().unwrap_or(json!({}));
    let filters = body.get("filters").cloned().unwrap_or(json!({}));
    if !paginator.is_object() {
        return Err(NhanhError::field("paginator", "paginator must be an object"));
    }
    if !filters.is_object() && !filters.is_null() && filters != json!([]) {
        return Err(NhanhError::field("filters", "filters must be an object"));
    }
    let size = match paginator.get("size") {
        None | Some(Value::Null) => DEFAULT_PAGE,
        Some(v) => match loose_int(v) {
            Some(n) if n >= 1 && n as usize <= max_page => n as usize,
            _ => {
                return Err(NhanhError::field(
                    "paginator.size",
                    &format!("size must be an integer from 1 to {max_page}"),
                ))
            }
        },
    };
    let descending = match (paginator.get("sort"), sort_key) {
        (None | Some(Value::Null), _) => true,
        (Some(_), None) => return Err(NhanhError::field("paginator.sort", "this list has no sort")),
        (Some(Value::Object(sort)), Some(key)) => match (sort.len(), sort.get(key).and_then(Value::as_str)) {
            (1, Some(dir)) if dir.eq_ignore_ascii_case("desc") => true,
            (1, Some(dir)) if dir.eq_ignore_ascii_case("asc") => false,
            _ => {
                return Err(NhanhError::field(
                    "paginator.sort",
                    &format!("sort must be {{\"{key}\": \"asc\"|\"desc\"}}"),
                ))
            }
        },
        (Some(_), Some(_)) => return Err(NhanhError::field("paginator.sort", "sort must be an object")),
    };
    let after = match paginator.get("next") {
        None | Some(Value::Null) => None,
        Some(next) => Some(
            next.get("id")
                .and_then(loose_int)
                .filter(|&id| id >= 0)
                .map(|id| id as u64)
                .ok_or_else(|| NhanhError::field("paginator.next", "next is invalid; echo the one received"))?,
        ),
    };
    let ids = match filters.get("ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if items.len() > 100 {
                return Err(NhanhError::field("filters.ids", "at most 100 ids"));
            }
            let ids: Option<Vec<u64>> = items.iter().map(|v| loose_int(v).map(|n| n as u64)).collect();
            Some(ids.ok_or_else(|| NhanhError::field("filters.ids", "ids must be integers"))?)
        }
        Some(_) => return Err(NhanhError::field("filters.ids", "ids must be an array")),
    };
    let time = |name: &str| -> Result<Option<i64>, NhanhError> {
        match filters.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => loose_int(v)
                .map(Some)
                .ok_or_else(|| NhanhError::field(&format!("filters.{name}"), "must be a unix timestamp in seconds")),
        }
    };
    Ok(ListRequest {
        size,
        descending,
        after,
        ids,
        updated_from: time("updatedAtFrom")?,
        updated_to: time("updatedAtTo")?,
    })
}

/// One page: the indices of its rows and the next cursor (last id).
#[derive(Debug, PartialEq)]
pub(crate) struct Page {
    pub rows: Vec<usize>,
    pub next: Option<u64>,
}

/// First index in `0..len` whose id (ascending in the index) is not below `pred`'s cut.
fn partition(len: usize, id: &impl Fn(usize) -> u64, before: impl Fn(u64) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if before(id(mid)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Pages over `len` rows whose ids ascend with the index. `keep` is the filter; `seed` decides
/// short pages.
pub(crate) fn page(
    len: usize,
    id: impl Fn(usize) -> u64,
    keep: impl Fn(usize) -> bool,
    req: &ListRequest,
    seed: u64,
) -> Page {
    let keep = |i: usize| keep(i) && req.ids.as_ref().map_or(true, |set| set.contains(&id(i)));
    // A page is short (but not last) one time in five: clients must follow `next`, not size.
    let h = mix(seed ^ req.after.unwrap_or(0) ^ 0x5107);
    let take = if req.size >= 3 && h % 5 == 0 { req.size - 1 - (h / 5) as usize % (req.size / 3) } else { req.size };
    let order: Box<dyn Iterator<Item = usize>> = if req.descending {
        let end = match req.after {
            Some(a) => partition(len, &id, |x| x < a),
            None => len,
        };
        Box::new((0..end).rev())
    } else {
        let start = match req.after {
            Some(a) => partition(len, &id, |x| x <= a),
            None => 0,
        };
        Box::new(start..len)
    };
    let mut matching = order.filter(|&i| keep(i));
    let rows: Vec<usize> = matching.by_ref().take(take).collect();
    let more = matching.next().is_some();
    let next = if more { rows.last().map(|&i| id(i)) } else { None };
    Page { rows, next }
}

fn reply(page: &Page, data: Vec<Value>) -> Value {
    let paginator = json!({
        "next": page.next.map(|id| json!({"id": id.to_string()})),
    });
    json!({"code": 1, "paginator": paginator, "data": data})
}

fn in_range(t: i64, req: &ListRequest) -> bool {
    req.updated_from.map_or(true, |f| t >= f) && req.updated_to.map_or(true, |to| t <= to)
}

pub(crate) fn customers(sim: &Sim, body: &Value) -> Result<Value, NhanhError> {
    let req = parse(body, sim.config.nhanh.max_page, None)?;
    let world = sim.read();
    let cs = &world.nhanh_customers;
    let page =
        page(cs.len(), |i| cs[i].id, |i| in_range(world.nhanh_customers[i].updated_at, &req), &req, sim.config.seed);
    let data = page.rows.iter().map(|&i| render::customer(world.seed, &world.nhanh_customers[i])).collect();
    Ok(reply(&page, data))
}

/// The depot indices of `covered` ids (empty: every depot).
fn covered_depots(covered: &[u64]) -> Vec<usize> {
    (0..DEPOTS.len()).filter(|&d| covered.is_empty() || covered.contains(&depot_id(d))).collect()
}

/// Whether product `id` is hidden from stock replies (a simulated fault).
fn hidden(sim: &Sim, id: u64) -> bool {
    sim.nhanh_hidden.lock().unwrap_or_else(|e| e.into_inner()).contains(&id)
}

/// `product/list`; stock over the depots the token covers (`covered`, empty meaning all).
pub(crate) fn products(sim: &Sim, body: &Value, covered: &[u64]) -> Result<Value, NhanhError> {
    let req = parse(body, sim.config.nhanh.max_page, Some("id"))?;
    let depots = covered_depots(covered);
    let filters = body.get("filters").cloned().unwrap_or(json!({}));
    let name = filters.get("name").and_then(Value::as_str).map(str::to_lowercase);
    let parent = filters.get("parentId").and_then(loose_int);
    let statuses: Option<Vec<i64>> =
        filters.get("status").and_then(Value::as_array).map(|s| s.iter().filter_map(loose_int).collect());
    let world = sim.read();
    let ps = &world.nhanh_products;
    let keep = |i: usize| {
        let p = &world.nhanh_products[i];
        in_range(p.updated_at, &req)
            && !hidden(sim, p.id)
            && name.as_ref().map_or(true, |n| p.name.to_lowercase().contains(n.as_str()))
            && parent.map_or(true, |id| p.parent_id == Some(id as u64))
            && statuses.as_ref().map_or(true, |s| s.contains(&(p.status as i64)))
    };
    let page = page(ps.len(), |i| ps[i].id, keep, &req, sim.config.seed);
    let data = page.rows.iter().map(|&i| render::product(&world.nhanh_products[i], &depots)).collect();
    Ok(reply(&page, data))
}

/// `product/inventory`; stock over the depots the token covers, narrowed by `depotIds`.
pub(crate) fn inventory(sim: &Sim, body: &Value, covered: &[u64]) -> Result<Value, NhanhError> {
    let req = parse(body, sim.config.nhanh.max_page, Some("productId"))?;
    let allowed = covered_depots(covered);
    let depots: Vec<usize> = match body.get("filters").and_then(|f| f.get("depotIds")) {
        None | Some(Value::Null) => allowed,
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                let id = loose_int(item).unwrap_or(-1);
                let index = (0..DEPOTS.len()).find(|&d| depot_id(d) as i64 == id && allowed.contains(&d));
                out.push(index.ok_or_else(|| {
                    NhanhError::InvalidDepotId(format!("depot {item} does not exist or the token does not cover it"))
                })?);
            }
            out
        }
        Some(_) => return Err(NhanhError::field("filters.depotIds", "depotIds must be an array")),
    };
    let world = sim.read();
    let ps = &world.nhanh_products;
    // `updatedAtFrom`/`To` here follow stock changes ("lọc theo thời gian thay đổi số tồn").
    let keep = |i: usize| {
        let p = &world.nhanh_products[i];
        in_range(p.stock_updated_at.max(p.updated_at), &req) && !hidden(sim, p.id)
    };
    let page = page(ps.len(), |i| ps[i].id, keep, &req, sim.config.seed);
    let data = page.rows.iter().map(|&i| render::inventory(&world.nhanh_products[i], &depots)).collect();
    Ok(reply(&page, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(ids: &[u64], size: usize, descending: bool) -> Vec<u64> {
        let mut req = ListRequest { size, descending, after: None, ids: None, updated_from: None, updated_to: None };
        let mut seen = Vec::new();
        loop {
            let p = page(ids.len(), |i| ids[i], |i| ids[i] % 3 != 0, &req, 7);
            assert!(p.rows.len() <= size);
            seen.extend(p.rows.iter().map(|&i| ids[i]));
            match p.next {
                Some(next) => req.after = Some(next),
                None => return seen,
            }
        }
    }

    #[test]
    fn a_walk_by_next_visits_every_kept_row_once_in_both_orders() {
        let ids: Vec<u64> = (0..1_000).map(|i| 10 + i * 2).collect();
        let expect: Vec<u64> = ids.iter().copied().filter(|id| id % 3 != 0).collect();
        assert_eq!(walk(&ids, 37, false), expect);
        let mut desc = walk(&ids, 100, true);
        desc.reverse();
        assert_eq!(desc, expect);
    }

    #[test]
    fn some_pages_are_short_but_still_carry_next() {
        let ids: Vec<u64> = (0..5_000).collect();
        let mut req =
            ListRequest { size: 100, descending: false, after: None, ids: None, updated_from: None, updated_to: None };
        let mut short_with_next = 0;
        while let Page { rows, next: Some(next), .. } = page(ids.len(), |i| ids[i], |_| true, &req, 1) {
            if rows.len() < 100 {
                short_with_next += 1;
            }
            req.after = Some(next);
        }
        assert!(short_with_next > 0);
    }

    fn check_parse(body: Value, expect: Result<(usize, bool, Option<u64>), &str>) {
        match (parse(&body, 100, Some("id")), expect) {
            (Ok(r), Ok((size, desc, after))) => assert_eq!((r.size, r.descending, r.after), (size, desc, after)),
            (Err(NhanhError::InvalidFormFields(m)), Err(field)) => assert!(m.contains_key(field), "{m:?}"),
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn paginators_parse_or_name_the_bad_field() {
        check_parse(json!({}), Ok((50, true, None)));
        check_parse(
            json!({"paginator": {"size": 100, "sort": {"id": "asc"}, "next": {"id": "42"}}}),
            Ok((100, false, Some(42))),
        );
        check_parse(json!({"paginator": {"size": "20"}}), Ok((20, true, None)));
        check_parse(json!({"paginator": {"size": 101}}), Err("paginator.size"));
        check_parse(json!({"paginator": {"size": 0}}), Err("paginator.size"));
        check_parse(json!({"paginator": {"sort": {"name": "asc"}}}), Err("paginator.sort"));
        check_parse(json!({"paginator": {"next": "abc"}}), Err("paginator.next"));
        check_parse(json!({"filters": {"ids": (0..101).collect::<Vec<u32>>()}}), Err("filters.ids"));
        check_parse(json!({"filters": {"updatedAtFrom": "yesterday"}}), Err("filters.updatedAtFrom"));
        let inventory = parse(&json!({"paginator": {"sort": {"productId": "asc"}}}), 100, Some("productId"));
        assert!(matches!(inventory, Ok(ListRequest { descending: false, .. })), "{inventory:?}");
        let customers = parse(&json!({"paginator": {"sort": {"id": "desc"}}}), 100, None);
        assert!(matches!(customers, Err(NhanhError::InvalidFormFields(m)) if m.contains_key("paginator.sort")));
    }
}
