//! Location mapping: which Nhanh depots feed which Shopify location. PRODUCT_SYNC sums the
//! `available` stock of the depots mapped onto each location, so it needs this before it can run.
//! Depots carry their names (from `business/depot`) and whether the Nhanh token covers them.
//! Read and written through the workflows' catalog store; no SQL here.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use dongbo_workflows::catalog::store::credentials::last_check;
use dongbo_workflows::catalog::store::pulls::{
    list_depots, list_locations, location_mappings, remove_location_mapping, set_location_mapping,
    validate_location_mapping,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::extract::JsonBody;
use super::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_location_mappings, put_location_mapping))
        .routes(routes!(delete_location_mapping))
}

/// One depot → location mapping.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationMappingView {
    /// The Nhanh depot id.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    pub depot_id: u64,
    /// The Shopify location (`gid://shopify/Location/…`).
    #[schema(pattern = r"^gid://shopify/Location/[0-9]+$")]
    pub location_id: String,
}

/// The mappings, with the depots and locations the last pulls saw.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationMappings {
    /// The current mappings.
    pub mappings: Vec<LocationMappingView>,
    /// Nhanh depots seen in pulled stock or listed by `business/depot`: `[id, name]`.
    pub depots: Vec<(u64, Option<String>)>,
    /// The depots the Nhanh token covers, by the last `app/checkaccesstoken`; absent before any
    /// check. Nhanh leaves out the stock of a depot not covered (it is not zero).
    pub covered_depots: Option<Vec<u64>>,
    /// Shopify locations pulled: `[id, name]`.
    pub locations: Vec<(String, String)>,
}

fn store_failure(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("location mappings: {e}"))
}

/// Lists the depot → location mappings and what can be mapped.
#[utoipa::path(get, path = "/api/location-mappings", tag = "catalog",
    responses(
        (status = 200, description = "Mappings, depots and locations", body = Envelope<LocationMappings>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn get_location_mappings(State(state): State<AppState>) -> ApiResult<LocationMappings> {
    let db = state.engine.store().db();
    let mappings = location_mappings(&db).await.map_err(store_failure)?;
    let depots = list_depots(&db).await.map_err(store_failure)?;
    let locations = list_locations(&db).await.map_err(store_failure)?;
    let check = last_check(&db).await.map_err(store_failure)?;
    Ok(Reply::ok(LocationMappings {
        mappings: mappings
            .into_iter()
            .map(|(depot_id, location_id)| LocationMappingView { depot_id, location_id })
            .collect(),
        depots: depots.into_iter().map(|d| (d.id, d.name)).collect(),
        locations: locations.into_iter().map(|l| (l.id, l.name)).collect(),
        covered_depots: check.map(|c| c.depot_ids),
    }))
}

/// Maps a Nhanh depot onto a Shopify location (replacing its previous location).
#[utoipa::path(put, path = "/api/location-mappings", tag = "catalog", request_body = LocationMappingView,
    responses(
        (status = 200, description = "The mapping as stored", body = Envelope<LocationMappingView>),
        (status = 400, description = "Not a depot id or not a location gid", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 422, description = "Wrong fields or types", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn put_location_mapping(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LocationMappingView>,
) -> ApiResult<LocationMappingView> {
    let location_id = validate_location_mapping(body.depot_id, &body.location_id).map_err(ApiError::BadRequest)?;
    let db = state.engine.store().db();
    set_location_mapping(&db, body.depot_id, &location_id).await.map_err(store_failure)?;
    Ok(Reply::ok(LocationMappingView { depot_id: body.depot_id, location_id }))
}

/// Unmaps a Nhanh depot: its stock no longer feeds any Shopify location.
#[utoipa::path(delete, path = "/api/location-mappings/{depotId}", tag = "catalog",
    params(("depotId" = u64, Path, description = "The Nhanh depot id")),
    responses(
        (status = 200, description = "The mapping that was removed", body = Envelope<LocationMappingView>),
        (status = 400, description = "Not a depot id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "The depot is not mapped", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn delete_location_mapping(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult<LocationMappingView> {
    // axum's own rejection (a path that is not UTF-8 once decoded) is plain text: answer in the envelope.
    let Path(raw) = raw.map_err(|r| ApiError::BadRequest(format!("invalid path: {}", r.body_text())))?;
    let depot_id = parse_depot_id(&raw)?;
    let db = state.engine.store().db();
    let location_id = remove_location_mapping(&db, depot_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| ApiError::NotFound(format!("depot {depot_id} is not mapped to any location")))?;
    Ok(Reply::ok(LocationMappingView { depot_id, location_id }))
}

/// Parses the `{depotId}` of a route; the message quotes (a bounded prefix of) what was given.
fn parse_depot_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        ApiError::BadRequest(format!("malformed depot id `{shown}`: expected a Nhanh depot number"))
    })
}
