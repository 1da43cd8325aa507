//! Fuzzing the parsers that read what the outside world sends: Nhanh and Shopify replies, bulk
//! JSONL lines and phone fields. Whatever arrives, they answer with a value or an error — never a
//! panic. Inputs are arbitrary bytes and JSON built from the real field names, so the generator
//! reaches deep into the real shapes; the case count bounds the run for CI.

use dongbo_workflows::connectors::nhanh::reply as nhanh_reply;
use dongbo_workflows::connectors::nhanh::{NhanhCustomer, NhanhProduct};
use dongbo_workflows::connectors::shopify::bulk::{parse_customer_line, parse_product_line};
use dongbo_workflows::connectors::shopify::reply as shopify_reply;
use dongbo_workflows::keys::{normalize_phone_line, PhoneKey};
use proptest::prelude::*;
use serde_json::{Map, Value};

const NAMES: &[&str] = &[
    "code",
    "data",
    "paginator",
    "next",
    "totalItems",
    "errorCode",
    "message",
    "messages",
    "lockedSeconds",
    "unlockedAt",
    "id",
    "parentId",
    "name",
    "mobile",
    "totalAmount",
    "updatedAt",
    "inventory",
    "depots",
    "available",
    "remain",
    "prices",
    "retail",
    "barcode",
    "type",
    "errors",
    "extensions",
    "cost",
    "requestedQueryCost",
    "actualQueryCost",
    "throttleStatus",
    "maximumAvailable",
    "currentlyAvailable",
    "restoreRate",
    "edges",
    "node",
    "pageInfo",
    "hasNextPage",
    "endCursor",
    "customers",
    "products",
    "variants",
    "sku",
    "inventoryItem",
    "defaultPhoneNumber",
    "phoneNumber",
    "amountSpent",
    "amount",
    "__parentId",
    "userErrors",
    "field",
    "bulkOperation",
    "status",
    "url",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9]{0,12}".prop_map(Value::String),
        ".{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())),
        ]
    })
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![Just(200u16), Just(401), Just(404), Just(429), Just(500), Just(503), 100u16..600]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn nhanh_replies_of_any_shape_never_panic(status in status(), body in json(), now in any::<i64>()) {
        let bytes = body.to_string().into_bytes();
        let _ = nhanh_reply::read_reply::<NhanhCustomer>("customer/list", status, &bytes, now);
        let _ = nhanh_reply::read_reply::<NhanhProduct>("product/list", status, &bytes, now);
    }

    #[test]
    fn nhanh_replies_of_arbitrary_bytes_never_panic(status in status(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = nhanh_reply::read_reply::<NhanhCustomer>("customer/list", status, &body, 1_700_000_000);
    }

    #[test]
    fn shopify_replies_of_any_shape_never_panic(status in status(), body in json()) {
        let _ = shopify_reply::read_reply("customers page", status, body.to_string().as_bytes());
    }

    #[test]
    fn shopify_replies_of_arbitrary_bytes_never_panic(status in status(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = shopify_reply::read_reply("products page", status, &body);
    }

    #[test]
    fn bulk_lines_of_any_shape_never_panic(line in json(), raw in ".{0,200}") {
        let _ = parse_product_line(&line.to_string());
        let _ = parse_customer_line(&line.to_string());
        let _ = parse_product_line(&raw);
        let _ = parse_customer_line(&raw);
    }

    #[test]
    fn phone_fields_of_any_text_never_panic(raw in ".{0,64}", digits in "[0-9 .()+/-]{0,40}") {
        let _ = PhoneKey::parse_all(&raw);
        let _ = PhoneKey::parse_all(&digits);
        let line = normalize_phone_line(&digits);
        prop_assert!(!line.is_empty());
    }
}
