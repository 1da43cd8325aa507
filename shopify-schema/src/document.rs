//! A document checked against one schema, and the checks each request's variables still need.

use apollo_compiler::ast::{OperationType, Value as Literal};
use apollo_compiler::executable::{ExecutableDocument, Selection};
use apollo_compiler::parser::{Parser, SourceMap, SourceSpan};
use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::{DiagnosticList, Valid};
use apollo_compiler::Name;
use serde::Deserialize;

use crate::error::{ErrorKind, Location, SchemaError};
use crate::{bulk, deprecation, Schema};

/// The mutation whose `query` argument is itself a document over the same schema.
const BULK_QUERY_FIELD: &str = "bulkOperationRunQuery";

/// A document that passed every check that does not depend on the request's variables.
#[derive(Debug)]
pub struct Prepared<'s> {
    schema: &'s Schema,
    document: Valid<ExecutableDocument>,
    /// Variables whose value is a bulk query: (operation name, variable, where it is used).
    bulk_variables: Vec<(Option<Name>, Name, Option<Location>)>,
}

impl<'s> Prepared<'s> {
    pub(crate) fn new(schema: &'s Schema, text: &str) -> Result<Self, Vec<SchemaError>> {
        let ast =
            Parser::new().parse_ast(text, "document.graphql").map_err(|e| diagnostics(ErrorKind::Syntax, &e.errors))?;
        let document =
            ast.to_executable_validate(&schema.compiled).map_err(|e| diagnostics(ErrorKind::Invalid, &e.errors))?;
        let mut errors = deprecation::in_document(&schema.compiled, &document);
        let mut bulk_variables = Vec::new();
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
                match arg.value.as_ref() {
                    Literal::String(query) => errors.extend(bulk::check(&schema.compiled, query, at)),
                    Literal::Variable(name) => bulk_variables.push((op.name.clone(), name.clone(), at)),
                    _ => {}
                }
            }
        }
        if errors.is_empty() {
            Ok(Prepared { schema, document, bulk_variables })
        } else {
            Err(errors)
        }
    }

    /// The schema this document was checked against.
    pub fn schema(&self) -> &'s Schema {
        self.schema
    }

    /// Checks one request's `variables` (a JSON object, or null) for the operation
    /// `operation_name` (required when the document has several): every declared variable
    /// coerces to its type (required ones present, scalars of the right kind, known input fields
    /// and enum values, lists), `@oneOf` inputs carry exactly one field, nothing deprecated is
    /// used, and a query passed to `bulkOperationRunQuery` is a valid bulk query.
    pub fn check_variables(
        &self,
        operation_name: Option<&str>,
        variables: &serde_json::Value,
    ) -> Result<(), Vec<SchemaError>> {
        let op = self
            .document
            .operations
            .get(operation_name)
            .map_err(|e| vec![SchemaError::new(ErrorKind::Invalid, e.message().to_string())])?;
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
        for (op_name, var, at) in &self.bulk_variables {
            if op_name != &op.name {
                continue;
            }
            match variables.get(var.as_str()).and_then(serde_json::Value::as_str) {
                Some(query) => errors.extend(bulk::check(&self.schema.compiled, query, *at)),
                None => errors.push(
                    SchemaError::new(ErrorKind::Bulk, format!("{BULK_QUERY_FIELD}: variable ${var} carries no query"))
                        .at(*at),
                ),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Where a node is, as a line and column.
pub(crate) fn location(span: Option<SourceSpan>, sources: &SourceMap) -> Option<Location> {
    let lc = span?.line_column(sources)?;
    Some(Location { line: lc.line, column: lc.column })
}

/// The compiler's diagnostics as errors of `kind`.
pub(crate) fn diagnostics(kind: ErrorKind, list: &DiagnosticList) -> Vec<SchemaError> {
    list.iter()
        .map(|d| {
            let json = d.to_json();
            let mut e = SchemaError::new(kind, json.message);
            e.locations = json.locations.iter().map(|l| Location { line: l.line, column: l.column }).collect();
            e
        })
        .collect()
}
