//! Every Admin GraphQL request is checked against Shopify's published schema of the version
//! that answers it, before it runs, and refused the way Shopify refuses an invalid document:
//! HTTP 200 with an `errors` array and no `data`. So every test that runs through the
//! simulator is also a contract test against the real schema.
//!
//! Stricter than Shopify in one way: a deprecated field, argument, input field or enum value is
//! refused, not served with a warning header (see `dongbo_shopify_schema`).
//!
//! The query given to `bulkOperationRunQuery` is not refused here: Shopify accepts the request
//! and answers a bad bulk query with the mutation's `userErrors` (field `["query"]`), which the
//! bulk mutation does.
//!
//! Versions: Shopify answers a version it no longer supports with the oldest supported one
//! ("falls forward", shopify.dev/docs/api/usage/versioning), and a request without a version
//! likewise; the simulator answers any version it holds no schema for that way, and names the
//! answering version in the `X-Shopify-API-Version` header of every reply.
//!
//! Checking a document costs far more than a request's variables, so checked documents are
//! kept by their text (a bounded map per version); a repeated document costs a lookup and
//! the variable checks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;
use axum::response::Response;
use dongbo_shopify_schema::{Prepared, Schema, SchemaError, SUPPORTED_VERSIONS};
use serde_json::{json, Value};

pub(crate) use dongbo_shopify_schema::answering_version;

/// The header naming the version that answered.
const VERSION_HEADER: &str = "x-shopify-api-version";

/// How many distinct documents each version keeps checked; the connector sends a few dozen.
const CACHE_CAPACITY: usize = 256;

type Checked = Arc<Result<Prepared<'static>, Vec<SchemaError>>>;

/// Checked documents by their text, oldest dropped first once full.
#[derive(Default)]
struct Cache {
    checked: HashMap<String, Checked>,
    order: VecDeque<String>,
}

/// The schema check with its cache of checked documents, one per supported version.
pub(crate) struct SchemaCheck {
    caches: Vec<Mutex<Cache>>,
}

impl Default for SchemaCheck {
    fn default() -> Self {
        SchemaCheck { caches: SUPPORTED_VERSIONS.iter().map(|_| Mutex::default()).collect() }
    }
}

impl SchemaCheck {
    /// Checks one request for `version` (an answering version, see [`answering_version`]);
    /// `Err` is the reply body Shopify gives an invalid request.
    pub(crate) fn check(
        &self,
        version: &str,
        query: &str,
        operation_name: Option<&str>,
        variables: &Value,
    ) -> Result<(), Value> {
        let index = SUPPORTED_VERSIONS.iter().position(|v| *v == version);
        let (Some(index), Ok(schema)) = (index, Schema::get(version)) else {
            let error =
                json!({"message": format!("API version {version} is not served"), "extensions": {"code": "NOT_FOUND"}});
            return Err(json!({ "errors": [error] }));
        };
        let checked = self.checked(index, schema, query);
        let outcome = match checked.as_ref() {
            Ok(prepared) => prepared.check_variables(operation_name, variables),
            Err(errors) => Err(errors.clone()),
        };
        outcome.map_err(|errors| errors_body(&errors))
    }

    fn checked(&self, index: usize, schema: &'static Schema, query: &str) -> Checked {
        let lock = || self.caches[index].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = lock().checked.get(query) {
            return hit.clone();
        }
        // Checked outside the lock: two requests may both check a new document, once each.
        let checked = Arc::new(schema.prepare(query));
        let mut cache = lock();
        if !cache.checked.contains_key(query) {
            if cache.order.len() >= CACHE_CAPACITY {
                if let Some(oldest) = cache.order.pop_front() {
                    cache.checked.remove(&oldest);
                }
            }
            cache.order.push_back(query.to_owned());
            cache.checked.insert(query.to_owned(), checked.clone());
        }
        checked
    }
}

/// Shopify's reply to an invalid request: `errors` (message, locations, `extensions.code`), no
/// `data`.
fn errors_body(errors: &[SchemaError]) -> Value {
    let errors: Vec<Value> = errors
        .iter()
        .map(|e| {
            let mut error = json!({"message": e.message, "extensions": {"code": e.kind.code()}});
            if !e.locations.is_empty() {
                let locations: Vec<Value> =
                    e.locations.iter().map(|l| json!({"line": l.line, "column": l.column})).collect();
                error["locations"] = Value::from(locations);
            }
            if !e.path.is_empty() {
                error["extensions"]["path"] = json!(e.path);
            }
            error
        })
        .collect();
    json!({ "errors": errors })
}

/// Names the answering `version` on `response`.
pub(crate) fn stamp(response: &mut Response, version: &'static str) {
    response.headers_mut().insert(VERSION_HEADER, HeaderValue::from_static(version));
}
