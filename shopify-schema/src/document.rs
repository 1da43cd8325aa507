//! A document checked against one schema, and the checks each request's variables still need.

use apollo_compiler::ast::{OperationType, Value as Literal};
use apollo_compiler::executable::{ExecutableDocument, Operation, Selection};
use apollo_compiler::parser::Parser;
use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use apollo_compiler::Name;
use serde::Deserialize;

use crate::error::{diagnostics, location, ErrorKind, Location, SchemaError};
use crate::{bulk, deprecation, Schema};

/// The mutation whose `query` argument is itself a document over the same schema.
const BULK_QUERY_FIELD: &str = "bulkOperationRunQuery";

/// A document that passed every check that does not depend on the request's variables.
#[derive(Debug)]
pub struct Prepared<'s> {
    schema: &'s Schema,
    document: Valid<ExecutableDocument>,
    /// The queries given to `bulkOperationRunQuery`: (operation name, the query, where).
    bulk_queries: Vec<(Option<Name>, BulkQuery, Option<Location>)>,
}

/// How a document gives `bulkOperationRunQuery` its query.
#[derive(Debug)]
enum BulkQuery {
    Literal(String),
    Variable(Name),
}

impl<'s> Prepared<'s> {
    pub(crate) fn new(schema: &'s Schema, text: &str) -> Result<Self, Vec<SchemaError>> {
        let ast =
            Parser::new().parse_ast(text, "document.graphql").map_err(|e| diagnostics(ErrorKind::Syntax, &e.errors))?;
        let document =
            ast.to_executable_validate(&schema.compiled).map_err(|e| diagnostics(ErrorKind::Invalid, &e.errors))?;
        let errors = deprecation::in_document(&schema.compiled, &document);
        let mut bulk_queries = Vec::new();
        for op in document.operations.iter() {
            if op.operation_type != OperationType::Mutation {
                continue;
            }
            for selection in &op.selection_set.selections {
                let Selection::Field(field) = selection else { continue };
                if field.name != BULK_QUERY_FIELD {
                    continue;
                }
                let Some(arg) = field.arguments.iter().find(|a| a.name == "query") else { continue };
                let at = location(arg.location(), &document.sources);
                let query = match arg.value.as_ref() {
                    Literal::String(query) => BulkQuery::Literal(query.clone()),
                    Literal::Variable(name) => BulkQuery::Variable(name.clone()),
                    _ => continue,
                };
                bulk_queries.push((op.name.clone(), query, at));
            }
        }
        if errors.is_empty() {
            Ok(Prepared { schema, document, bulk_queries })
        } else {
            Err(errors)
        }
    }

    /// The schema this document was checked against.
    pub fn schema(&self) -> &'s Schema {
        self.schema
    }

    /// The operation `operation_name` names (required when the document has several).
    fn operation(&self, operation_name: Option<&str>) -> Result<&Operation, Vec<SchemaError>> {
        self.document
            .operations
            .get(operation_name)
            .map(|op| &**op)
            .map_err(|e| vec![SchemaError::new(ErrorKind::Invalid, e.message().to_string())])
    }

    /// Checks one request's `variables` (a JSON object, or null) for the operation
    /// `operation_name` (required when the document has several): every declared variable
    /// coerces to its type (required ones present, scalars of the right kind, known input fields
    /// and enum values, lists), `@oneOf` inputs carry exactly one field, and nothing deprecated
    /// is used.
    pub fn check_variables(
        &self,
        operation_name: Option<&str>,
        variables: &serde_json::Value,
    ) -> Result<(), Vec<SchemaError>> {
        let op = self.operation(operation_name)?;
        let values = match variables {
            serde_json::Value::Null => JsonMap::new(),
            serde_json::Value::Object(_) => JsonMap::deserialize(variables)
                .map_err(|e| vec![SchemaError::new(ErrorKind::Variables, format!("variables: {e}"))])?,
            _ => return Err(vec![SchemaError::new(ErrorKind::Variables, "variables must be a JSON object")]),
        };
        apollo_compiler::request::coerce_variable_values(&self.schema.compiled, op, &values).map_err(|e| {
            let at = e.location().and_then(|span| location(Some(span), &self.document.sources));
            vec![SchemaError::new(ErrorKind::Variables, e.message().to_string()).at(at)]
        })?;
        let mut errors = Vec::new();
        for def in &op.variables {
            if let Some(value) = variables.get(def.name.as_str()) {
                let at = location(def.location(), &self.document.sources);
                let mut path = vec![def.name.to_string()];
                deprecation::in_variable(&self.schema.compiled, &def.ty, value, &mut path, at, &mut errors);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Checks each query the operation `operation_name` gives `bulkOperationRunQuery` (as a
    /// literal or through `variables`) as a bulk query over the same schema. Shopify answers a
    /// bad one with `userErrors` on the mutation, not as a refused request, so this is apart
    /// from [`Prepared::check_variables`].
    pub fn check_bulk_queries(
        &self,
        operation_name: Option<&str>,
        variables: &serde_json::Value,
    ) -> Result<(), Vec<SchemaError>> {
        let op = self.operation(operation_name)?;
        let mut errors = Vec::new();
        for (op_name, query, at) in &self.bulk_queries {
            if op_name != &op.name {
                continue;
            }
            let text = match query {
                BulkQuery::Literal(text) => Some(text.as_str()),
                BulkQuery::Variable(var) => variables.get(var.as_str()).and_then(serde_json::Value::as_str),
            };
            match text {
                Some(text) => errors.extend(bulk::check(&self.schema.compiled, text, *at)),
                None => errors
                    .push(SchemaError::new(ErrorKind::Bulk, format!("{BULK_QUERY_FIELD}: no query given")).at(*at)),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
