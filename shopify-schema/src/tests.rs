//! Real documents against the real schemas: what passes, and each way one is refused.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::*;

const PRODUCTS_PAGE: &str = "query ProductsPage($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    edges { node { id title handle status updatedAt
      variants(first: 10) { edges { node { id sku barcode price inventoryQuantity inventoryItem { id } } } } } }
  }
}";

const BULK_RUN: &str = "mutation BulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message } }
}";

const PRODUCTS_BULK: &str = "{ products { edges { node { id title variants { edges { node { id sku } } } } } } }";

const INVENTORY_SET: &str = "mutation InventorySet($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) { userErrors { code field message } }
}";

const CUSTOMER_SET: &str = "mutation CustomerSet($identifier: CustomerSetIdentifiers, $input: CustomerSetInput!) {
  customerSet(identifier: $identifier, input: $input) { customer { id } userErrors { code field message } }
}";

/// Checks `document` with `variables` on every supported version: `Ok(())`, or the kinds of
/// the errors with a piece each message must hold.
fn check(document: &str, variables: Value, expect: Result<(), &[(ErrorKind, &str)]>) {
    for version in SUPPORTED_VERSIONS {
        let got = Schema::get(version).expect("supported").validate(document, &variables);
        match (&got, expect) {
            (Ok(()), Ok(())) => {}
            (Err(errors), Err(wanted)) => {
                assert_eq!(errors.len(), wanted.len(), "{version}: {errors:#?}");
                for (e, (kind, piece)) in errors.iter().zip(wanted) {
                    assert_eq!(e.kind, *kind, "{version}: {e}");
                    assert!(e.message.contains(piece), "{version}: {e} should mention {piece}");
                }
            }
            _ => panic!("{version}: got {got:#?}, expected {expect:?}"),
        }
    }
}

#[test]
fn embedded_schemas_match_their_published_checksums() {
    let provenance = include_str!("../PROVENANCE.md");
    assert_eq!(VENDORED.len(), SUPPORTED_VERSIONS.len());
    for (version, bytes) in SUPPORTED_VERSIONS.iter().zip(VENDORED) {
        let file = format!("| data/admin_{version}.json.gz | ");
        let line = provenance.lines().find(|l| l.starts_with(&file)).unwrap_or_else(|| panic!("{version} listed"));
        let listed = line[file.len()..].trim_end_matches(" |").trim();
        let actual: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(actual, listed, "{version}");
    }
    assert!(provenance.contains("@shopify/dev-mcp") && provenance.contains("1.16.0"));
    assert!(include_str!("../LICENSE-ISC").starts_with("ISC License"));
}

#[test]
fn every_supported_version_builds_with_shopifys_own_directives() {
    for version in SUPPORTED_VERSIONS {
        let schema = Schema::get(version).expect("supported");
        assert_eq!(schema.version(), *version);
        let directives = &schema.compiled().directive_definitions;
        assert!(directives.contains_key("idempotent"), "{version}: @idempotent comes from the introspection");
        assert!(directives.contains_key("oneOf"), "{version}");
        assert!(std::ptr::eq(schema, Schema::get(version).expect("supported")), "parsed once");
    }
}

#[test]
fn an_unsupported_version_has_no_schema_and_is_answered_by_the_oldest_supported() {
    let err = Schema::get("2025-10").expect_err("2025-10 left support");
    assert_eq!(err.requested, "2025-10");
    assert!(err.to_string().contains("2026-01, 2026-04, 2026-07, 2026-10"), "{err}");
    for (asked, answered) in
        [("2025-10", "2026-01"), ("2024-01", "2026-01"), ("latest", "2026-01"), ("", "2026-01"), ("2026-07", "2026-07")]
    {
        assert_eq!(answering_version(asked), answered, "{asked:?}");
    }
}

#[test]
fn a_products_page_with_its_variables_is_valid() {
    check(PRODUCTS_PAGE, json!({"first": 43, "after": "eyJsYXN0X2lkIjoxfQ==", "query": "status:active"}), Ok(()));
    check(PRODUCTS_PAGE, json!({"first": 43}), Ok(()));
    check("query { productsCount(limit: null) { count precision } }", Value::Null, Ok(()));
}

#[test]
fn an_unknown_field_or_a_syntax_error_is_refused_with_where_it_is() {
    let doc = "query { products(first: 5) {\n  nodes { id shoeSize } } }";
    check(doc, json!({}), Err(&[(ErrorKind::Invalid, "shoeSize")]));
    let errors = Schema::get("2026-10").expect("supported").validate(doc, &json!({})).expect_err("invalid");
    assert_eq!(errors[0].locations, vec![Location { line: 2, column: 14 }]);
    check("{ products(first: 5) { nodes { id } }", json!({}), Err(&[(ErrorKind::Syntax, "syntax error")]));
    check(
        "mutation M($key: String!) { metafieldsDelete(metafields: []) @idempotency(key: $key) { userErrors { message } } }",
        json!({"key": "k"}),
        Err(&[(ErrorKind::Invalid, "idempotency")]),
    );
}

#[test]
fn variables_are_coerced_to_their_declared_types() {
    check(PRODUCTS_PAGE, json!({"first": "ten"}), Err(&[(ErrorKind::Variables, "Int")]));
    check(PRODUCTS_PAGE, json!({}), Err(&[(ErrorKind::Variables, "first")]));
    check(PRODUCTS_PAGE, json!({"first": 5, "query": 7}), Err(&[(ErrorKind::Variables, "String")]));
    check(PRODUCTS_PAGE, json!([1]), Err(&[(ErrorKind::Variables, "object")]));
    let quantity = json!({"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": "gid://shopify/Location/1",
                          "quantity": 3, "changeFromQuantity": 1});
    let input = |extra: Value| {
        let mut input = json!({"name": "available", "reason": "correction", "quantities": [quantity.clone()]});
        input.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        json!({"input": input, "key": "job-1:step-2"})
    };
    check(INVENTORY_SET, input(json!({})), Ok(()));
    check(INVENTORY_SET, input(json!({"quantities": quantity.clone()})), Ok(()));
    check(INVENTORY_SET, input(json!({"shoeSize": 1})), Err(&[(ErrorKind::Variables, "shoeSize")]));
    check(
        INVENTORY_SET,
        input(json!({"quantities": [{"quantity": 3}]})),
        Err(&[(ErrorKind::Variables, "inventoryItemId")]),
    );
    let enum_doc = "query Orders($key: OrderSortKeys) { orders(first: 1, sortKey: $key) { nodes { id } } }";
    check(enum_doc, json!({"key": "PROCESSED_AT"}), Ok(()));
    check(enum_doc, json!({"key": "SHOE_SIZE"}), Err(&[(ErrorKind::Variables, "OrderSortKeys")]));
}

#[test]
fn the_inventory_input_of_2026_01_is_deprecated_there_and_gone_from_2026_04() {
    let vars = json!({"input": {"name": "available", "reason": "correction", "ignoreCompareQuantity": true,
        "quantities": [{"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": "gid://shopify/Location/1", "quantity": 3}]},
        "key": "k"});
    let old = Schema::get("2026-01").expect("supported").validate(INVENTORY_SET, &vars).expect_err("deprecated");
    assert_eq!(old.len(), 1, "{old:#?}");
    assert_eq!(old[0].kind, ErrorKind::Deprecated);
    assert!(old[0].message.contains("InventorySetQuantitiesInput.ignoreCompareQuantity"), "{}", old[0]);
    assert_eq!(old[0].path, ["input", "ignoreCompareQuantity"]);
    for version in ["2026-04", "2026-07", "2026-10"] {
        let errors = Schema::get(version).expect("supported").validate(INVENTORY_SET, &vars).expect_err("unknown");
        assert_eq!(errors[0].kind, ErrorKind::Variables, "{version}: {}", errors[0]);
        assert!(errors[0].message.contains("ignoreCompareQuantity"), "{version}: {}", errors[0]);
    }
}

#[test]
fn anything_deprecated_is_refused_with_its_reason() {
    check(
        "{ products(first: 1) { nodes { id bodyHtml } } }",
        json!({}),
        Err(&[(ErrorKind::Deprecated, "Product.bodyHtml")]),
    );
    check(
        "query { currentBulkOperation(type: QUERY) { id status } }",
        json!({}),
        Err(&[(ErrorKind::Deprecated, "QueryRoot.currentBulkOperation is deprecated: Use `bulkOperations`")]),
    );
    check(
        "{ webhookSubscriptions(first: 1, callbackUrl: \"https://example.com\") { nodes { id } } }",
        json!({}),
        Err(&[(ErrorKind::Deprecated, "webhookSubscriptions(callbackUrl:)")]),
    );
    let input =
        json!({"input": {"id": "gid://shopify/Customer/1", "firstName": "An"}, "identifier": {"email": "a@b.c"}});
    check(CUSTOMER_SET, input, Err(&[(ErrorKind::Deprecated, "CustomerSetInput.id")]));
}

#[test]
fn a_one_of_input_takes_exactly_one_field() {
    let vars = |identifier: Value| json!({"identifier": identifier, "input": {"firstName": "An"}});
    check(CUSTOMER_SET, vars(json!({"phone": "+84988992942"})), Ok(()));
    check(CUSTOMER_SET, vars(Value::Null), Ok(()));
    check(
        CUSTOMER_SET,
        vars(json!({"phone": "+84988992942", "email": "a@b.c"})),
        Err(&[(ErrorKind::Variables, "@oneOf")]),
    );
}

#[test]
fn the_bulk_query_is_checked_as_a_query_over_the_same_schema() {
    check(BULK_RUN, json!({"query": PRODUCTS_BULK}), Ok(()));
    let literal =
        format!("mutation {{ bulkOperationRunQuery(query: {}) {{ userErrors {{ message }} }} }}", json!(PRODUCTS_BULK));
    check(&literal, json!({}), Ok(()));
    let bad = [
        ("{ products { edges { node { id shoeSize } } } }", "shoeSize"),
        ("mutation { tagsAdd(id: \"gid://shopify/Product/1\", tags: [\"x\"]) { node { id } } }", "must be a query"),
        ("{ shop { name } }", "at least one connection"),
        ("{ products { edges { node { id bodyHtml } } } }", "bodyHtml"),
        (
            "{ products { edges { node { collections { edges { node { products { edges { node { id } } } } } } } } } }",
            "nests connections 3 deep",
        ),
        ("{ products { edges { node { id } } } customers { edges { node { id } } } }", "single top-level field"),
        ("{ products { edges { node { id } } }", "syntax error"),
    ];
    for (query, piece) in bad {
        check(BULK_RUN, json!({"query": query}), Err(&[(ErrorKind::Bulk, piece)]));
    }
    let literal = format!(
        "mutation {{ bulkOperationRunQuery(query: {}) {{ userErrors {{ message }} }} }}",
        json!("{ shop { name } }")
    );
    check(&literal, json!({}), Err(&[(ErrorKind::Bulk, "at least one connection")]));
}

#[test]
fn a_document_of_several_operations_needs_the_name_of_the_one_to_run() {
    let doc = "query A { shop { name } } query B { shop { id } }";
    let prepared = Schema::get("2026-10").expect("supported").prepare(doc).expect("valid");
    assert!(prepared.check_variables(Some("B"), &json!({})).is_ok());
    assert!(prepared.check_variables(None, &json!({})).is_err());
    assert!(prepared.check_variables(Some("C"), &json!({})).is_err());
}
