use std::time::Duration;

use serde::Deserialize;

use super::*;

/// What a reply should read as.
#[derive(Debug, PartialEq)]
enum Expect {
    /// `data` keys, and the actual cost if any.
    Data(Vec<&'static str>, Option<f64>),
    /// Throttled; the wait the server's numbers imply, in ms.
    Throttled(Option<u64>),
    Transient(&'static str),
    Permanent(&'static str),
    Malformed(&'static str),
}

fn check(status: u16, body: &str, expect: Expect) {
    let got = read_reply("customers page", status, body.as_bytes());
    let ok = match (&got, &expect) {
        (Outcome::Data(data, cost), Expect::Data(keys, actual)) => {
            let mut got_keys: Vec<&str> = data.as_object().unwrap().keys().map(String::as_str).collect();
            got_keys.sort();
            got_keys == *keys && cost.actual == *actual
        }
        (Outcome::Throttled(cost), Expect::Throttled(ms)) => {
            cost.wait_for_requested().map(|d| d.as_millis() as u64) == *ms
        }
        (Outcome::Failed(e, _), Expect::Transient(w)) => e.is_transient() && e.to_string().contains(w),
        (Outcome::Failed(e @ ConnectorError::Permanent { .. }, _), Expect::Permanent(w)) => e.to_string().contains(w),
        (Outcome::Failed(e @ ConnectorError::Malformed { .. }, _), Expect::Malformed(w)) => e.to_string().contains(w),
        _ => false,
    };
    assert!(ok, "HTTP {status} {body}\n got {got:?}\n expected {expect:?}");
}

const COST: &str = r#""extensions":{"cost":{"requestedQueryCost":102,"actualQueryCost":"27","throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":973,"restoreRate":100.0}}}"#;

#[test]
fn data_comes_back_with_its_cost() {
    check(200, &format!(r#"{{"data":{{"customers":{{}}}},{COST}}}"#), Expect::Data(vec!["customers"], Some(27.0)));
    check(200, r#"{"data":{"a":1,"b":null}}"#, Expect::Data(vec!["a", "b"], None));
    check(200, r#"{"data":{"a":1},"errors":[]}"#, Expect::Data(vec!["a"], None));
}

#[test]
fn user_errors_are_data_not_failures() {
    check(
        200,
        r#"{"data":{"metafieldsSet":{"metafields":[],"userErrors":[{"field":["metafields","3","value"],"message":"bad","code":"INVALID_VALUE"}]}}}"#,
        Expect::Data(vec!["metafieldsSet"], None),
    );
}

#[test]
fn a_throttled_reply_without_data_says_how_long_to_wait() {
    let body = r#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}],"extensions":{"cost":{"requestedQueryCost":752,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":52,"restoreRate":50.0}}}}"#;
    check(200, body, Expect::Throttled(Some(14_000)));
    check(200, r#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}"#, Expect::Throttled(None));
}

#[test]
fn other_top_level_errors_are_permanent_and_name_their_code() {
    check(
        200,
        r#"{"errors":[{"message":"Field 'bogus' doesn't exist on type 'Customer'","extensions":{"code":"undefinedField"}}]}"#,
        Expect::Permanent("customers page: undefinedField: Field 'bogus' doesn't exist"),
    );
    check(
        200,
        r#"{"errors":[{"message":"Query cost is 1502","extensions":{"code":"MAX_COST_EXCEEDED"}}]}"#,
        Expect::Permanent("MAX_COST_EXCEEDED"),
    );
    check(
        401,
        r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#,
        Expect::Permanent("HTTP 401: [API] Invalid API key"),
    );
    check(404, "Not Found", Expect::Permanent("customers page: HTTP 404"));
}

#[test]
fn server_side_failures_are_transient() {
    check(503, "<html>unavailable</html>", Expect::Transient("customers page: HTTP 503"));
    check(429, "", Expect::Transient("HTTP 429"));
    check(
        200,
        r#"{"errors":[{"message":"Internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
        Expect::Transient("INTERNAL_SERVER_ERROR"),
    );
}

#[test]
fn bodies_that_are_not_graphql_shaped_are_malformed() {
    check(200, "", Expect::Malformed("customers page reply: not JSON"));
    check(200, "{\"data\":", Expect::Malformed("not JSON"));
    check(200, "[]", Expect::Malformed("not a JSON object"));
    check(200, "{}", Expect::Malformed("customers page reply: missing field `data`"));
    check(200, r#"{"data":null}"#, Expect::Malformed("`data` is not an object"));
}

#[test]
fn decoding_data_names_the_path_that_was_wrong() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Page {
        customers: Conn,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Conn {
        edges: Vec<Edge>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Edge {
        node: Node,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Node {
        id: String,
    }
    let data = serde_json::json!({"customers": {"edges": [{"node": {"id": "a"}}, {"node": {"id": 7}}]}});
    let err = decode::<Page>("customers page reply", data).unwrap_err().to_string();
    assert!(err.contains("customers page reply: at `customers.edges[1].node.id`: invalid type: integer `7`"), "{err}");
    let err = decode::<Page>("customers page reply", serde_json::json!({})).unwrap_err().to_string();
    assert!(err.contains("missing field `customers`"), "{err}");
    assert_eq!(Cost::default().wait_for_requested(), None::<Duration>);
}
