//! The Shopify GraphQL Admin server: `POST /admin/api/{version}/graphql.json`.
//!
//! A request goes: token check (401 otherwise) → parse → requested cost ([`crate::cost`]) →
//! `MAX_COST_EXCEEDED` if above the single-query maximum → bucket check (THROTTLED if short) →
//! execution by async-graphql (validation, variables, errors) → actual cost, refund of the
//! difference → reply with `extensions.cost`. Validation errors come back as HTTP 200 with
//! `errors` and no `data`. Before any of it, [`schema_check`] checks the request against
//! Shopify's published schema of the version that answers (named in `X-Shopify-API-Version`).

pub(crate) mod bulk;
mod connection;
pub(crate) mod mutations;
mod objects;
mod query;
mod schema_check;
mod search;
mod subscriptions;
mod writes;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::bucket::ThrottleStatus;
use crate::cost;
use crate::faults::Server;
use crate::sim::Sim;

pub(crate) use mutations::InventorySetQuantitiesPayload;

/// The query root: the catalog's reads and the webhook subscriptions.
#[derive(async_graphql::MergedObject)]
#[graphql(name = "QueryRoot")]
pub(crate) struct Query(query::QueryRoot, subscriptions::SubscriptionQueries);

/// The mutation root: the writes and the webhook subscriptions.
#[derive(async_graphql::MergedObject)]
#[graphql(name = "Mutation")]
pub(crate) struct Mutation(mutations::Mutation, subscriptions::SubscriptionMutations);

/// The Admin schema the simulator serves.
pub(crate) type ShopSchema = Schema<Query, Mutation, EmptySubscription>;

pub(crate) fn schema(sim: Arc<Sim>) -> ShopSchema {
    Schema::build(
        Query(query::QueryRoot, subscriptions::SubscriptionQueries),
        Mutation(mutations::Mutation, subscriptions::SubscriptionMutations),
        EmptySubscription,
    )
    .directive(mutations::idempotent)
    .data(sim)
    .data(Arc::new(subscriptions::Subscriptions::default()))
    .finish()
}

#[derive(Clone)]
struct ShopState {
    sim: Arc<Sim>,
    schema: ShopSchema,
    check: Arc<schema_check::SchemaCheck>,
}

/// The Shopify routes (plus the bulk files under `/_sim/bulk/`).
pub(crate) fn router(sim: Arc<Sim>) -> Router {
    let schema = schema(sim.clone());
    Router::new()
        .route("/admin/api/{version}/graphql.json", post(graphql))
        .route("/_sim/bulk/{file}", get(bulk_file))
        .with_state(ShopState { sim, schema, check: Arc::default() })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlBody {
    query: String,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default)]
    operation_name: Option<String>,
}

const DOCS: &str = "https://shopify.dev/api/usage/rate-limits";

fn cost_extension(requested: u64, actual: Option<u64>, status: ThrottleStatus) -> Value {
    json!({"cost": {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": status,
    }})
}

async fn graphql(
    State(state): State<ShopState>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let version = schema_check::answering_version(&version);
    let mut response = answer(state, version, headers, body).await;
    schema_check::stamp(&mut response, version);
    response
}

async fn answer(state: ShopState, version: &'static str, headers: HeaderMap, body: Bytes) -> Response {
    let sim = &state.sim;
    let token = headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok());
    if token != Some(sim.config.credentials.shopify_access_token.as_str()) {
        let body = json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let request: GraphqlBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            let body = json!({"errors": {"query": "Required parameter missing or invalid"}});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let vars = request.variables.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let doc = async_graphql::parser::parse_query(&request.query).ok();
    let op = doc.as_ref().and_then(|d| cost::select_operation(d, request.operation_name.as_deref()));
    let requested = match (&doc, op) {
        (Some(d), Some(op)) => {
            for field in cost::root_fields(d, op) {
                sim.shopify_stats.field(&field);
            }
            cost::requested_cost(d, op, &vars)
        }
        _ => 0,
    };

    if let Err(mut refusal) = state.check.check(version, &request.query, request.operation_name.as_deref(), &vars) {
        let status = {
            let mut guard = sim.bucket.lock().unwrap_or_else(|e| e.into_inner());
            let now = sim.clock.now();
            guard.1.status(now)
        };
        refusal["extensions"] = cost_extension(requested, None, status);
        return Json(refusal).into_response();
    }
    let throttled = sim.faults.throttle(Server::Shopify);
    let taken = {
        let mut guard = sim.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let (plan, bucket) = &mut *guard;
        let now = sim.clock.now();
        let current = sim.faults.plan();
        if *plan != current {
            let (max, rate) = current.bucket();
            bucket.reshape(max, rate, now);
            *plan = current;
        }
        let max_cost = sim.config.shopify.max_query_cost;
        if requested > max_cost {
            let status = bucket.status(now);
            let message = format!("Query cost is {requested}, which exceeds the single query max cost limit ({max_cost}).\n\nSee {DOCS} for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n");
            let body = json!({
                "errors": [{"message": message, "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": max_cost}}],
                "extensions": cost_extension(requested, None, status),
            });
            return Json(body).into_response();
        }
        if throttled {
            if let Err(status) = bucket.try_take(requested, now) {
                drop(guard);
                sim.shopify_stats.event("throttled");
                let body = json!({
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": DOCS}}],
                    "extensions": cost_extension(requested, None, status),
                });
                return Json(body).into_response();
            }
            requested
        } else {
            0
        }
    };

    let mut gql = async_graphql::Request::new(request.query.clone())
        .variables(async_graphql::Variables::from_json(vars.clone()))
        .data(state.schema.clone())
        .data(mutations::UrlVersion(version.to_owned()));
    if let Some(name) = &request.operation_name {
        gql = gql.operation_name(name.clone());
    }
    let response = state.schema.execute(gql).await;
    let data = serde_json::to_value(&response.data).unwrap_or(Value::Null);
    let actual = match (&doc, op) {
        (Some(d), Some(op)) if !data.is_null() => cost::actual_cost(d, op, &vars, &data),
        _ => 0,
    };
    let status = {
        let mut guard = sim.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = sim.clock.now();
        guard.1.refund(taken.saturating_sub(actual), now);
        guard.1.status(now)
    };
    let mut body = serde_json::Map::new();
    if !data.is_null() || response.errors.is_empty() {
        body.insert("data".into(), data);
    }
    if !response.errors.is_empty() {
        body.insert("errors".into(), serde_json::to_value(&response.errors).unwrap_or_default());
    }
    body.insert("extensions".into(), cost_extension(requested, Some(actual), status));
    Json(Value::Object(body)).into_response()
}

async fn bulk_file(State(state): State<ShopState>, Path(file): Path<String>) -> Response {
    let id = file.strip_suffix(".jsonl").and_then(|id| id.parse::<u64>().ok());
    match id.and_then(|id| state.sim.bulk.file(id)) {
        Some(bytes) => ([("content-type", "application/jsonl")], bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "no such bulk operation result").into_response(),
    }
}
