//! Shopify's published Admin GraphQL schemas, one per supported API version, and a validator
//! that checks a document and its variables against them as Shopify would — and stricter:
//! nothing deprecated may be used.
//!
//! The schemas are Shopify's own introspection answers as published in the npm package
//! `@shopify/dev-mcp` (see `PROVENANCE.md`), embedded gzipped and parsed once per process.
//! This crate knows GraphQL and Shopify's schema; it knows nothing of dongbo's connectors,
//! jobs or simulator, so both the connector's tests and the simulator can depend on it.
//!
//! # Layout
//!
//! - [`introspection`]: the introspection JSON written out as SDL (directives and
//!   deprecations kept, descriptions left out).
//! - [`document`]: a checked document ([`Prepared`]) and the per-request variable checks.
//! - `deprecation`, `bulk`: the walks that refuse deprecated uses and bad bulk queries.
//! - [`error`]: [`SchemaError`], [`ErrorKind`], [`UnknownVersion`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bulk;
mod deprecation;
pub mod document;
pub mod error;
pub mod introspection;

use std::io::Read;
use std::sync::OnceLock;

use apollo_compiler::validation::Valid;

pub use document::Prepared;
pub use error::{ErrorKind, Location, SchemaError, UnknownVersion};

/// The Admin API versions Shopify supports today, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2026-01", "2026-04", "2026-07", "2026-10"];

/// The embedded introspection answers, gzipped as published, in [`SUPPORTED_VERSIONS`] order.
const VENDORED: [&[u8]; 4] = [
    include_bytes!("../data/admin_2026-01.json.gz"),
    include_bytes!("../data/admin_2026-04.json.gz"),
    include_bytes!("../data/admin_2026-07.json.gz"),
    include_bytes!("../data/admin_2026-10.json.gz"),
];

static SCHEMAS: [OnceLock<Schema>; 4] = [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];

/// The version that answers a request made for `requested`.
///
/// Shopify serves a version it no longer supports "with the same behaviour as the oldest
/// supported stable version" ("falls forward"), and a request without a version with that
/// oldest version too (shopify.dev/docs/api/usage/versioning). A string that names no
/// supported version is answered the same way.
pub fn answering_version(requested: &str) -> &'static str {
    SUPPORTED_VERSIONS.iter().copied().find(|v| *v == requested).unwrap_or(SUPPORTED_VERSIONS[0])
}

/// One version's Admin schema, validated, ready to check documents against.
pub struct Schema {
    version: &'static str,
    compiled: Valid<apollo_compiler::Schema>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("version", &self.version).finish_non_exhaustive()
    }
}

impl Schema {
    /// The schema of `version` (one of [`SUPPORTED_VERSIONS`]), built on first use and kept for
    /// the life of the process.
    ///
    /// # Panics
    ///
    /// Only if the embedded, checksummed data of a supported version fails to build — a defect
    /// of this crate that its tests rule out, never a consequence of the caller's input.
    pub fn get(version: &str) -> Result<&'static Schema, UnknownVersion> {
        let index = SUPPORTED_VERSIONS
            .iter()
            .position(|v| *v == version)
            .ok_or_else(|| UnknownVersion { requested: version.to_owned() })?;
        Ok(SCHEMAS[index].get_or_init(|| {
            let version = SUPPORTED_VERSIONS[index];
            load(version, VENDORED[index]).unwrap_or_else(|e| panic!("vendored Admin schema {version}: {e}"))
        }))
    }

    /// The API version this schema is.
    pub fn version(&self) -> &'static str {
        self.version
    }

    /// The compiled schema, for callers that want to look types up.
    pub fn compiled(&self) -> &Valid<apollo_compiler::Schema> {
        &self.compiled
    }

    /// Checks `document` alone: GraphQL validation, nothing deprecated, and any literal query
    /// given to `bulkOperationRunQuery`. The result can be kept and reused for every request
    /// that sends the same text; only [`Prepared::check_variables`] depends on the request.
    pub fn prepare(&self, document: &str) -> Result<Prepared<'_>, Vec<SchemaError>> {
        Prepared::new(self, document)
    }

    /// Checks `document` with `variables` (a JSON object, or null for none): the document as by
    /// [`Schema::prepare`], then the variables coerced to their declared types, without
    /// deprecated input fields or enum values, and any query passed to `bulkOperationRunQuery`
    /// through a variable.
    pub fn validate(&self, document: &str, variables: &serde_json::Value) -> Result<(), Vec<SchemaError>> {
        self.prepare(document)?.check_variables(None, variables)
    }
}

/// Why an embedded schema could not be built.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("gzip: {0}")]
    Gzip(#[from] std::io::Error),
    #[error(transparent)]
    Introspection(#[from] introspection::IntrospectionError),
    #[error("schema validation: {0}")]
    Schema(String),
}

fn load(version: &'static str, gzipped: &[u8]) -> Result<Schema, LoadError> {
    let mut json = Vec::with_capacity(gzipped.len() * 13);
    flate2::read::GzDecoder::new(gzipped).read_to_end(&mut json)?;
    let sdl = introspection::to_sdl(&json)?;
    let compiled = apollo_compiler::Schema::parse_and_validate(sdl, format!("admin_{version}.graphql"))
        .map_err(|e| LoadError::Schema(e.errors.to_string()))?;
    Ok(Schema { version, compiled })
}

#[cfg(test)]
mod tests;
