//! `GET /api/audit?entity=kind:id`: which jobs touched a record and what they did to it.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::extract::ApiQuery;
use super::jobs::page_size;
use super::views::AuditEntry;
use super::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit))
}

/// The entity to look up.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `kind:id`, e.g. `nhanh_customer:1042` or `shopify_variant:gid://shopify/ProductVariant/7`.
    #[param(required = true, pattern = r"^[^:\s][^:]*:.*\S$", max_length = 512)]
    pub entity: Option<String>,
    /// At most this many events, 1 to 1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The events that touched an entity, oldest first, with the job and what each did to it.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "The events, oldest first", body = Envelope<Vec<AuditEntry>>),
        (status = 400, description = "Missing or malformed entity", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn audit(State(state): State<AppState>, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Vec<AuditEntry>> {
    let entity = q.entity.as_deref().map(str::trim).unwrap_or("");
    match entity.split_once(':') {
        Some((kind, id)) if !kind.is_empty() && !id.is_empty() && entity.len() <= 512 => {}
        _ => return Err(ApiError::BadRequest("entity must be given as kind:id, e.g. nhanh_customer:1042".into())),
    }
    let limit = page_size(q.limit, 200, 1000)?;
    let store = state.engine.store();
    let touches = store.entity_events(entity, limit).await?;
    let mut job_types: HashMap<_, Option<String>> = HashMap::new();
    for t in &touches {
        if let Entry::Vacant(slot) = job_types.entry(t.event.job_id) {
            slot.insert(store.job(t.event.job_id).await?.map(|j| j.job_type));
        }
    }
    let entries = touches
        .into_iter()
        .map(|t| AuditEntry {
            job_id: t.event.job_id.as_uuid(),
            job_type: job_types.get(&t.event.job_id).cloned().flatten(),
            seq: t.event.seq,
            position: t.event.position,
            event_type: t.event.event_type,
            action: t.action,
            recorded_at: t.event.recorded_at,
            actor: t.event.actor,
        })
        .collect();
    Ok(Reply::ok(entries))
}
