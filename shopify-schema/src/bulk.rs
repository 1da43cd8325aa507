//! The query given to `bulkOperationRunQuery`: a document over the same schema, with the bulk
//! rules Shopify documents that can be checked from the text alone.
//!
//! From shopify.dev (the `bulkOperationRunQuery` mutation page and "Perform bulk operations with
//! the GraphQL Admin API"): the query must include at least one connection field, supports up
//! to five connections with a maximum nesting depth of two levels, and queries a single
//! top-level field. A bulk query takes no variables (the mutation has nowhere to pass them)
//! and must be a query, not a mutation.

use apollo_compiler::executable::{ExecutableDocument, Selection, SelectionSet};
use apollo_compiler::parser::Parser;
use apollo_compiler::validation::Valid;
use apollo_compiler::Schema as Compiled;

use crate::deprecation;
use crate::error::{diagnostics, ErrorKind, Location, SchemaError};

/// Shopify's most connections in one bulk query.
const MAX_CONNECTIONS: usize = 5;

/// Shopify's deepest nesting of connections in one bulk query.
const MAX_CONNECTION_DEPTH: usize = 2;

/// Every reason `query` is not a valid bulk query; `at` is where the outer document gives it.
pub(crate) fn check(schema: &Valid<Compiled>, query: &str, at: Option<Location>) -> Vec<SchemaError> {
    inner_errors(schema, query)
        .into_iter()
        .map(|e| {
            let mut message = format!("bulkOperationRunQuery(query:): {}", e.message);
            for l in &e.locations {
                message.push_str(&format!(" (bulk query {}:{})", l.line, l.column));
            }
            SchemaError::new(ErrorKind::Bulk, message).at(at)
        })
        .collect()
}

fn inner_errors(schema: &Valid<Compiled>, query: &str) -> Vec<SchemaError> {
    let ast = match Parser::new().parse_ast(query, "bulk_query.graphql") {
        Ok(ast) => ast,
        Err(e) => return diagnostics(ErrorKind::Syntax, &e.errors),
    };
    let doc = match ast.to_executable_validate(schema) {
        Ok(doc) => doc,
        Err(e) => return diagnostics(ErrorKind::Invalid, &e.errors),
    };
    let mut errors = deprecation::in_document(schema, &doc);
    let ops: Vec<_> = doc.operations.iter().collect();
    let [op] = ops.as_slice() else {
        errors.push(SchemaError::new(ErrorKind::Bulk, "must hold exactly one operation"));
        return errors;
    };
    if op.operation_type.is_mutation() || op.operation_type.is_subscription() {
        errors.push(SchemaError::new(ErrorKind::Bulk, format!("must be a query, not a {}", op.operation_type)));
        return errors;
    }
    if !op.variables.is_empty() {
        errors.push(SchemaError::new(ErrorKind::Bulk, "must not declare variables"));
    }
    if op.selection_set.selections.len() != 1 {
        errors.push(SchemaError::new(ErrorKind::Bulk, "must select a single top-level field"));
    }
    let mut count = Connections::default();
    count.walk(&doc, &op.selection_set, 0);
    if count.total == 0 {
        errors.push(SchemaError::new(ErrorKind::Bulk, "must include at least one connection field"));
    }
    if count.total > MAX_CONNECTIONS {
        errors.push(SchemaError::new(
            ErrorKind::Bulk,
            format!("has {} connections; at most {MAX_CONNECTIONS} are allowed", count.total),
        ));
    }
    if count.deepest > MAX_CONNECTION_DEPTH {
        errors.push(SchemaError::new(
            ErrorKind::Bulk,
            format!("nests connections {} deep; at most {MAX_CONNECTION_DEPTH} levels are allowed", count.deepest),
        ));
    }
    errors
}

/// Counts connection fields (fields whose type is a `…Connection` object) and how deep they nest.
#[derive(Default)]
struct Connections {
    total: usize,
    deepest: usize,
}

impl Connections {
    fn walk(&mut self, doc: &ExecutableDocument, set: &SelectionSet, depth: usize) {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => {
                    let is_connection = field.definition.ty.inner_named_type().ends_with("Connection");
                    let depth = depth + usize::from(is_connection);
                    if is_connection {
                        self.total += 1;
                        self.deepest = self.deepest.max(depth);
                    }
                    self.walk(doc, &field.selection_set, depth);
                }
                Selection::InlineFragment(inline) => self.walk(doc, &inline.selection_set, depth),
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = doc.fragments.get(&spread.fragment_name) {
                        self.walk(doc, &fragment.selection_set, depth);
                    }
                }
            }
        }
    }
}
