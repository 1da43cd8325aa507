//! Mappings by hand: map (or re-map), unmap, delete, resolve a conflict by choosing its pair,
//! one mapping by id, and the statistics per kind.
//!
//! Every write runs in one store transaction: a refused one (unknown record, Shopify record held
//! by another mapping, pair not in the conflict) writes nothing.

use axum::extract::{Path, State};
use dongbo_workflows::catalog::store::console::{self, ConsoleError, HandMapping, KindStats};
use dongbo_workflows::catalog::store::matching::MatchKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::Schema;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{parse_kind, store_failure};
use crate::http::catalog::MappingView;
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use crate::http::extract::JsonBody;
use crate::http::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mapping_stats))
        .routes(routes!(create_mapping))
        .routes(routes!(get_mapping, delete_mapping))
        .routes(routes!(unmap))
        .routes(routes!(resolve_conflict))
}

/// The longest `by` kept.
const MAX_BY_CHARS: usize = 100;

impl From<ConsoleError> for ApiError {
    fn from(e: ConsoleError) -> Self {
        match e {
            ConsoleError::UnknownNhanh { .. }
            | ConsoleError::UnknownShopify { .. }
            | ConsoleError::UnknownMapping { .. }
            | ConsoleError::UnknownConflict { .. } => ApiError::NotFound(e.to_string()),
            ConsoleError::ShopifyTaken { .. } => ApiError::Conflict(e.to_string()),
            ConsoleError::NotInConflict(_) => ApiError::Unprocessable(e.to_string()),
            ConsoleError::Database(e) => store_failure(e),
        }
    }
}

/// A pair to map by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MapBody {
    /// `product` or `customer`.
    #[schema(pattern = r"^(product|customer)$")]
    pub kind: String,
    /// The Nhanh record's id (a number, or its decimal text).
    #[schema(schema_with = nhanh_id_schema)]
    pub nhanh_id: Value,
    /// The Shopify record's gid: `gid://shopify/ProductVariant/…` or `gid://shopify/Customer/…`.
    #[schema(pattern = r"^gid://shopify/(ProductVariant|Customer)/[0-9]+$")]
    pub shopify_id: String,
    /// Take the Shopify record from the mapping that holds it (that mapping is deleted) instead
    /// of answering 409. Default false.
    #[serde(default)]
    pub replace: bool,
    /// Who maps it, kept as the mapping's `createdBy` (default `api`).
    pub by: Option<String>,
}

/// The pair that resolves a conflict.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveBody {
    /// `product` or `customer`.
    #[schema(pattern = r"^(product|customer)$")]
    pub kind: String,
    /// The conflict's key, as `/api/conflicts` lists it.
    pub key: String,
    /// One of the conflict's Nhanh records (a number, or its decimal text).
    #[schema(schema_with = nhanh_id_schema)]
    pub nhanh_id: Value,
    /// One of the conflict's Shopify records.
    #[schema(pattern = r"^gid://shopify/(ProductVariant|Customer)/[0-9]+$")]
    pub shopify_id: String,
    /// As for `POST /api/mappings`.
    #[serde(default)]
    pub replace: bool,
    /// Who resolves it (default `api`).
    pub by: Option<String>,
}

/// The optional body of an unmap.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ByBody {
    /// Who unmaps it (default `api`).
    pub by: Option<String>,
}

/// The statistics of one kind.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KindStatsView {
    /// Nhanh records in the catalog (not removed).
    pub nhanh_records: i64,
    /// Shopify records in the catalog (not removed).
    pub shopify_records: i64,
    /// Mappings with a Shopify side.
    pub mapped: i64,
    /// Nhanh records without a Shopify partner.
    pub unmapped: i64,
    /// Keys the last match found ambiguous (`/api/conflicts`).
    pub conflicting: i64,
    /// Mappings whose last push failed.
    pub failing: i64,
    /// Mappings waiting for a push.
    pub pending: i64,
    /// Mappings pushed.
    pub synced: i64,
    /// Hand-made mappings (including Nhanh records unmapped by hand).
    pub manual: i64,
}

impl From<KindStats> for KindStatsView {
    fn from(s: KindStats) -> Self {
        KindStatsView {
            nhanh_records: s.nhanh_records,
            shopify_records: s.shopify_records,
            mapped: s.mapped,
            unmapped: s.unmapped,
            conflicting: s.conflicting,
            failing: s.failing,
            pending: s.pending,
            synced: s.synced,
            manual: s.manual,
        }
    }
}

/// Both kinds' statistics.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    /// Nhanh products ↔ Shopify variants.
    pub products: KindStatsView,
    /// Nhanh customers ↔ Shopify customers.
    pub customers: KindStatsView,
}

/// What [`nhanh_id`] reads, as the OpenAPI document states it: a positive integer, or its
/// decimal text (the old front end sends ids back as the strings it was given).
fn nhanh_id_schema() -> Schema {
    crate::http::views::positive_id_schema("A Nhanh record's id: a positive integer, or its decimal text").into()
}

/// Reads a Nhanh id given as a number or as decimal text.
pub(crate) fn nhanh_id(raw: &Value) -> Result<i64, ApiError> {
    let id = match raw {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    id.filter(|id| *id > 0).ok_or_else(|| {
        let shown: String = raw.to_string().chars().take(64).collect();
        ApiError::BadRequest(format!("nhanhId must be a positive integer (a number or its decimal text), not {shown}"))
    })
}

/// Checks a Shopify gid against the kind.
pub(crate) fn shopify_id(kind: MatchKind, raw: &str) -> Result<String, ApiError> {
    let prefix = match kind {
        MatchKind::Products => "gid://shopify/ProductVariant/",
        MatchKind::Customers => "gid://shopify/Customer/",
    };
    let raw = raw.trim();
    let ok = raw.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(raw.to_owned())
    } else {
        let shown: String = raw.chars().take(80).collect();
        Err(ApiError::BadRequest(format!(
            "shopifyId must be a {prefix}<number> gid for a {} mapping, not {shown:?}",
            kind.as_str()
        )))
    }
}

fn by(raw: Option<String>) -> String {
    raw.map(|b| b.trim().chars().take(MAX_BY_CHARS).collect::<String>())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "api".into())
}

fn mapping_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim().parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "a mapping id is a positive integer, not {:?}",
            raw.chars().take(64).collect::<String>()
        ))
    })
}

/// A hand mapping from a request's fields, each checked (400 with what is wrong).
fn hand_mapping(
    state: &AppState,
    kind: &str,
    nhanh: &Value,
    shopify: &str,
    who: Option<String>,
    replace: bool,
) -> Result<HandMapping, ApiError> {
    let kind = parse_kind(kind)?;
    Ok(HandMapping {
        kind,
        nhanh_id: nhanh_id(nhanh)?,
        shopify_id: shopify_id(kind, shopify)?,
        by: by(who),
        replace,
        now_ms: now_ms(state),
    })
}

fn now_ms(state: &AppState) -> i64 {
    state.engine.clock().now().timestamp_millis()
}

/// How many records are mapped, unmapped, conflicting and failing, per kind.
#[utoipa::path(get, path = "/api/mappings/stats", tag = "catalog",
    responses(
        (status = 200, description = "The statistics", body = Envelope<StatsView>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn mapping_stats(State(state): State<AppState>) -> ApiResult<StatsView> {
    let db = state.engine.store().db();
    let products = console::mapping_stats(&db, MatchKind::Products).await.map_err(store_failure)?;
    let customers = console::mapping_stats(&db, MatchKind::Customers).await.map_err(store_failure)?;
    Ok(Reply::ok(StatsView { products: products.into(), customers: customers.into() }))
}

/// Maps a Nhanh record to a Shopify record by hand (or re-maps it): the mapping is `manual`,
/// says who made it, and no match changes it. Mapping another Shopify record resets its sync
/// state to `PENDING`.
#[utoipa::path(post, path = "/api/mappings", tag = "catalog",
    request_body(content = MapBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The mapping", body = Envelope<MappingView>),
        (status = 400, description = "Malformed kind, id or gid", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "A record is not in the catalog", body = ErrorEnvelope),
        (status = 409, description = "The Shopify record is mapped to another Nhanh record", body = ErrorEnvelope),
        (status = 422, description = "A body field of the wrong type", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn create_mapping(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MapBody>,
) -> ApiResult<MappingView> {
    let m = hand_mapping(&state, &body.kind, &body.nhanh_id, &body.shopify_id, body.by, body.replace)?;
    let kind = m.kind;
    let mapping = console::map_by_hand(&state.engine.store().db(), &m).await?;
    tracing::info!(kind = kind.as_str(), id = mapping.id, nhanh = m.nhanh_id, by = %m.by, "mapped by hand");
    Ok(Reply::ok(mapping.into()))
}

/// One mapping.
#[utoipa::path(get, path = "/api/mappings/{kind}/{id}", tag = "catalog",
    params(("kind" = String, Path, description = "product or customer", pattern = r"^(product|customer)$"), ("id" = i64, Path, description = "Mapping id", minimum = 1)),
    responses(
        (status = 200, description = "The mapping", body = Envelope<MappingView>),
        (status = 400, description = "Malformed kind or id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such mapping", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn get_mapping(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<MappingView> {
    let kind = parse_kind(&kind)?;
    let id = mapping_id(&id)?;
    let mapping = console::mapping(&state.engine.store().db(), kind, id).await.map_err(store_failure)?;
    let mapping = mapping.ok_or_else(|| ApiError::NotFound(format!("no {} mapping {id}", kind.as_str())))?;
    Ok(Reply::ok(mapping.into()))
}

/// Deletes a mapping (hand-made or matched) with its sync failures: its records are free for the
/// next match to pair. Answers the mapping as it was.
#[utoipa::path(delete, path = "/api/mappings/{kind}/{id}", tag = "catalog",
    params(("kind" = String, Path, description = "product or customer", pattern = r"^(product|customer)$"), ("id" = i64, Path, description = "Mapping id", minimum = 1)),
    responses(
        (status = 200, description = "The mapping deleted", body = Envelope<MappingView>),
        (status = 400, description = "Malformed kind or id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such mapping", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn delete_mapping(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<MappingView> {
    let kind = parse_kind(&kind)?;
    let id = mapping_id(&id)?;
    let gone = console::delete_mapping(&state.engine.store().db(), kind, id).await?;
    tracing::info!(kind = kind.as_str(), id, "mapping deleted");
    Ok(Reply::ok(gone.into()))
}

/// Unmaps by hand: the Nhanh record keeps no Shopify partner (`manual`, `UNMAPPED`) and no match
/// pairs it again until it is mapped by hand or the mapping is deleted.
#[utoipa::path(post, path = "/api/mappings/{kind}/{id}/unmap", tag = "catalog",
    params(("kind" = String, Path, description = "product or customer", pattern = r"^(product|customer)$"), ("id" = i64, Path, description = "Mapping id", minimum = 1)),
    request_body(content = Option<ByBody>, description = "Optional: who", content_type = "application/json"),
    responses(
        (status = 200, description = "The mapping, unmapped", body = Envelope<MappingView>),
        (status = 400, description = "Malformed kind or id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such mapping", body = ErrorEnvelope),
        (status = 422, description = "A body field of the wrong type", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn unmap(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ByBody>,
) -> ApiResult<MappingView> {
    let kind = parse_kind(&kind)?;
    let id = mapping_id(&id)?;
    let by = by(body.by);
    let mapping = console::unmap_by_hand(&state.engine.store().db(), kind, id, &by, now_ms(&state)).await?;
    tracing::info!(kind = kind.as_str(), id, %by, "unmapped by hand");
    Ok(Reply::ok(mapping.into()))
}

/// Resolves a conflict by choosing its pair: the pair is mapped by hand and the conflict goes.
#[utoipa::path(post, path = "/api/conflicts/resolve", tag = "catalog",
    request_body(content = ResolveBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The mapping made", body = Envelope<MappingView>),
        (status = 400, description = "Malformed kind, id or gid", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such conflict, or a record is not in the catalog", body = ErrorEnvelope),
        (status = 409, description = "The Shopify record is mapped to another Nhanh record", body = ErrorEnvelope),
        (status = 422, description = "The pair is not the conflict's, or a body field of the wrong type", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn resolve_conflict(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ResolveBody>,
) -> ApiResult<MappingView> {
    let m = hand_mapping(&state, &body.kind, &body.nhanh_id, &body.shopify_id, body.by, body.replace)?;
    let kind = m.kind;
    let mapping = console::resolve_conflict(&state.engine.store().db(), body.key.trim(), &m).await?;
    tracing::info!(kind = kind.as_str(), key = %body.key, id = mapping.id, "conflict resolved by hand");
    Ok(Reply::ok(mapping.into()))
}
