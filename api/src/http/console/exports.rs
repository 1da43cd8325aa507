//! CSV exports, streamed: the mappings, the failed items, and the records a job touched.
//!
//! Each answer is a body built from a stream of chunks. Mappings and failures are read a keyset
//! page at a time (one page in memory, no connection held between pages); a job's items stream
//! from one query through a bounded channel. Memory stays constant whatever the size, and a
//! client that stops reading stops the reads. Fields are quoted as RFC 4180 says, and a text
//! field that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first, but not a
//! signed number such as an E.164 phone) is prefixed with `'`.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use dongbo_engine::Db;
use dongbo_workflows::catalog::store::console::{self, ConsoleMapping, MappingFilter};
use dongbo_workflows::catalog::store::matching::MatchKind;
use dongbo_workflows::catalog::store::sync::{self as sync_store, FailureCursor};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::parse_kind;
use crate::http::catalog::mapping_filter;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiQuery, JobIdPath};
use crate::http::jobs::load_job;
use crate::http::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_mappings))
        .routes(routes!(export_failures))
        .routes(routes!(export_job_items))
}

/// Rows read per page.
const PAGE: i64 = 1000;

/// One CSV field.
fn field(out: &mut String, value: &str) {
    // A signed number (a phone in E.164, a negative count) is data, not a formula.
    let signed_number = value.starts_with(['+', '-']) && value[1..].starts_with(|c: char| c.is_ascii_digit());
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !signed_number;
    let value = if risky { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&value);
    }
}

/// One CSV line (CRLF-terminated, as RFC 4180 says).
fn line(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push_str("\r\n");
}

fn csv_response(filename: &str, body: impl Stream<Item = Result<String, String>> + Send + 'static) -> Response {
    let body = body.map_ok(Bytes::from).map_err(std::io::Error::other);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The filters of the mappings export.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MappingsExportQuery {
    /// `product` or `customer` (default: both, products first).
    #[param(pattern = r"^(product|customer)$")]
    pub kind: Option<String>,
    /// Only mappings in this state.
    #[param(pattern = r"^(UNMAPPED|PENDING|SYNCED|FAILED)$")]
    pub state: Option<String>,
    /// `manual` or `match`.
    #[param(pattern = r"^(manual|match)$")]
    pub source: Option<String>,
}

const MAPPING_HEADER: [&str; 12] = [
    "kind",
    "id",
    "nhanhId",
    "shopifyId",
    "method",
    "source",
    "createdBy",
    "matchKey",
    "jobId",
    "state",
    "lastError",
    "updatedAt",
];

fn mapping_line(out: &mut String, m: &ConsoleMapping) {
    let updated = chrono::DateTime::from_timestamp_millis(m.updated_at).map(|t| t.to_rfc3339()).unwrap_or_default();
    line(
        out,
        &[
            m.kind.as_str(),
            &m.id.to_string(),
            &m.nhanh_id.to_string(),
            m.shopify_id.as_deref().unwrap_or(""),
            &m.method,
            if m.method == "manual" { "manual" } else { "match" },
            m.created_by.as_deref().unwrap_or(""),
            m.match_key.as_deref().unwrap_or(""),
            m.job_id.as_deref().unwrap_or(""),
            &m.state,
            m.last_error.as_deref().unwrap_or(""),
            &updated,
        ],
    );
}

/// Every mapping (filtered) as CSV, by kind and id.
#[utoipa::path(get, path = "/api/exports/mappings.csv", tag = "catalog", params(MappingsExportQuery),
    responses(
        (status = 200, description = "CSV: kind,id,nhanhId,shopifyId,method,source,createdBy,matchKey,jobId,state,lastError,updatedAt",
         content_type = "text/csv", body = String),
        (status = 400, description = "Invalid filter", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn export_mappings(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<MappingsExportQuery>,
) -> Result<Response, ApiError> {
    let kinds = match q.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => vec![MatchKind::Products, MatchKind::Customers],
        Some(k) => vec![parse_kind(k)?],
    };
    let filter = mapping_filter(q.state.as_deref(), q.source.as_deref())?;
    let db = state.engine.store().db();
    let mut header = String::new();
    line(&mut header, &MAPPING_HEADER);
    struct Walk {
        db: Db,
        filter: MappingFilter,
        kinds: std::vec::IntoIter<MatchKind>,
        kind: Option<MatchKind>,
        after: i64,
    }
    let mut kinds = kinds.into_iter();
    let first = kinds.next();
    let walk = Walk { db, filter, kinds, kind: first, after: 0 };
    let pages = futures::stream::try_unfold(walk, |mut w| async move {
        while let Some(kind) = w.kind {
            let rows = console::mappings_by_id(&w.db, kind, &w.filter, w.after, PAGE).await.map_err(|e| {
                tracing::error!(error = %e, "the mappings export failed");
                e.to_string()
            })?;
            if (rows.len() as i64) < PAGE {
                w.kind = w.kinds.next();
                w.after = 0;
            } else if let Some(last) = rows.last() {
                w.after = last.id;
            }
            if !rows.is_empty() {
                let mut chunk = String::with_capacity(rows.len() * 120);
                for m in &rows {
                    mapping_line(&mut chunk, m);
                }
                return Ok(Some((chunk, w)));
            }
        }
        Ok(None)
    });
    let body = futures::stream::once(async move { Ok(header) }).chain(pages);
    Ok(csv_response("mappings.csv", body))
}

/// Every item whose last sync failed as CSV, oldest first.
#[utoipa::path(get, path = "/api/exports/failures.csv", tag = "catalog",
    responses(
        (status = 200, description = "CSV: kind,mappingId,reason,failedAt,attempts", content_type = "text/csv", body = String),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn export_failures(State(state): State<AppState>) -> Result<Response, ApiError> {
    let db = state.engine.store().db();
    let mut header = String::new();
    line(&mut header, &["kind", "mappingId", "reason", "failedAt", "attempts"]);
    let pages = futures::stream::try_unfold(Some((db, None::<FailureCursor>)), |walk| async move {
        let Some((db, cursor)) = walk else { return Ok(None) };
        let rows = sync_store::failures_page(&db, i64::MAX, cursor.as_ref(), PAGE).await.map_err(|e| {
            tracing::error!(error = %e, "the failures export failed");
            e.to_string()
        })?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut chunk = String::with_capacity(rows.len() * 100);
        for f in &rows {
            let at = chrono::DateTime::from_timestamp_millis(f.failed_at).map(|t| t.to_rfc3339()).unwrap_or_default();
            line(&mut chunk, &[f.kind.as_str(), &f.mapping_id.to_string(), &f.reason, &at, &f.attempts.to_string()]);
        }
        let next = (rows.len() as i64 == PAGE)
            .then(|| {
                rows.last().map(|f| FailureCursor { failed_at: f.failed_at, kind: f.kind, mapping_id: f.mapping_id })
            })
            .flatten()
            .map(|c| (db, Some(c)));
        Ok(Some((chunk, next)))
    });
    let body = futures::stream::once(async move { Ok(header) }).chain(pages);
    Ok(csv_response("failures.csv", body))
}

/// Every record a job touched as CSV, in log order (from the audit index: every one, not only
/// the first thousand of a step that its event lists).
#[utoipa::path(get, path = "/api/jobs/{id}/items.csv", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, description = "CSV: position,kind,id,action", content_type = "text/csv", body = String),
        (status = 400, description = "Malformed id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such job", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn export_job_items(State(state): State<AppState>, JobIdPath(id): JobIdPath) -> Result<Response, ApiError> {
    load_job(&state, id).await?;
    let db = state.engine.store().db();
    let (tx, rx) = futures::channel::mpsc::channel(PAGE as usize);
    tokio::spawn(console::stream_job_items(db, id, tx));
    let mut header = String::new();
    line(&mut header, &["position", "kind", "id", "action"]);
    // Lines are gathered into chunks of what is ready, at most a page, so a large export is not
    // one write per line.
    let lines = rx.ready_chunks(PAGE as usize).map(|items| {
        let mut chunk = String::with_capacity(items.len() * 60);
        for item in items {
            match item {
                Ok(i) => line(&mut chunk, &[&i.position.to_string(), &i.kind, &i.id, &i.action]),
                Err(e) => {
                    tracing::error!(error = %e, "the job items export failed");
                    return Err(e.to_string());
                }
            }
        }
        Ok(chunk)
    });
    let body = futures::stream::once(async move { Ok(header) }).chain(lines);
    Ok(csv_response(&format!("job-{id}-items.csv"), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fields: &[&str], expect: &str) {
        let mut out = String::new();
        line(&mut out, fields);
        assert_eq!(out, expect, "{fields:?}");
    }

    #[test]
    fn fields_are_quoted_as_rfc_4180_says_and_formulas_are_defused() {
        check(&["a", "b c", ""], "a,b c,\r\n");
        check(&["x,y", "say \"hi\"", "two\nlines"], "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
        check(&["=1+1", "+84912", "@a", "-x", "-5", "+x"], "'=1+1,+84912,'@a,'-x,-5,'+x\r\n");
        check(&["Nguyễn Văn Á"], "Nguyễn Văn Á\r\n");
    }
}
