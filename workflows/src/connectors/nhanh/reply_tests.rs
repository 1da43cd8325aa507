use serde_json::{json, Value};

use super::*;
use crate::connectors::nhanh::types::{NhanhCustomer, NhanhProduct};

const NOW: i64 = 1_733_387_510;

/// What a reply should read as, in a form that is easy to write down.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Ids of the rows, the `next` cursor, `totalItems`.
    Page(Vec<u64>, Option<Value>, Option<u64>),
    /// Locked for this many seconds.
    Locked(u64),
    Transient(&'static str),
    Permanent(&'static str),
    Malformed(&'static str),
}

fn summarise<T>(outcome: Outcome<NhanhPage<T>>, id: impl Fn(&T) -> u64) -> Result<Expect, String> {
    match outcome {
        Outcome::Page(p) => Ok(Expect::Page(p.items.iter().map(id).collect(), p.next, p.total_items)),
        Outcome::Locked { locked_for, .. } => Ok(Expect::Locked(locked_for.as_secs())),
        Outcome::Failed(e) => Err(e.to_string()),
    }
}

fn check_with<T: serde::de::DeserializeOwned>(status: u16, body: &str, expect: Expect, id: impl Fn(&T) -> u64) {
    let got = summarise(read_reply::<T>("customer/list", status, body.as_bytes(), NOW), id);
    match (&got, &expect) {
        (Ok(g), e) if g == e => {}
        (Err(msg), Expect::Transient(want)) => {
            assert!(msg.starts_with("transient") && msg.contains(want), "{body}: {msg}")
        }
        (Err(msg), Expect::Permanent(want)) => {
            assert!(msg.starts_with("permanent") && msg.contains(want), "{body}: {msg}")
        }
        (Err(msg), Expect::Malformed(want)) => {
            assert!(msg.starts_with("malformed") && msg.contains(want), "{body}: {msg}")
        }
        _ => panic!("HTTP {status} {body}\n got {got:?}\n expected {expect:?}"),
    }
}

fn check(status: u16, body: &str, expect: Expect) {
    check_with::<NhanhCustomer>(status, body, expect, |c| c.id)
}

#[test]
fn pages_carry_their_rows_the_cursor_to_echo_and_the_first_page_total() {
    check(
        200,
        r#"{"code":1,"paginator":{"next":{"id":"xxx"},"totalItems":"250"},"data":[{"id":3},{"id":"2"}]}"#,
        Expect::Page(vec![3, 2], Some(json!({"id": "xxx"})), Some(250)),
    );
    check(200, r#"{"code":"1","paginator":{"next":null},"data":[{"id":1}]}"#, Expect::Page(vec![1], None, None));
    check(200, r#"{"code":1,"data":[]}"#, Expect::Page(vec![], None, None));
    check(200, r#"{"code":1,"data":null,"paginator":[]}"#, Expect::Page(vec![], None, None));
    check(200, r#"{"code":1,"data":{"7":{"name":"A"},"8":{"id":8}}}"#, Expect::Page(vec![7, 8], None, None));
    check(200, r#"{"code":1,"totalItems":5,"data":[]}"#, Expect::Page(vec![], None, Some(5)));
}

#[test]
fn a_cursor_is_echoed_exactly_whatever_its_shape() {
    let next = json!({"id": 17, "updatedAt": "2024-01-01", "nested": [1, {"x": null}]});
    let body = json!({"code": 1, "paginator": {"next": next}, "data": []}).to_string();
    check(200, &body, Expect::Page(vec![], Some(next), None));
}

#[test]
fn rate_limit_replies_lock_for_the_time_they_name() {
    check(
        200,
        r#"{"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds":10,"unlockedAt":1733387520}}"#,
        Expect::Locked(10),
    );
    check(
        429,
        r#"{"code":0,"errorCode":"ERR_EXCEEDED_RATE_LIMIT","messages":"slow down","data":{"unlockedAt":"1733387525"}}"#,
        Expect::Locked(15),
    );
    check(429, r#"{"code":0,"errorCode":"ERR_429"}"#, Expect::Locked(30));
    check(429, "Too Many Requests", Expect::Locked(30));
}

#[test]
fn both_error_shapes_become_permanent_errors_naming_the_code_and_the_messages() {
    check(
        200,
        r#"{"code":0,"errorCode":"ERR_INVALID_FORM_FIELDS","messages":{"customer.mobile":"invalid"}}"#,
        Expect::Permanent("customer/list: ERR_INVALID_FORM_FIELDS: customer.mobile: invalid"),
    );
    check(
        200,
        r#"{"code":0,"errorCode":"ERR_INVALID_ACCESS_TOKEN","messages":"Token expired"}"#,
        Expect::Permanent("ERR_INVALID_ACCESS_TOKEN: Token expired"),
    );
    check(
        401,
        r#"{"code":0,"errorCode":"ERR_INVALID_APP_ID","message":["a","b"]}"#,
        Expect::Permanent("ERR_INVALID_APP_ID: a; b"),
    );
    check(403, "<html>Forbidden</html>", Expect::Permanent("HTTP 403, body not JSON"));
}

#[test]
fn server_errors_are_transient_whatever_their_body() {
    check(502, "<html>Bad gateway</html>", Expect::Transient("customer/list: HTTP 502"));
    check(500, r#"{"code":0,"errorCode":"ERR_500","messages":"oops"}"#, Expect::Transient("HTTP 500 ERR_500: oops"));
}

#[test]
fn bodies_of_the_wrong_shape_are_malformed_with_a_clear_reason() {
    check(200, "", Expect::Malformed("customer/list reply: not JSON"));
    check(200, "{\"code\":1,\"data\":[", Expect::Malformed("not JSON"));
    check(200, "[1,2]", Expect::Malformed("expected an object, got an array"));
    check(200, r#"{"data":[]}"#, Expect::Malformed("customer/list reply: missing field `code`"));
    check(200, r#"{"code":"yes"}"#, Expect::Malformed("field `code` is \"yes\""));
    check(200, r#"{"code":1,"data":"none"}"#, Expect::Malformed("field `data` is a string"));
    check(200, r#"{"code":1,"data":[{"id":1},{"name":"no id"}]}"#, Expect::Malformed("item 1: missing field `id`"));
    check(200, r#"{"code":1,"data":[{"id":"abc"}]}"#, Expect::Malformed("item 0: expected a number, got \"abc\""));
    check(
        200,
        r#"{"code":1,"paginator":{"totalItems":"many"},"data":[]}"#,
        Expect::Malformed("`totalItems` is not a count"),
    );
    check(200, r#"{"code":0,"messages":"?"}"#, Expect::Malformed("code 0 without `errorCode`"));
}

#[test]
fn real_shaped_customers_decode_with_strings_for_numbers_and_nulls() {
    let body = r#"{"code":1,"data":[{
        "id":"1024","type":"1","name":"Nguyễn Văn A","mobile":"0988992942","code":null,
        "gender":null,"address":"","birthday":null,"points":"12","startedDate":null,"taxCode":null,
        "locations":{"cityId":1},"level":[],"group":{"id":"3","name":"VIP"},
        "totalAmount":"1500000","updatedAt":"1733387520"}]}"#;
    let Outcome::Page(page) = read_reply::<NhanhCustomer>("customer/list", 200, body.as_bytes(), NOW) else {
        panic!("not a page")
    };
    let c = &page.items[0];
    assert_eq!(c.id, 1024);
    assert_eq!(c.kind, Some(1));
    assert_eq!(c.mobile.as_deref(), Some("0988992942"));
    assert_eq!(c.points, Some(12.0));
    assert_eq!(c.level, None);
    assert_eq!(c.group.as_ref().and_then(|g| g.id), Some(3));
    assert_eq!(c.total_amount, Some(1_500_000.0));
    assert_eq!(c.updated_at, Some(1_733_387_520));
}

#[test]
fn real_shaped_products_decode_with_per_depot_stock() {
    let body = r#"{"code":1,"data":[{
        "id":5001,"parentId":"-1","code":12345,"barcode":null,"name":"Áo thun","status":"2",
        "prices":{"retail":"199000","import":150000,"old":null,"wholesale":"","avgCost":null},
        "images":{"avatar":null,"others":[]},
        "inventory":{"remain":"10","available":8,"depots":{"11":{"available":"5","remain":6},"12":{"id":12,"available":3}}},
        "updatedAt":1733387520,"createdAt":"2024-01-01 00:00:00"}]}"#;
    let Outcome::Page(page) = read_reply::<NhanhProduct>("product/list", 200, body.as_bytes(), NOW) else {
        panic!("not a page")
    };
    let p = &page.items[0];
    assert_eq!((p.id, p.parent_id, p.code.as_deref(), p.status), (5001, Some(-1), Some("12345"), Some(2)));
    assert_eq!(p.prices.as_ref().unwrap().retail, Some(199_000.0));
    let inv = p.inventory.as_ref().unwrap();
    let depots: Vec<(u64, Option<f64>)> = inv.depots.iter().map(|d| (d.id, d.available)).collect();
    assert_eq!(depots, vec![(11, Some(5.0)), (12, Some(3.0))]);
    assert_eq!(p.created_at, Some(1_704_042_000));
    check_with::<NhanhProduct>(
        200,
        r#"{"code":1,"data":[{"id":1,"inventory":{"depots":[{"available":1}]}}]}"#,
        Expect::Malformed("item 0: missing field `id`"),
        |p| p.id,
    );
}
