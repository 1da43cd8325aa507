//! Every GraphQL document the Shopify connector sends, with its variables, checked against
//! Shopify's published Admin schema of every supported version (`dongbo-shopify-schema`, the
//! introspection JSON Shopify ships in `@shopify/dev-mcp`): GraphQL validation, variables
//! coerced to their declared types, nothing deprecated, and the query given to
//! `bulkOperationRunQuery` valid as a bulk query.

use std::collections::BTreeSet;

use dongbo_shopify_schema::{Schema, SUPPORTED_VERSIONS};
use dongbo_workflows::connectors::shopify::sent::{sent_documents, SentDocument};

/// The files that hold the connector's GraphQL documents.
const SOURCES: [(&str, &str); 3] = [
    ("documents.rs", include_str!("../src/connectors/shopify/documents.rs")),
    ("mutations.rs", include_str!("../src/connectors/shopify/mutations.rs")),
    ("bulk.rs", include_str!("../src/connectors/shopify/bulk.rs")),
];

#[test]
fn every_sent_document_is_valid_and_uses_nothing_deprecated_on_every_supported_version() {
    let mut failures = Vec::new();
    for version in SUPPORTED_VERSIONS {
        let schema = Schema::get(version).expect("a supported version has a schema");
        let documents = sent_documents(version);
        assert!(!documents.is_empty(), "{version}: no documents");
        for doc in documents {
            if let Err(errors) = schema.validate(&doc.query, &doc.variables) {
                failures.extend(errors.iter().map(|e| format!("{version} {}: {e}", doc.name)));
            }
        }
    }
    assert!(failures.is_empty(), "{} problem(s) against Shopify's schemas:\n{}", failures.len(), failures.join("\n"));
}

/// The part of a source file before its tests.
fn code(source: &str) -> &str {
    source.split("#[cfg(test)]").next().unwrap_or(source)
}

/// The names of the operations a source file defines in string literals (`"query Name…`,
/// `"mutation Name…`).
fn defined_operations(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for keyword in ["query ", "mutation "] {
        let opening = format!("\"{keyword}");
        for (at, _) in code(source).match_indices(&opening) {
            let rest = &code(source)[at + opening.len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            names.insert(name);
        }
    }
    names
}

/// How many anonymous documents (bulk queries: `"{ products …`, `format!("{{ products …`) a
/// source file holds.
fn anonymous_documents(source: &str) -> usize {
    code(source).matches("\"{ ").count() + code(source).matches("\"{{ ").count()
}

/// The operation name a document starts with.
fn operation_name(doc: &SentDocument) -> String {
    let text = doc.query.trim_start();
    let rest = text.strip_prefix("query ").or_else(|| text.strip_prefix("mutation ")).unwrap_or("");
    rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

#[test]
fn the_sent_list_holds_every_document_the_connector_defines() {
    let defined: BTreeSet<String> = SOURCES.iter().flat_map(|(_, s)| defined_operations(s)).collect();
    let anonymous: usize = SOURCES.iter().map(|(_, s)| anonymous_documents(s)).sum();
    assert!(defined.len() >= 12 && anonymous >= 2, "the scan finds the documents: {defined:?}, {anonymous}");
    for version in SUPPORTED_VERSIONS {
        let documents = sent_documents(version);
        let sent: BTreeSet<String> = documents.iter().map(operation_name).collect();
        let missing: Vec<&String> = defined.difference(&sent).collect();
        assert!(missing.is_empty(), "{version}: defined but not in sent_documents: {missing:?}");
        let bulk_queries: BTreeSet<&str> = documents
            .iter()
            .filter(|d| d.query.contains("bulkOperationRunQuery"))
            .filter_map(|d| d.variables["query"].as_str())
            .collect();
        assert!(
            bulk_queries.len() >= anonymous,
            "{version}: {anonymous} bulk queries defined, {} sent through bulkOperationRunQuery",
            bulk_queries.len()
        );
    }
}
