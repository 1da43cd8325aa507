//! The operator's console: mappings made, changed and removed by hand, conflicts resolved by
//! choosing a pair, mapping statistics, both sides' records with search and filters, CSV exports
//! streamed from the store a page at a time, the job queue, and the bulk resume of failed jobs.
//! Handlers call the workflows' console store (`catalog::store::console`); no SQL here.
//!
//! # Layout
//!
//! - [`mappings`][mappings] serves `/api/mappings/…` writes and stats, `/api/conflicts/resolve`.
//! - [`records`][records] serves `/api/records`.
//! - [`exports`][exports] serves `/api/exports/mappings.csv`, `/api/exports/failures.csv`, `/api/jobs/{id}/items.csv`.
//! - [`queue`][queue] serves `/api/queue` and `POST /api/jobs/resume-failed`.

pub mod exports;
pub mod mappings;
pub mod queue;
pub mod records;

use dongbo_workflows::catalog::store::matching::MatchKind;
use utoipa_axum::router::OpenApiRouter;

use super::error::ApiError;
use super::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(mappings::routes())
        .merge(records::routes())
        .merge(exports::routes())
        .merge(queue::routes())
}

/// Reads a kind: `product` or `customer`.
pub(crate) fn parse_kind(raw: &str) -> Result<MatchKind, ApiError> {
    match raw.trim() {
        "product" => Ok(MatchKind::Products),
        "customer" => Ok(MatchKind::Customers),
        other => Err(ApiError::BadRequest(format!(
            "kind must be product or customer, not {:?}",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// A failed console read: logged in full, answered as a generic 500.
pub(crate) fn store_failure(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("the console store: {e}"))
}
