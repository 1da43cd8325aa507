//! The thirteen trigger routes kept from the old tool. Each reads the old tool's body for its
//! route, builds the workflow's own input struct from it and asks the engine for the job through
//! the workflow's typed job type (`dongbo_workflows::jobs::JobType`), so a route whose input is
//! not its job type's does not compile; nothing runs inside the request.
//!
//! A trigger answers `202 Accepted` with `{jobId, status, type, message}` in `data`, and `jobId` and
//! `message` again beside `data`, where the old tool's pull routes put them. When the engine hands
//! back a job that already existed — the same `Idempotency-Key` was used before, or a job of the
//! same kind is still unfinished — the status stays `202` and `existing` says why
//! (`idempotencyKey` or `alreadyRunning`), so a client can tell that nothing new was started.
//! `forceRestart: true` (the old pull routes) first cancels the unfinished job of the kind, so the
//! pull starts over; if that job is still finishing its step, the answer is `409`, as the old tool
//! answered while a pull ran, and sending again once it has stopped starts the new one.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use dongbo_engine::{JobFilter, JobRequest, JobStatus};
use dongbo_workflows::jobs::JobType;
use dongbo_workflows::matching::{self, MatchInput, Strategy};
use dongbo_workflows::pull::nhanh::NhanhCustomerType;
use dongbo_workflows::pull::shopify::ProductStatus;
use dongbo_workflows::pull::{self, NhanhCustomersInput, NhanhCustomersMode, NhanhProductsInput, ShopifyPullInput};
use dongbo_workflows::sync::{self, MappingId, RetryInput, SyncInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::JsonBody;
use super::views::{ExistingView, TriggerReply};
use super::AppState;

/// The header that makes a trigger idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Who cancels a job that `forceRestart` replaces.
const RESTART_ACTOR: &str = "api (forceRestart)";

/// A trigger that takes no options: its body is empty or `{}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// Options of `pull-products-sync`: the old tool's product status filter.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShopifyProductPullOptions {
    /// `active`, `draft` or `archived`; every product when absent.
    #[schema(value_type = Option<String>, pattern = "^(active|draft|archived)$")]
    pub status: Option<ProductStatus>,
}

/// Options of `pull-customers-all`: the old tool's `customer/list` filters and restart flag.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NhanhCustomerPullOptions {
    /// 1 (retail), 2 (wholesale) or 3 (agent).
    #[serde(rename = "type")]
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 3)]
    pub customer_type: Option<NhanhCustomerType>,
    /// Last bought on or after this day (`YYYY-MM-DD`).
    #[schema(value_type = Option<String>, format = Date)]
    pub last_bought_date_from: Option<NaiveDate>,
    /// Last bought on or before this day (`YYYY-MM-DD`).
    #[schema(value_type = Option<String>, format = Date)]
    pub last_bought_date_to: Option<NaiveDate>,
    /// Cancel an unfinished customer pull and start over.
    pub force_restart: Option<bool>,
}

/// Options of `shopify/pull-customers` (its old client always sends both).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShopifyCustomerPullOptions {
    /// A Shopify customer search, e.g. `state:ENABLED`; every customer when absent or blank.
    pub query: Option<String>,
    /// Cancel an unfinished customer pull and start over.
    pub force_restart: Option<bool>,
}

/// Options of the matching triggers.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchOptions {
    /// Preview the mappings without writing them (default `false`).
    pub dry_run: Option<bool>,
    /// Keys per batch (the old client sends 1000 to `auto-match-batch`).
    #[schema(minimum = 1, maximum = 100_000)]
    pub batch_size: Option<u32>,
}

/// A mapping id as the old front end sent it: a number or a string.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum MappingRef {
    /// A numeric id.
    Number(i64),
    /// A textual id: the decimal string of a dongbo mapping id.
    Text(String),
}

/// `mappingIds` as the handler reads it ([`MappingId`]): absent, `null`, or a list of ids, each a
/// positive integer or its decimal text.
fn mapping_ids_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    let id = super::views::positive_id_schema(
        "A dongbo mapping id: a positive integer, or its decimal text (as the old front end sent it)",
    );
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::OneOf(id)))
        .description(Some("Only these mappings (default: every mapping due for a sync)."))
        .build()
        .into()
}

impl MappingRef {
    /// The dongbo mapping id, or a 400 naming the id.
    fn id(&self) -> Result<i64, ApiError> {
        let parsed = match self {
            MappingRef::Number(n) => n.to_string().parse::<MappingId>(),
            MappingRef::Text(t) => t.parse::<MappingId>(),
        };
        parsed.map(|MappingId(id)| id).map_err(ApiError::BadRequest)
    }
}

/// Options of the bulk-sync triggers.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncOptions {
    /// Only these mappings (default: every mapping due for a sync).
    #[schema(schema_with = mapping_ids_schema)]
    pub mapping_ids: Option<Vec<MappingRef>>,
    /// Push even when the value looks unchanged (default `true`: the old tool's manual syncs
    /// pushed regardless).
    pub force_sync: Option<bool>,
}

/// Options of `retry-failed`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryOptions {
    /// At most this many failed items (default 100, as in the old tool).
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub limit: Option<u32>,
}

/// What a trigger asks the engine for: the workflow's own input (`I`, which the route's
/// [`JobType<I>`] must take, or the route does not compile), and whether to start over.
#[derive(Debug)]
struct Plan<I> {
    input: I,
    force_restart: bool,
}

impl<I> Plan<I> {
    fn new(input: I) -> Result<Self, ApiError> {
        Ok(Plan { input, force_restart: false })
    }

    fn restarting(mut self, force: Option<bool>) -> Self {
        self.force_restart = force.unwrap_or(false);
        self
    }
}

fn nhanh_customers(mode: NhanhCustomersMode) -> Result<Plan<NhanhCustomersInput>, ApiError> {
    Plan::new(NhanhCustomersInput { mode, ..NhanhCustomersInput::default() })
}

fn nhanh_customers_filtered(o: NhanhCustomerPullOptions) -> Result<Plan<NhanhCustomersInput>, ApiError> {
    let input = NhanhCustomersInput {
        mode: NhanhCustomersMode::Full,
        customer_type: o.customer_type,
        last_bought_date_from: o.last_bought_date_from,
        last_bought_date_to: o.last_bought_date_to,
    };
    Ok(Plan::new(input)?.restarting(o.force_restart))
}

fn shopify_products(o: ShopifyProductPullOptions) -> Result<Plan<ShopifyPullInput>, ApiError> {
    Plan::new(ShopifyPullInput { status: o.status, ..ShopifyPullInput::default() })
}

fn shopify_customers(o: ShopifyCustomerPullOptions) -> Result<Plan<ShopifyPullInput>, ApiError> {
    let query = o.query.filter(|q| !q.trim().is_empty());
    Ok(Plan::new(ShopifyPullInput { query, ..ShopifyPullInput::default() })?.restarting(o.force_restart))
}

fn match_input(o: MatchOptions, strategy: Strategy) -> Result<Plan<MatchInput>, ApiError> {
    Plan::new(MatchInput { strategy, dry_run: o.dry_run.unwrap_or(false), batch_size: o.batch_size })
}

fn sync_input(o: SyncOptions) -> Result<Plan<SyncInput>, ApiError> {
    let mapping_ids = match o.mapping_ids {
        None => None,
        Some(ids) if ids.is_empty() => {
            return Err(ApiError::BadRequest(
                "mappingIds is empty: name at least one mapping, or leave mappingIds out to sync every mapping".into(),
            ))
        }
        Some(ids) => Some(ids.iter().map(MappingRef::id).collect::<Result<Vec<_>, _>>()?),
    };
    Plan::new(SyncInput { mapping_ids, force_sync: Some(o.force_sync.unwrap_or(true)), ..SyncInput::default() })
}

fn retry_input(o: RetryOptions) -> Result<Plan<RetryInput>, ApiError> {
    Plan::new(RetryInput { limit: o.limit.map(i64::from) })
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

/// A trigger's answer: the job in the envelope, and `jobId` and `message` beside it as well, where
/// the old tool's pull routes put them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerEnvelope {
    /// Always `true`.
    pub success: bool,
    /// The job.
    pub data: TriggerAnswer,
    /// The job's id, as in `data`.
    pub job_id: Uuid,
    /// A sentence for a person, as in `data`.
    pub message: String,
}

/// The job a trigger requested (or found), and a sentence saying so.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAnswer {
    /// The job.
    #[serde(flatten)]
    pub job: TriggerReply,
    /// What happened, for a person.
    pub message: String,
}

impl IntoResponse for TriggerEnvelope {
    fn into_response(self) -> Response {
        (StatusCode::ACCEPTED, Json(self)).into_response()
    }
}

/// Cancels the unfinished jobs of a type, for `forceRestart`.
async fn cancel_unfinished(state: &AppState, job_type: &str) -> Result<(), ApiError> {
    let store = state.engine.store();
    for status in [JobStatus::Pending, JobStatus::Running] {
        let filter = JobFilter { job_type: Some(job_type.to_owned()), status: Some(status), before: None, limit: 100 };
        for job in store.list_jobs(&filter).await? {
            state.engine.cancel(job.id, RESTART_ACTOR).await?;
            tracing::info!(job = %job.id, job_type, "job cancelled by forceRestart");
        }
    }
    Ok(())
}

fn message(job_type: &str, id: Uuid, existing: Option<ExistingView>, restarted: bool) -> String {
    match existing {
        Some(ExistingView::AlreadyRunning) => {
            format!("A {job_type} job is already unfinished (job {id}); nothing new was started.")
        }
        Some(ExistingView::IdempotencyKey) => {
            format!("This Idempotency-Key already requested job {id} ({job_type}); nothing new was started.")
        }
        None if restarted => format!("{job_type} started over as job {id}; the unfinished one was cancelled."),
        None => format!("{job_type} job {id} requested; follow it in Job Tracking."),
    }
}

/// Asks the engine for the job and answers with it.
async fn trigger<I: Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    job: JobType<I>,
    plan: Result<Plan<I>, ApiError>,
) -> Result<TriggerEnvelope, ApiError> {
    let plan = plan?;
    let job_type = job.name();
    let idempotency_key = idempotency_key(headers)?;
    if plan.force_restart {
        cancel_unfinished(state, job_type).await?;
    }
    let request = job.request(&plan.input).map_err(|e| ApiError::Internal(format!("serialising a job input: {e}")))?;
    let request = JobRequest { idempotency_key, requested_by: "api".into(), ..request };
    let reply = TriggerReply::from(state.engine.request(request).await?);
    let (id, existing) = (reply.job_id, reply.existing);
    if plan.force_restart && existing == Some(ExistingView::AlreadyRunning) {
        return Err(ApiError::Conflict(format!(
            "the unfinished {job_type} job {id} was asked to stop and is finishing its current step; \
             send the request again once it has stopped"
        )));
    }
    tracing::info!(job = %id, job_type, existing = ?existing, "job triggered");
    let message = message(job_type, id, existing, plan.force_restart);
    Ok(TriggerEnvelope {
        success: true,
        data: TriggerAnswer { job: reply, message: message.clone() },
        job_id: id,
        message,
    })
}

/// Declares one trigger handler per route, each documented with its own `#[utoipa::path]`.
macro_rules! trigger_routes {
    ($( $(#[doc = $doc:literal])* $name:ident: $path:literal, $options:ty => $job:path, |$o:ident| $plan:expr; )*) => {
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
                        body = TriggerEnvelope),
                    (status = 400, description = "Malformed body or invalid options", body = super::error::ErrorEnvelope),
                    (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorEnvelope),
                    (status = 409, description = "forceRestart: the job it replaces is still stopping", body = super::error::ErrorEnvelope),
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
            ) -> Result<TriggerEnvelope, ApiError> {
                trigger(&state, &headers, $job, $plan).await
            }
        )*

        /// The trigger routes, with their OpenAPI descriptions.
        pub(super) fn routes() -> OpenApiRouter<AppState> {
            OpenApiRouter::new() $( .routes(routes!($name)) )*
        }

        /// Every trigger: (path, job type).
        pub const TRIGGERS: &[(&str, &str)] = &[ $( ($path, $job.name()) ),* ];
    };
}

trigger_routes! {
    /// Mirror Nhanh products locally (`PULL_NHANH_PRODUCTS`).
    pull_nhanh_products: "/api/nhanh/pull-products", NoOptions => pull::NHANH_PRODUCTS,
        |_o| Plan::new(NhanhProductsInput::default());
    /// Mirror Shopify products and variants locally, optionally only one `status` (`PULL_SHOPIFY_PRODUCTS`).
    pull_shopify_products: "/api/shopify/pull-products-sync", ShopifyProductPullOptions => pull::SHOPIFY_PRODUCTS,
        |o| shopify_products(o);
    /// Mirror every Nhanh customer locally, or those the `customer/list` filters select (`PULL_NHANH_CUSTOMERS`, mode `full`).
    pull_nhanh_customers_all: "/api/nhanh/pull-customers-all", NhanhCustomerPullOptions => pull::NHANH_CUSTOMERS,
        |o| nhanh_customers_filtered(o);
    /// Mirror the Nhanh customers updated since the last completed pull (`PULL_NHANH_CUSTOMERS`, mode `incremental`).
    pull_nhanh_customers_incremental: "/api/nhanh/pull-customers-incremental", NoOptions => pull::NHANH_CUSTOMERS,
        |_o| nhanh_customers(NhanhCustomersMode::Incremental);
    /// Legacy alias of `pull-customers-all` (`PULL_NHANH_CUSTOMERS`, mode `full`).
    pull_nhanh_customers_legacy: "/api/nhanh/pull-customers", NoOptions => pull::NHANH_CUSTOMERS,
        |_o| nhanh_customers(NhanhCustomersMode::Full);
    /// Mirror Shopify customers locally, optionally only those a search `query` matches (`PULL_SHOPIFY_CUSTOMERS`).
    pull_shopify_customers: "/api/shopify/pull-customers", ShopifyCustomerPullOptions => pull::SHOPIFY_CUSTOMERS,
        |o| shopify_customers(o);
    /// Map Nhanh products to Shopify variants by SKU, barcode as fallback (`AUTO_MATCH_PRODUCTS`).
    auto_match_products: "/api/sync/auto-match-products", MatchOptions => matching::PRODUCTS,
        |o| match_input(o, Strategy::Memory);
    /// Map Nhanh customers to Shopify customers by phone, in memory (`AUTO_MATCH_CUSTOMERS`, strategy `memory`).
    auto_match_customers: "/api/sync/auto-match", MatchOptions => matching::CUSTOMERS,
        |o| match_input(o, Strategy::Memory);
    /// Map customers by phone with one join in the database (`AUTO_MATCH_CUSTOMERS`, strategy `sql`).
    auto_match_customers_sql: "/api/sync/auto-match-sql", MatchOptions => matching::CUSTOMERS,
        |o| match_input(o, Strategy::Sql);
    /// Map customers by phone in chunks of `batchSize`, for very large sets (`AUTO_MATCH_CUSTOMERS`, strategy `batch`).
    auto_match_customers_batch: "/api/sync/auto-match-batch", MatchOptions => matching::CUSTOMERS,
        |o| match_input(o, Strategy::Batch);
    /// Push Nhanh stock to Shopify inventory (`PRODUCT_SYNC`).
    bulk_sync_products: "/api/sync/bulk-sync-products", SyncOptions => sync::PRODUCTS, |o| sync_input(o);
    /// Push Nhanh total spent to the customer metafield `custom.total_spent` (`CUSTOMER_SYNC`).
    bulk_sync_customers: "/api/sync/bulk-sync-background", SyncOptions => sync::CUSTOMERS, |o| sync_input(o);
    /// Re-drive the items whose last sync failed, 100 by default (`RETRY_FAILED_SYNC`).
    retry_failed: "/api/sync/retry-failed", RetryOptions => sync::RETRY_FAILED, |o| retry_input(o);
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn input<I: Serialize>(plan: Result<Plan<I>, ApiError>) -> Value {
        serde_json::to_value(plan.expect("a plan").input).expect("an input serialises")
    }

    #[test]
    fn match_options_become_the_strategy_a_dry_run_flag_and_the_batch_size() {
        assert_eq!(
            input(match_input(MatchOptions::default(), Strategy::Memory)),
            json!({"strategy": "memory", "dryRun": false})
        );
        let o = MatchOptions { dry_run: Some(true), batch_size: Some(1000) };
        assert_eq!(
            input(match_input(o, Strategy::Batch)),
            json!({"strategy": "batch", "dryRun": true, "batchSize": 1000})
        );
    }

    #[test]
    fn sync_options_force_by_default_and_take_ids_as_numbers_or_decimal_strings() {
        assert_eq!(input(sync_input(SyncOptions::default())), json!({"forceSync": true}));
        let o = SyncOptions {
            mapping_ids: Some(vec![MappingRef::Number(3), MappingRef::Text("4".into())]),
            force_sync: Some(false),
        };
        assert_eq!(input(sync_input(o)), json!({"mappingIds": [3, 4], "forceSync": false}));
        let cuid = SyncOptions { mapping_ids: Some(vec![MappingRef::Text("ckabc123".into())]), force_sync: None };
        let error = sync_input(cuid).unwrap_err().to_string();
        assert!(error.contains("`ckabc123`"), "{error}");
        let empty = SyncOptions { mapping_ids: Some(vec![]), force_sync: None };
        assert!(matches!(sync_input(empty), Err(ApiError::BadRequest(_))));
        assert_eq!(input(retry_input(RetryOptions { limit: Some(5) })), json!({"limit": 5}));
    }

    #[test]
    fn pull_options_become_the_pull_inputs() {
        let o: NhanhCustomerPullOptions =
            serde_json::from_value(json!({"type": 3, "lastBoughtDateTo": "2025-06-30", "forceRestart": true})).unwrap();
        let plan = nhanh_customers_filtered(o).unwrap();
        assert!(plan.force_restart);
        assert_eq!(
            serde_json::to_value(plan.input).unwrap(),
            json!({"mode": "full", "type": 3, "lastBoughtDateTo": "2025-06-30"})
        );
        let o = ShopifyCustomerPullOptions { query: Some("state:ENABLED".into()), force_restart: Some(false) };
        let plan = shopify_customers(o).unwrap();
        assert!(!plan.force_restart);
        assert_eq!(
            serde_json::to_value(plan.input).unwrap(),
            json!({"mode": "auto", "incremental": false, "query": "state:ENABLED"})
        );
        let o = ShopifyProductPullOptions { status: Some(ProductStatus::Archived) };
        assert_eq!(input(shopify_products(o)), json!({"mode": "auto", "incremental": false, "status": "archived"}));
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
