//! The bulk-export phases of a Shopify pull: start the export, poll it across steps, and ingest
//! its JSONL in chunks resumable by line offset.
//!
//! The export's URL is a signed link, so it is never put in a checkpoint (checkpoints are
//! events): an ingest step asks `currentBulkOperation` for it. The downloaded lines are kept in
//! memory by the workflow between steps of the same process; a resumed job on another process
//! downloads the file once more and continues at its line offset.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dongbo_engine::{Progress, Step, StepContext, StepError};
use serde_json::json;

use super::{Batch, Kind, Phase, ShopifyPullState};
use crate::catalog::store::pulls::{ShopifyCustomerRow, ShopifyProductRow, ShopifyVariantRow};
use crate::connectors::shopify::bulk::{parse_customer_line, parse_product_line};
use crate::connectors::shopify::{BulkKind, BulkProductLine};
use crate::connectors::ShopifyClient;
use crate::pull::plan::{chunk, step_error};
use crate::pull::PullSettings;

/// A downloaded export: its operation id and its lines.
pub(super) struct JsonlCache {
    operation: String,
    lines: Arc<Vec<String>>,
}

/// Starts the export.
pub(super) async fn start(
    ctx: &StepContext,
    client: &ShopifyClient,
    kind: Kind,
    mut state: ShopifyPullState,
) -> Result<Step<ShopifyPullState>, StepError> {
    let bulk_kind = match kind {
        Kind::Customers => BulkKind::Customers,
        Kind::Products => BulkKind::Products,
    };
    let operation = client.bulk_run_query(bulk_kind).await.map_err(step_error)?;
    let note = format!("bulk export {operation} started by job {}", ctx.job_id);
    state.phase = Phase::BulkPoll { operation };
    Ok(Step::next("bulk-start", state).with_note(note))
}

/// Polls the export for at most `settings.bulk_poll_wait`: still running → the same state again
/// (the engine checkpoints and calls back); completed → ingest; failed → the job fails.
pub(super) async fn poll(
    client: &ShopifyClient,
    settings: &PullSettings,
    operation: String,
    mut state: ShopifyPullState,
) -> Result<Step<ShopifyPullState>, StepError> {
    let deadline = tokio::time::Instant::now() + settings.bulk_poll_wait;
    loop {
        let current = client.current_bulk_operation().await.map_err(step_error)?;
        let op = match current {
            Some(op) if op.id == operation => op,
            Some(other) => {
                return Err(StepError::permanent(format!(
                    "bulk export {operation} was replaced by {} before it was read",
                    other.id
                )))
            }
            None => return Err(StepError::permanent(format!("bulk export {operation} is no longer known to Shopify"))),
        };
        if op.is_finished() {
            if op.status != "COMPLETED" {
                let code = op.error_code.as_deref().unwrap_or("no error code");
                return Err(StepError::permanent(format!("bulk export {operation} ended {} ({code})", op.status)));
            }
            let objects = op.object_count.unwrap_or(0);
            state.phase = match op.url {
                Some(_) => Phase::BulkIngest { operation, offset: 0 },
                None => Phase::Finish,
            };
            let progress = Progress { metadata: Some(json!({ "bulkObjects": objects })), ..Progress::default() };
            return Ok(Step::next("poll", state)
                .with_progress(progress)
                .with_note(format!("bulk export completed with {objects} objects")));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let note = format!("bulk export {}: {} objects so far", op.status, op.object_count.unwrap_or(0));
            return Ok(Step::next("poll", state).with_note(note));
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(200))).await;
    }
}

/// Ingests the lines `[offset, offset + chunk)` of the export; returns them as rows and the next
/// offset (`None` at the end of the file). A line that cannot be read fails the step.
pub(super) async fn ingest(
    client: &ShopifyClient,
    settings: &PullSettings,
    cache: &Mutex<Option<JsonlCache>>,
    kind: Kind,
    operation: &str,
    offset: usize,
) -> Result<(Batch, Option<usize>), StepError> {
    let lines = lines_of(client, cache, operation).await?;
    let range = chunk(offset, lines.len(), settings.bulk_chunk_lines);
    let end = range.end;
    let mut batch = Batch::default();
    for (i, line) in lines[range].iter().enumerate() {
        let at = offset + i + 1;
        match kind {
            Kind::Customers => {
                let c = parse_customer_line(line).map_err(|e| line_error(at, e))?;
                batch.customers.push(ShopifyCustomerRow::from(&c));
            }
            Kind::Products => match parse_product_line(line).map_err(|e| line_error(at, e))? {
                BulkProductLine::Product(p) => batch.products.push(ShopifyProductRow::from(&p)),
                BulkProductLine::Variant { product_id, variant } => {
                    batch.variants.push(ShopifyVariantRow::new(&product_id, &variant))
                }
            },
        }
    }
    Ok((batch, (end < lines.len()).then_some(end)))
}

fn line_error(line: usize, e: crate::connectors::ConnectorError) -> StepError {
    StepError::permanent(format!("bulk export line {line}: {e}"))
}

/// The export's lines, from the cache or downloaded (the URL asked of Shopify, never stored).
async fn lines_of(
    client: &ShopifyClient,
    cache: &Mutex<Option<JsonlCache>>,
    operation: &str,
) -> Result<Arc<Vec<String>>, StepError> {
    {
        let cached = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref().filter(|c| c.operation == operation) {
            return Ok(c.lines.clone());
        }
    }
    let op = client.current_bulk_operation().await.map_err(step_error)?;
    let url = match op {
        Some(op) if op.id == operation => op.url,
        _ => None,
    }
    .ok_or_else(|| StepError::permanent(format!("bulk export {operation}: its result is no longer available")))?;
    let downloaded = client.download_jsonl(&url).await;
    let lines = Arc::new(downloaded.map_err(step_error)?);
    *cache.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(JsonlCache { operation: operation.to_owned(), lines: lines.clone() });
    Ok(lines)
}
