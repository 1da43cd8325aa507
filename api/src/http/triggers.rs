//! The thirteen trigger routes kept from the old tool. Each maps its body to a job type and an
//! input and asks the engine for the job; nothing runs inside the request.
//!
//! A trigger answers `202 Accepted` with `{jobId, status, type}`. When the engine hands back a job
//! that already existed — the same `Idempotency-Key` was used before, or a job of the same kind
//! is still unfinished — the status stays `202` and `existing` says why (`idempotencyKey` or
//! `alreadyRunning`), so a client can tell that nothing new was started.

use axum::extract::State;
use axum::http::HeaderMap;
use dongbo_engine::{Existing, JobRequest};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Reply};
use super::extract::JsonBody;
use super::views::{ExistingView, TriggerReply};
use super::AppState;

/// The header that makes a trigger idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A trigger that takes no options: its body is empty or `{}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// Options of the matching triggers.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchOptions {
    /// Preview the mappings without writing them (default `false`).
    pub dry_run: Option<bool>,
}

/// A mapping id as the old front end sent it: a number or a string.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MappingRef {
    /// A numeric id.
    Number(i64),
    /// A textual id.
    Text(String),
}

/// Options of the bulk-sync triggers.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncOptions {
    /// Only these mappings (default: every mapping due for a sync).
    pub mapping_ids: Option<Vec<MappingRef>>,
    /// Push even when the value looks unchanged.
    pub force_sync: Option<bool>,
}

/// Options of `retry-failed`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryOptions {
    /// At most this many failed items.
    pub limit: Option<u32>,
}

fn match_input(o: MatchOptions, strategy: Option<&str>) -> Value {
    let mut input = Map::new();
    if let Some(s) = strategy {
        input.insert("strategy".into(), json!(s));
    }
    input.insert("dryRun".into(), json!(o.dry_run.unwrap_or(false)));
    Value::Object(input)
}

fn sync_input(o: SyncOptions) -> Value {
    let mut input = Map::new();
    if let Some(ids) = o.mapping_ids {
        input.insert("mappingIds".into(), json!(ids));
    }
    if let Some(force) = o.force_sync {
        input.insert("forceSync".into(), json!(force));
    }
    Value::Object(input)
}

fn retry_input(o: RetryOptions) -> Value {
    match o.limit {
        Some(limit) => json!({ "limit": limit }),
        None => json!({}),
    }
}

/// Reads the `Idempotency-Key` header.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("the Idempotency-Key header must be visible ASCII".into()))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::BadRequest(format!(
            "the Idempotency-Key header must have 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

/// Asks the engine for the job and answers with it.
async fn trigger(state: &AppState, headers: &HeaderMap, job_type: &str, input: Value) -> ApiResult<TriggerReply> {
    let request = JobRequest {
        idempotency_key: idempotency_key(headers)?,
        requested_by: "api".into(),
        ..JobRequest::new(job_type, input)
    };
    let requested = state.engine.request(request).await?;
    let existing = requested.existing.map(|e| match e {
        Existing::SameIdempotencyKey => ExistingView::IdempotencyKey,
        Existing::AlreadyRunning => ExistingView::AlreadyRunning,
    });
    let job = requested.job;
    tracing::info!(job = %job.id, job_type, existing = ?existing, "job triggered");
    Ok(Reply::accepted(TriggerReply {
        job_id: job.id.as_uuid(),
        status: job.status.into(),
        job_type: job.job_type,
        existing,
    }))
}

/// Declares one trigger handler per route, each documented with its own `#[utoipa::path]`.
macro_rules! trigger_routes {
    ($( $(#[doc = $doc:literal])* $name:ident: $path:literal, $options:ty => $job:literal, |$o:ident| $input:expr; )*) => {
        $(
            $(#[doc = $doc])*
            #[utoipa::path(
                post,
                path = $path,
                tag = "triggers",
                request_body(content = Option<$options>, content_type = "application/json",
                    description = "Optional; an empty body means `{}`."),
                params(("Idempotency-Key" = Option<String>, Header,
                    description = "Returns the job an earlier request with this key created.")),
                responses(
                    (status = 202, description = "The job was requested (or, with `existing`, an earlier one is returned).",
                        body = super::error::Envelope<TriggerReply>),
                    (status = 400, description = "Malformed body or invalid options", body = super::error::ErrorEnvelope),
                    (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorEnvelope),
                    (status = 413, description = "Body too large", body = super::error::ErrorEnvelope),
                    (status = 415, description = "Body not sent as JSON", body = super::error::ErrorEnvelope),
                    (status = 422, description = "Body of the wrong shape", body = super::error::ErrorEnvelope),
                    (status = 503, description = "The job type is not available in this build", body = super::error::ErrorEnvelope),
                ),
                security(("bearer" = []))
            )]
            pub async fn $name(
                State(state): State<AppState>,
                headers: HeaderMap,
                JsonBody($o): JsonBody<$options>,
            ) -> ApiResult<TriggerReply> {
                trigger(&state, &headers, $job, $input).await
            }
        )*

        /// The trigger routes, with their OpenAPI descriptions.
        pub(super) fn routes() -> OpenApiRouter<AppState> {
            OpenApiRouter::new() $( .routes(routes!($name)) )*
        }

        /// Every trigger: (path, job type).
        pub const TRIGGERS: &[(&str, &str)] = &[ $( ($path, $job) ),* ];
    };
}

trigger_routes! {
    /// Mirror Nhanh products locally (`PULL_NHANH_PRODUCTS`).
    pull_nhanh_products: "/api/nhanh/pull-products", NoOptions => "PULL_NHANH_PRODUCTS", |_o| json!({});
    /// Mirror Shopify products and variants locally (`PULL_SHOPIFY_PRODUCTS`).
    pull_shopify_products: "/api/shopify/pull-products-sync", NoOptions => "PULL_SHOPIFY_PRODUCTS", |_o| json!({});
    /// Mirror every Nhanh customer locally (`PULL_NHANH_CUSTOMERS`, mode `full`).
    pull_nhanh_customers_all: "/api/nhanh/pull-customers-all", NoOptions => "PULL_NHANH_CUSTOMERS", |_o| json!({"mode": "full"});
    /// Mirror the Nhanh customers updated since the last completed pull (`PULL_NHANH_CUSTOMERS`, mode `incremental`).
    pull_nhanh_customers_incremental: "/api/nhanh/pull-customers-incremental", NoOptions => "PULL_NHANH_CUSTOMERS", |_o| json!({"mode": "incremental"});
    /// Legacy alias of `pull-customers-all` (`PULL_NHANH_CUSTOMERS`, mode `full`).
    pull_nhanh_customers_legacy: "/api/nhanh/pull-customers", NoOptions => "PULL_NHANH_CUSTOMERS", |_o| json!({"mode": "full"});
    /// Mirror Shopify customers locally (`PULL_SHOPIFY_CUSTOMERS`).
    pull_shopify_customers: "/api/shopify/pull-customers", NoOptions => "PULL_SHOPIFY_CUSTOMERS", |_o| json!({});
    /// Map Nhanh products to Shopify variants by SKU, barcode as fallback (`AUTO_MATCH_PRODUCTS`).
    auto_match_products: "/api/sync/auto-match-products", MatchOptions => "AUTO_MATCH_PRODUCTS", |o| match_input(o, None);
    /// Map Nhanh customers to Shopify customers by phone, in memory (`AUTO_MATCH_CUSTOMERS`, strategy `memory`).
    auto_match_customers: "/api/sync/auto-match", MatchOptions => "AUTO_MATCH_CUSTOMERS", |o| match_input(o, Some("memory"));
    /// Map customers by phone with one join in the database (`AUTO_MATCH_CUSTOMERS`, strategy `sql`).
    auto_match_customers_sql: "/api/sync/auto-match-sql", MatchOptions => "AUTO_MATCH_CUSTOMERS", |o| match_input(o, Some("sql"));
    /// Map customers by phone in chunks, for very large sets (`AUTO_MATCH_CUSTOMERS`, strategy `batch`).
    auto_match_customers_batch: "/api/sync/auto-match-batch", MatchOptions => "AUTO_MATCH_CUSTOMERS", |o| match_input(o, Some("batch"));
    /// Push Nhanh stock to Shopify inventory (`PRODUCT_SYNC`).
    bulk_sync_products: "/api/sync/bulk-sync-products", SyncOptions => "PRODUCT_SYNC", |o| sync_input(o);
    /// Push Nhanh total spent to the customer metafield `custom.total_spent` (`CUSTOMER_SYNC`).
    bulk_sync_customers: "/api/sync/bulk-sync-background", SyncOptions => "CUSTOMER_SYNC", |o| sync_input(o);
    /// Re-drive the items whose last sync failed (`RETRY_FAILED_SYNC`).
    retry_failed: "/api/sync/retry-failed", RetryOptions => "RETRY_FAILED_SYNC", |o| retry_input(o);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_options_become_the_strategy_and_a_dry_run_flag() {
        assert_eq!(match_input(MatchOptions::default(), None), json!({"dryRun": false}));
        let o = MatchOptions { dry_run: Some(true) };
        assert_eq!(match_input(o, Some("sql")), json!({"strategy": "sql", "dryRun": true}));
    }

    #[test]
    fn sync_options_pass_only_what_was_given() {
        assert_eq!(sync_input(SyncOptions::default()), json!({}));
        let o = SyncOptions {
            mapping_ids: Some(vec![MappingRef::Number(3), MappingRef::Text("m-4".into())]),
            force_sync: Some(true),
        };
        assert_eq!(sync_input(o), json!({"mappingIds": [3, "m-4"], "forceSync": true}));
        assert_eq!(retry_input(RetryOptions { limit: Some(5) }), json!({"limit": 5}));
    }

    #[test]
    fn every_trigger_of_the_design_is_declared_once() {
        assert_eq!(TRIGGERS.len(), 13);
        let mut paths: Vec<_> = TRIGGERS.iter().map(|(p, _)| *p).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 13);
    }
}
