//! A reconcile's read of Shopify's inventory levels: one bulk export of every active location's
//! levels (`BulkKind::Levels`), started, polled and ingested in steps like a pull's export (the
//! checkpoint holds the operation and the next line; the file stays open between steps of one
//! process and is downloaded again by a resumed job). Each chunk's levels are recorded with the
//! reconcile's job id (`UpsertShopifyLevels`), and the `compare` step reads only its own.
//!
//! Skipped when the products are not reconciled or no depot is mapped onto a location: then
//! every depot feeds the shop's one location and its total is its level.

use dongbo_engine::{Progress, Step, StepContext, StepError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Reconcile, ReconcileInput, ReconcileState};
use crate::catalog::store::pulls::location_mappings;
use crate::catalog::store::reconcile::UpsertShopifyLevels;
use crate::connectors::shopify::bulk::{parse_level_line, ShopifyLevel};
use crate::connectors::shopify::BulkKind;
use crate::pull::plan::{db_error, step_error};
use crate::pull::shopify::bulk::{ingest_lines, poll_export, Polled};

/// Where the read of Shopify's levels is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "camelCase")]
pub enum LevelsRead {
    /// Not started.
    #[default]
    Start,
    /// Waiting for export `operation` to finish.
    Poll {
        /// `gid://shopify/BulkOperation/…`.
        operation: String,
    },
    /// Ingesting export `operation` from line `offset`.
    Ingest {
        /// `gid://shopify/BulkOperation/…`.
        operation: String,
        /// The first line not yet ingested.
        offset: usize,
        /// Levels recorded so far.
        read: u64,
    },
    /// Finished: `read` levels recorded, or `None` when no read was needed.
    Done {
        /// Levels recorded.
        read: Option<u64>,
    },
}

impl LevelsRead {
    /// Whether the compare may run.
    pub fn is_done(&self) -> bool {
        matches!(self, LevelsRead::Done { .. })
    }

    /// The levels recorded, once done with a read.
    pub fn read(&self) -> Option<u64> {
        match self {
            LevelsRead::Done { read } => *read,
            _ => None,
        }
    }
}

impl Reconcile {
    /// One step of the levels read.
    pub(super) async fn read_levels(
        &self,
        ctx: &StepContext,
        input: &ReconcileInput,
        mut state: ReconcileState,
    ) -> Result<Step<ReconcileState>, StepError> {
        let client = self.upstreams.shopify().map_err(StepError::permanent)?.clone();
        match state.levels.clone() {
            LevelsRead::Start => {
                // A new reconcile: whatever an earlier one (failed, cancelled) left open goes.
                *self.export.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let mapping =
                    location_mappings(&ctx.db).await.map_err(|e| db_error("reading the location mapping", e))?;
                if !input.products || mapping.is_empty() {
                    state.levels = LevelsRead::Done { read: None };
                    let note = "Shopify's levels not read: stock is compared in total (no depot is mapped onto a \
                                location, or products are not reconciled)";
                    return Ok(Step::next("levels-start", state).with_note(note));
                }
                let operation = client.bulk_run_query(BulkKind::Levels).await.map_err(step_error)?;
                let note = format!("levels export {operation} started by job {}", ctx.job_id);
                state.levels = LevelsRead::Poll { operation };
                Ok(Step::next("levels-start", state).with_note(note))
            }
            LevelsRead::Poll { operation } => {
                match poll_export(&client, self.settings.bulk_poll_wait, &operation).await? {
                    Polled::Running(note) => Ok(Step::next("levels-poll", state).with_note(note)),
                    Polled::Completed(op) => {
                        state.levels = match op.url {
                            Some(_) => LevelsRead::Ingest { operation, offset: 0, read: 0 },
                            None => LevelsRead::Done { read: Some(0) },
                        };
                        let note = format!("levels export completed with {} objects", op.object_count.unwrap_or(0));
                        Ok(Step::next("levels-poll", state).with_note(note))
                    }
                }
            }
            LevelsRead::Ingest { operation, offset, read } => {
                let chunk = self.settings.bulk_chunk_lines;
                let (rows, next) = ingest_lines(
                    &client,
                    chunk,
                    &self.export,
                    &operation,
                    offset,
                    |line, rows: &mut Vec<ShopifyLevel>| {
                        rows.extend(parse_level_line(line)?);
                        Ok(())
                    },
                )
                .await?;
                let n = rows.len() as u64;
                let read = read + n;
                state.levels = match next {
                    Some(offset) => LevelsRead::Ingest { operation, offset, read },
                    None => LevelsRead::Done { read: Some(read) },
                };
                let progress = Progress { metadata: Some(json!({ "shopifyLevelsRead": read })), ..Progress::default() };
                Ok(Step::next("levels-ingest", state)
                    .with_progress(progress)
                    .with_effects(UpsertShopifyLevels { job: ctx.job_id, rows })
                    .with_note(format!("{n} Shopify levels read, {read} in all")))
            }
            LevelsRead::Done { .. } => self.compare(ctx, input, state).await,
        }
    }
}
