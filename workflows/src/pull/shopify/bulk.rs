//! The bulk-export phases of a Shopify pull: start the export, poll it across steps, and ingest
//! its JSONL in chunks resumable by line offset.
//!
//! # Where the export lives between steps
//!
//! The body is streamed to an anonymous temporary file (see
//! [`ShopifyClient::download_jsonl`]), never held in memory: each ingest step reads its chunk of
//! lines from the file, turns them into rows and lets them go, so a pull's memory is one chunk
//! whatever the export's size. The open file is kept by the workflow between steps of the same
//! process and closed (which deletes it) when the last chunk is read, when a line fails, and
//! when the next job of the kind starts.
//!
//! # Resuming
//!
//! The checkpoint holds the operation id and the number of the next line, never the file or the
//! URL: the URL is a signed link, and checkpoints are events. A step that finds no file for its
//! operation — a resumed job, on this process after a crash or on another machine — asks
//! `bulkOperation(id:)` for the URL again (Shopify keeps a completed export's URL valid for a
//! week), downloads the export once more and skips to its line. A temporary file that outlived
//! its process could not be found by another machine, and a byte offset is only meaningful in
//! one download; a line number is the same in every download of the same export.

use std::sync::Mutex;
use std::time::Duration;

use dongbo_engine::{Progress, Step, StepContext, StepError};
use serde_json::json;

use super::{Batch, Kind, Phase, ShopifyPullState};
use crate::catalog::store::pulls::{ShopifyCustomerRow, ShopifyProductRow, ShopifyVariantRow};
use crate::connectors::shopify::bulk::{parse_customer_line, parse_product_line, JsonlFile};
use crate::connectors::shopify::{BulkKind, BulkOperation, BulkProductLine};
use crate::connectors::{ConnectorError, ShopifyClient};
use crate::pull::plan::step_error;
use crate::pull::PullSettings;

/// A downloaded export, open between the steps that ingest it.
pub(crate) struct OpenExport {
    operation: String,
    file: JsonlFile,
}

impl OpenExport {
    /// The operation and the next line, for [`PullShopifyCustomers::open_export`](super::PullShopifyCustomers::open_export).
    pub(crate) fn position(&self) -> (String, usize) {
        (self.operation.clone(), self.file.line())
    }
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
    let op = match poll_export(client, settings.bulk_poll_wait, &operation).await? {
        Polled::Running(note) => return Ok(Step::next("poll", state).with_note(note)),
        Polled::Completed(op) => op,
    };
    let objects = op.object_count.unwrap_or(0);
    state.phase = match op.url {
        Some(_) => Phase::BulkIngest { operation, offset: 0 },
        None => Phase::Finish,
    };
    let progress = Progress { metadata: Some(json!({ "bulkObjects": objects })), ..Progress::default() };
    Ok(Step::next("poll", state)
        .with_progress(progress)
        .with_note(format!("bulk export completed with {objects} objects")))
}

/// What a poll of an export found.
pub(crate) enum Polled {
    /// Still running after the wait: a note for the step.
    Running(String),
    /// Completed (its `url` is `None` when the export is empty).
    Completed(BulkOperation),
}

/// Polls export `operation` for at most `wait`. An export that ended otherwise than COMPLETED,
/// or that Shopify no longer knows, fails the step for good.
pub(crate) async fn poll_export(client: &ShopifyClient, wait: Duration, operation: &str) -> Result<Polled, StepError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let op = known(client, operation).await?;
        if op.is_finished() {
            if op.status != "COMPLETED" {
                let code = op.error_code.as_deref().unwrap_or("no error code");
                return Err(StepError::permanent(format!("bulk export {operation} ended {} ({code})", op.status)));
            }
            return Ok(Polled::Completed(op));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let note = format!("bulk export {}: {} objects so far", op.status, op.object_count.unwrap_or(0));
            return Ok(Polled::Running(note));
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(200))).await;
    }
}

/// The operation `operation`, which Shopify must still know.
async fn known(client: &ShopifyClient, operation: &str) -> Result<BulkOperation, StepError> {
    client
        .bulk_operation(operation)
        .await
        .map_err(step_error)?
        .ok_or_else(|| StepError::permanent(format!("bulk export {operation} is no longer known to Shopify")))
}

/// Ingests the lines `[offset, offset + chunk)` of the export; returns them as rows and the next
/// offset (`None` at the end of the file). A line that cannot be read fails the step.
pub(super) async fn ingest(
    client: &ShopifyClient,
    settings: &PullSettings,
    open: &Mutex<Option<OpenExport>>,
    kind: Kind,
    operation: &str,
    offset: usize,
) -> Result<(Batch, Option<usize>), StepError> {
    ingest_lines(client, settings.bulk_chunk_lines, open, operation, offset, |line, batch: &mut Batch| {
        match kind {
            Kind::Customers => batch.customers.push(ShopifyCustomerRow::from(&parse_customer_line(line)?)),
            Kind::Products => match parse_product_line(line)? {
                BulkProductLine::Product(p) => batch.products.push(ShopifyProductRow::from(&p)),
                BulkProductLine::Variant { product_id, variant } => {
                    batch.variants.push(ShopifyVariantRow::new(&product_id, &variant))
                }
            },
        }
        Ok(())
    })
    .await
}

/// Reads up to `lines` lines of export `operation` from line `offset` through `parse`, into a
/// `B`; returns it and the next offset (`None` at the end of the file). The file stays open in
/// `open` between steps while lines are left; a step that finds none for its operation (a
/// resumed job) downloads the export again. A line `parse` refuses fails the step for good.
pub(crate) async fn ingest_lines<B: Default>(
    client: &ShopifyClient,
    lines: usize,
    open: &Mutex<Option<OpenExport>>,
    operation: &str,
    offset: usize,
    mut parse: impl FnMut(&str, &mut B) -> Result<(), ConnectorError>,
) -> Result<(B, Option<usize>), StepError> {
    // Taken out of the slot for the step: it goes back only if there is more to read.
    let held = open.lock().unwrap_or_else(|p| p.into_inner()).take().filter(|e| e.operation == operation);
    let mut export = match held {
        Some(export) => export,
        None => OpenExport { operation: operation.to_owned(), file: download(client, operation).await? },
    };
    let read = read_chunk(&mut export.file, lines, offset, &mut parse);
    let (out, more) = read.map_err(|e| e.into_step_error())?;
    if !more {
        return Ok((out, None));
    }
    let next = export.file.line();
    *open.lock().unwrap_or_else(|p| p.into_inner()) = Some(export);
    Ok((out, Some(next)))
}

/// Why a chunk could not be read.
enum ChunkError {
    /// The file (transient: the step downloads it again).
    File(ConnectorError),
    /// A line (permanent: the export itself is wrong).
    Line(usize, ConnectorError),
}

impl ChunkError {
    fn into_step_error(self) -> StepError {
        match self {
            ChunkError::File(e) => step_error(e),
            ChunkError::Line(at, e) => StepError::permanent(format!("bulk export line {at}: {e}")),
        }
    }
}

/// Reads up to `lines` lines from line `offset` through `parse`; says whether any line is left.
fn read_chunk<B: Default>(
    file: &mut JsonlFile,
    lines: usize,
    offset: usize,
    parse: &mut impl FnMut(&str, &mut B) -> Result<(), ConnectorError>,
) -> Result<(B, bool), ChunkError> {
    file.seek_line(offset).map_err(ChunkError::File)?;
    file.mark();
    let mut out = B::default();
    for _ in 0..lines.max(1) {
        let at = file.line() + 1;
        let Some(line) = file.next_line().map_err(ChunkError::File)? else { break };
        parse(line, &mut out).map_err(|e| ChunkError::Line(at, e))?;
    }
    let more = !file.at_end().map_err(ChunkError::File)?;
    Ok((out, more))
}

/// Downloads the export of `operation` (its URL asked of Shopify, never stored).
async fn download(client: &ShopifyClient, operation: &str) -> Result<JsonlFile, StepError> {
    let url = known(client, operation)
        .await?
        .url
        .ok_or_else(|| StepError::permanent(format!("bulk export {operation}: its result is no longer available")))?;
    client.download_jsonl(&url).await.map_err(step_error)
}
