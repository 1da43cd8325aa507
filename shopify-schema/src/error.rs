//! What a refused document or request is told.

use std::fmt;

use apollo_compiler::parser::{SourceMap, SourceSpan};
use apollo_compiler::validation::DiagnosticList;

/// A version this crate holds no schema for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no vendored Shopify Admin schema for API version {requested:?} (have: {})", crate::SUPPORTED_VERSIONS.join(", "))]
pub struct UnknownVersion {
    /// The version asked for.
    pub requested: String,
}

/// Which check refused a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text is not GraphQL.
    Syntax,
    /// The document breaks a GraphQL validation rule against the schema (unknown field or type,
    /// wrong argument, undefined variable, unknown directive, …).
    Invalid,
    /// A variable's value does not coerce to its declared type.
    Variables,
    /// The document or a variable uses a deprecated field, argument, input field or enum value.
    Deprecated,
    /// The query given to `bulkOperationRunQuery` breaks a bulk rule or the schema.
    Bulk,
}

impl ErrorKind {
    /// The `extensions.code` a GraphQL reply names this kind with.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntaxError",
            ErrorKind::Invalid => "validationFailed",
            ErrorKind::Variables => "invalidVariable",
            ErrorKind::Deprecated => "deprecated",
            ErrorKind::Bulk => "invalidBulkQuery",
        }
    }
}

/// A line and column in the document, both from 1 (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

/// One reason a document or request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Which check refused it.
    pub kind: ErrorKind,
    /// What is wrong, naming the type, field or variable concerned.
    pub message: String,
    /// Where in the document, when known.
    pub locations: Vec<Location>,
    /// The path inside a variable's value (`["input", "quantities", "0"]`), when the error is there.
    pub path: Vec<String>,
}

impl SchemaError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SchemaError { kind, message: message.into(), locations: Vec::new(), path: Vec::new() }
    }

    pub(crate) fn at(mut self, location: Option<Location>) -> Self {
        self.locations.extend(location);
        self
    }

    pub(crate) fn with_path(mut self, path: &[String]) -> Self {
        self.path = path.to_vec();
        self
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)?;
        if !self.path.is_empty() {
            write!(f, " (at {})", self.path.join("."))?;
        }
        for l in &self.locations {
            write!(f, " [{}:{}]", l.line, l.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for SchemaError {}

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
