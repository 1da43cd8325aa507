//! The catalog listings: the conflicts the matches recorded, the mappings, and the items whose
//! last sync failed. Read-only views over the workflows' catalog store functions; no SQL here.
//!
//! Every listing is paged by the store (keyset, never a whole kind in memory): conflicts by kind
//! and key, mappings by kind and Nhanh id (cursor `kind.key`), failures by age.

use axum::extract::State;
use chrono::{DateTime, Utc};
use dongbo_workflows::catalog::store::console;
use dongbo_workflows::catalog::store::matching::{self, MatchKind};
use dongbo_workflows::catalog::store::sync::{self as sync_store, FailureCursor, SyncKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::extract::ApiQuery;
use super::jobs::page_size;
use super::AppState;

/// The largest page of a listing.
pub const MAX_LISTING_PAGE: u32 = 1000;
/// The default page of a listing.
const DEFAULT_LISTING_PAGE: u32 = 100;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_conflicts)).routes(routes!(list_mappings)).routes(routes!(list_failures))
}

/// The filters and paging of `/api/mappings`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListingQuery {
    /// `product` or `customer` (default: both, products first).
    #[param(pattern = r"^(product|customer)$")]
    pub kind: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only mappings in this state (`UNMAPPED`, `PENDING`, `SYNCED`, `FAILED`).
    #[param(pattern = r"^(UNMAPPED|PENDING|SYNCED|FAILED)$")]
    pub state: Option<String>,
    /// `manual` (hand-made) or `match` (made by a match job).
    #[param(pattern = r"^(manual|match)$")]
    pub source: Option<String>,
}

/// The filter and paging of `/api/conflicts`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConflictsQuery {
    /// `product` or `customer` (default: both, products first).
    #[param(pattern = r"^(product|customer)$")]
    pub kind: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The paging of `/api/failures` (both kinds, oldest first).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FailuresQuery {
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Reads the `state` and `source` filters of a mapping listing or export.
pub(crate) fn mapping_filter(state: Option<&str>, source: Option<&str>) -> Result<console::MappingFilter, ApiError> {
    let state = match state.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s @ ("UNMAPPED" | "PENDING" | "SYNCED" | "FAILED")) => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "state must be UNMAPPED, PENDING, SYNCED or FAILED, not {:?}",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    let manual = match source.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some("manual") => Some(true),
        Some("match") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "source must be manual or match, not {:?}",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    Ok(console::MappingFilter { state, manual })
}

/// A page of a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListingPage<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One key that matched several records on the other side.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConflictView {
    /// `product` or `customer`.
    pub kind: String,
    /// The match key (a normalised SKU or barcode, or an E.164 phone).
    pub key: String,
    /// The Nhanh records with this key.
    pub nhanh_ids: Vec<i64>,
    /// The Shopify records with this key.
    pub shopify_ids: Vec<String>,
    /// The job that recorded it.
    pub job_id: String,
}

/// A mapping of a Nhanh record to a Shopify record.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MappingView {
    /// The mapping's id (per kind): what `mappingIds`, `/api/mappings/{kind}/{id}` and
    /// `/api/failures` name.
    pub id: i64,
    /// `product` or `customer`.
    pub kind: String,
    /// The Nhanh record.
    pub nhanh_id: i64,
    /// The Shopify record; `null` for a Nhanh record unmapped by hand.
    pub shopify_id: Option<String>,
    /// `sku`, `barcode`, `phone` or `manual`.
    pub method: String,
    /// `manual` (made by hand: matching never changes it) or `match` (made by a match job).
    pub source: String,
    /// Who made it by hand (`api`, `cli`, `dashboard` or the name the client gave).
    pub created_by: Option<String>,
    /// The key it was matched on.
    pub match_key: Option<String>,
    /// The match job that made it.
    pub job_id: Option<String>,
    /// `UNMAPPED`, `PENDING`, `SYNCED` or `FAILED`.
    pub state: String,
    /// Why its last push failed.
    pub last_error: Option<String>,
    /// When it was last pushed.
    pub synced_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<console::ConsoleMapping> for MappingView {
    fn from(m: console::ConsoleMapping) -> Self {
        MappingView {
            id: m.id,
            kind: m.kind.as_str().to_owned(),
            nhanh_id: m.nhanh_id,
            shopify_id: m.shopify_id,
            source: if m.method == "manual" { "manual" } else { "match" }.to_owned(),
            method: m.method,
            created_by: m.created_by,
            match_key: m.match_key,
            job_id: m.job_id,
            state: m.state,
            last_error: m.last_error,
            synced_at: m.synced_at.and_then(DateTime::from_timestamp_millis),
            updated_at: DateTime::from_timestamp_millis(m.updated_at),
        }
    }
}

/// An item whose last sync failed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureView {
    /// `product` or `customer`.
    pub kind: String,
    /// The mapping.
    pub mapping_id: i64,
    /// Why the last push failed.
    pub reason: String,
    /// When.
    pub failed_at: Option<DateTime<Utc>>,
    /// How many pushes failed in a row.
    pub attempts: i64,
}

fn kinds(kind: Option<&str>) -> Result<Vec<MatchKind>, ApiError> {
    match kind.map(str::trim).filter(|k| !k.is_empty()) {
        None => Ok(vec![MatchKind::Products, MatchKind::Customers]),
        Some("product") => Ok(vec![MatchKind::Products]),
        Some("customer") => Ok(vec![MatchKind::Customers]),
        Some(other) => Err(ApiError::BadRequest(format!("kind must be product or customer, not {other:?}"))),
    }
}

/// A failed catalog read: logged in full, answered as a generic 500.
fn store_failure(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("reading the catalog: {e}"))
}

/// One page over `kinds` in order, each read by `fetch(kind, after, n)` (at most `n` rows of
/// the kind after the key `after`, in key order). The cursor is the last row's `kind.key`
/// (`cursor_of`), so a page never reads more than `limit + 1` rows.
async fn keyset_page<T, F, Fut>(
    kinds: Vec<MatchKind>,
    cursor: Option<&str>,
    limit: i64,
    fetch: F,
    cursor_of: impl Fn(&T) -> String,
) -> Result<ListingPage<T>, ApiError>
where
    F: Fn(MatchKind, Option<String>, i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, ApiError>>,
{
    let mut after = None;
    let mut kinds = kinds.into_iter().peekable();
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        let bad = || ApiError::BadRequest(format!("malformed cursor {c:?}"));
        let (kind, key) = c.split_once('.').ok_or_else(bad)?;
        let kind = match kind {
            "product" => MatchKind::Products,
            "customer" => MatchKind::Customers,
            _ => return Err(bad()),
        };
        while kinds.next_if(|k| *k != kind).is_some() {}
        if kinds.peek().is_none() {
            return Err(bad());
        }
        after = Some(key.to_owned());
    }
    let mut items: Vec<T> = Vec::new();
    for kind in kinds {
        let need = limit - items.len() as i64;
        let mut rows = fetch(kind, after.take(), need + 1).await?;
        if rows.len() as i64 > need {
            rows.truncate(need as usize);
            items.extend(rows);
            let next_cursor = items.last().map(&cursor_of);
            return Ok(ListingPage { items, next_cursor });
        }
        items.extend(rows);
    }
    Ok(ListingPage { items, next_cursor: None })
}

/// The conflicts the matches recorded, by kind and key.
#[utoipa::path(get, path = "/api/conflicts", tag = "catalog", params(ConflictsQuery),
    responses(
        (status = 200, description = "A page of conflicts", body = Envelope<ListingPage<ConflictView>>),
        (status = 400, description = "Invalid filter or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn list_conflicts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConflictsQuery>,
) -> ApiResult<ListingPage<ConflictView>> {
    let limit = page_size(q.limit, DEFAULT_LISTING_PAGE, MAX_LISTING_PAGE)?;
    let db = state.engine.store().db();
    let fetch = |kind: MatchKind, after: Option<String>, n: i64| {
        let db = db.clone();
        async move {
            let rows = matching::conflicts_page(&db, kind, after.as_deref(), n).await.map_err(store_failure)?;
            Ok(rows
                .into_iter()
                .map(|c| ConflictView {
                    kind: kind.as_str().to_owned(),
                    key: c.key,
                    nhanh_ids: c.nhanh_ids,
                    shopify_ids: c.shopify_ids,
                    job_id: c.job_id,
                })
                .collect())
        }
    };
    let cursor_of = |c: &ConflictView| format!("{}.{}", c.kind, c.key);
    Ok(Reply::ok(keyset_page(kinds(q.kind.as_deref())?, q.cursor.as_deref(), limit, fetch, cursor_of).await?))
}

/// The mappings, by kind and Nhanh id, with their ids and who made them; filtered by state and
/// source.
#[utoipa::path(get, path = "/api/mappings", tag = "catalog", params(ListingQuery),
    responses(
        (status = 200, description = "A page of mappings", body = Envelope<ListingPage<MappingView>>),
        (status = 400, description = "Invalid filter or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn list_mappings(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListingQuery>,
) -> ApiResult<ListingPage<MappingView>> {
    let limit = page_size(q.limit, DEFAULT_LISTING_PAGE, MAX_LISTING_PAGE)?;
    let filter = mapping_filter(q.state.as_deref(), q.source.as_deref())?;
    let db = state.engine.store().db();
    let fetch = |kind: MatchKind, after: Option<String>, n: i64| {
        let db = db.clone();
        let filter = filter.clone();
        async move {
            let after = match after {
                None => None,
                Some(a) => Some(a.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("malformed cursor {a:?}")))?),
            };
            let rows = console::mappings_by_nhanh(&db, kind, &filter, after, n).await.map_err(store_failure)?;
            Ok(rows.into_iter().map(MappingView::from).collect())
        }
    };
    let cursor_of = |m: &MappingView| format!("{}.{}", m.kind, m.nhanh_id);
    Ok(Reply::ok(keyset_page(kinds(q.kind.as_deref())?, q.cursor.as_deref(), limit, fetch, cursor_of).await?))
}

/// Writes a failure cursor as `failedAt.kind.mappingId`.
fn failure_cursor_text(c: &FailureCursor) -> String {
    format!("{}.{}.{}", c.failed_at, c.kind.as_str(), c.mapping_id)
}

/// Reads a cursor written by [`failure_cursor_text`].
fn parse_failure_cursor(s: &str) -> Result<FailureCursor, ApiError> {
    let bad = || ApiError::BadRequest(format!("malformed cursor {s:?}"));
    let mut parts = s.splitn(3, '.');
    let failed_at = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let kind = parts.next().and_then(SyncKind::parse).ok_or_else(bad)?;
    let mapping_id = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    Ok(FailureCursor { failed_at, kind, mapping_id })
}

/// The items whose last sync failed, oldest first: what `retry-failed` would re-drive.
#[utoipa::path(get, path = "/api/failures", tag = "catalog", params(FailuresQuery),
    responses(
        (status = 200, description = "A page of failed items", body = Envelope<ListingPage<FailureView>>),
        (status = 400, description = "Invalid cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn list_failures(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<FailuresQuery>,
) -> ApiResult<ListingPage<FailureView>> {
    let limit = page_size(q.limit, DEFAULT_LISTING_PAGE, MAX_LISTING_PAGE)?;
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty()).map(parse_failure_cursor).transpose()?;
    let db = state.engine.store().db();
    let rows = sync_store::failures_page(&db, i64::MAX, cursor.as_ref(), limit).await.map_err(store_failure)?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| {
            rows.last().map(|f| {
                failure_cursor_text(&FailureCursor { failed_at: f.failed_at, kind: f.kind, mapping_id: f.mapping_id })
            })
        })
        .flatten();
    let items = rows
        .into_iter()
        .map(|f| FailureView {
            kind: f.kind.as_str().to_owned(),
            mapping_id: f.mapping_id,
            reason: f.reason,
            failed_at: DateTime::from_timestamp_millis(f.failed_at),
            attempts: f.attempts,
        })
        .collect();
    Ok(Reply::ok(ListingPage { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_cursor_reads_back_what_it_wrote() {
        let c = FailureCursor { failed_at: 1_700_000_000_123, kind: SyncKind::Customer, mapping_id: 42 };
        assert_eq!(parse_failure_cursor(&failure_cursor_text(&c)).unwrap(), c);
        for bad in ["", "1.customer", "x.customer.1", "1.order.1", "1.product.x"] {
            assert!(parse_failure_cursor(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
