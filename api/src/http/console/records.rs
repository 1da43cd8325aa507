//! `/api/records`: both sides' products and customers with search and filters, each with its
//! mapping, paged by id in the store.

use axum::extract::State;
use dongbo_workflows::catalog::store::console::{self, MappedFilter, RecordQuery, Side};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{parse_kind, store_failure};
use crate::http::catalog::{ListingPage, MAX_LISTING_PAGE};
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use crate::http::extract::ApiQuery;
use crate::http::jobs::page_size;
use crate::http::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_records))
}

/// The longest search text.
const MAX_SEARCH_CHARS: usize = 200;

/// The filters and paging of `/api/records`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordsQuery {
    /// `nhanh` or `shopify` (required).
    #[param(required = true, pattern = r"^(nhanh|shopify)$")]
    pub side: Option<String>,
    /// `product` or `customer` (required).
    #[param(required = true, pattern = r"^(product|customer)$")]
    pub kind: Option<String>,
    /// Text found (case-insensitively) in the name, SKU, barcode, phone or email; a phone number
    /// in any format also finds the customers holding it.
    pub q: Option<String>,
    /// `true`: only records with a partner; `false`: only those without.
    pub mapped: Option<bool>,
    /// Only records whose mapping is in this state (`UNMAPPED`, `PENDING`, `SYNCED`, `FAILED`).
    #[param(pattern = r"^(UNMAPPED|PENDING|SYNCED|FAILED)$")]
    pub state: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One record with its mapping.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    /// `nhanh` or `shopify`.
    pub side: String,
    /// `product` or `customer`.
    pub kind: String,
    /// Its id: a Nhanh id in decimal, or a Shopify gid.
    pub id: String,
    /// Name (a variant: its product's title).
    pub name: Option<String>,
    /// SKU (products).
    pub sku: Option<String>,
    /// Barcode (products).
    pub barcode: Option<String>,
    /// Phone as stored (customers).
    pub phone: Option<String>,
    /// Email (Shopify customers).
    pub email: Option<String>,
    /// Its mapping's id.
    pub mapping_id: Option<i64>,
    /// The record on the other side it is mapped to.
    pub mapped_to: Option<String>,
    /// Its mapping's state.
    pub state: Option<String>,
    /// `manual` for a hand-made mapping, else the match method.
    pub method: Option<String>,
}

/// Both sides' records with search and filters, by id.
#[utoipa::path(get, path = "/api/records", tag = "catalog", params(RecordsQuery),
    responses(
        (status = 200, description = "A page of records", body = Envelope<ListingPage<RecordView>>),
        (status = 400, description = "Missing or invalid side, kind, filter or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn list_records(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RecordsQuery>,
) -> ApiResult<ListingPage<RecordView>> {
    let side = match q.side.as_deref().map(str::trim) {
        Some("nhanh") => Side::Nhanh,
        Some("shopify") => Side::Shopify,
        other => {
            return Err(ApiError::BadRequest(format!(
                "side must be nhanh or shopify, not {:?}",
                other.unwrap_or("").chars().take(40).collect::<String>()
            )))
        }
    };
    let kind = parse_kind(q.kind.as_deref().unwrap_or(""))?;
    let limit = page_size(q.limit, 50, MAX_LISTING_PAGE)?;
    let filter = crate::http::catalog::mapping_filter(q.state.as_deref(), None)?;
    let after = q.cursor.filter(|c| !c.is_empty());
    if side == Side::Nhanh {
        if let Some(c) = &after {
            if c.parse::<i64>().is_err() {
                return Err(ApiError::BadRequest(format!(
                    "malformed cursor {:?}",
                    c.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    let query = RecordQuery {
        side,
        kind,
        search: q.q.map(|s| s.chars().take(MAX_SEARCH_CHARS).collect()),
        mapped: q.mapped.map(|m| if m { MappedFilter::Mapped } else { MappedFilter::Unmapped }),
        state: filter.state,
        after,
        limit,
    };
    let rows = console::records_page(&state.engine.store().db(), &query).await.map_err(store_failure)?;
    let next_cursor = (rows.len() as i64 == limit).then(|| rows.last().map(|r| r.id.clone())).flatten();
    let side_name = match side {
        Side::Nhanh => "nhanh",
        Side::Shopify => "shopify",
    };
    let items = rows
        .into_iter()
        .map(|r| RecordView {
            side: side_name.to_owned(),
            kind: kind.as_str().to_owned(),
            id: r.id,
            name: r.name,
            sku: r.sku,
            barcode: r.barcode,
            phone: r.phone,
            email: r.email,
            mapping_id: r.mapping_id,
            mapped_to: r.partner,
            state: r.state,
            method: r.method,
        })
        .collect();
    Ok(Reply::ok(ListingPage { items, next_cursor }))
}
