//! `RETRY_FAILED_SYNC`: re-drives the items whose last push failed, oldest failure first, both
//! kinds, up to `limit`. Customers are pushed whatever their last value (a retry is a forced
//! push); products with fresh stock. An item that fails again gets a newer `failed_at`, after the
//! job's cutoff, so one job never picks it twice.

use async_trait::async_trait;
use dongbo_engine::{Next, Progress, Step, StepContext, StepError, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::push::{Pushed, Pusher, ReadBack, Scope};
use super::{db_error, SyncSettings, Written};
use crate::catalog::store::pulls::EffectsList;
use crate::catalog::store::sync::{self as store, FailureCursor, SyncKind};
use crate::upstreams::Upstreams;

/// Failures re-driven per step.
const FAILURES_PER_STEP: i64 = 250;
/// The default `limit`: the old tool's `retry-failed` took 100 items when not told otherwise.
pub const DEFAULT_RETRY_LIMIT: i64 = 100;
/// The largest `limit`.
pub const MAX_RETRY_LIMIT: i64 = 1_000_000;

/// Input of `RETRY_FAILED_SYNC`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryInput {
    /// At most this many failed items (default [`DEFAULT_RETRY_LIMIT`]), oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// Where the retry stands in `sync_failures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryCursor {
    /// `failed_at` of the last failure handled.
    pub failed_at: i64,
    /// Its kind (`product` / `customer`).
    pub kind: String,
    /// Its mapping.
    pub mapping_id: i64,
}

/// The checkpoint of `RETRY_FAILED_SYNC`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryState {
    /// Only failures recorded at or before this time (unix ms; set by the first step).
    pub cutoff: Option<i64>,
    /// The last failure handled.
    pub cursor: Option<RetryCursor>,
    /// Failures handled so far.
    pub handled: i64,
    /// Items now synced.
    pub synced: i64,
    /// Items that failed again.
    pub failed: i64,
    /// Failures forgotten because their mapping is gone or lost its Shopify side.
    pub dropped: i64,
    /// Which claim's step wrote this checkpoint, and when it began (see `SyncState::written`).
    #[serde(default)]
    pub written: Written,
}

/// `RETRY_FAILED_SYNC`.
pub struct RetryFailedSync {
    pusher: Pusher,
}

impl RetryFailedSync {
    /// The workflow with these upstreams and settings.
    pub fn new(upstreams: Upstreams, settings: SyncSettings) -> Self {
        RetryFailedSync { pusher: Pusher { upstreams, settings } }
    }
}

fn summary(s: &RetryState) -> serde_json::Value {
    json!({"retried": s.handled, "synced": s.synced, "failed": s.failed, "dropped": s.dropped})
}

/// The ids of `kind` in a page, ascending.
fn ids_of(page: &[store::SyncFailure], kind: SyncKind) -> Vec<i64> {
    let mut ids: Vec<i64> = page.iter().filter(|f| f.kind == kind).map(|f| f.mapping_id).collect();
    ids.sort_unstable();
    ids
}

/// Failures whose mapping was not found among the rows pushed.
fn missing(ids: &[i64], pushed: &Pushed) -> Vec<i64> {
    ids.iter().copied().filter(|id| pushed.seen.binary_search(id).is_err()).collect()
}

#[async_trait]
impl Workflow for RetryFailedSync {
    type Input = RetryInput;
    type State = RetryState;

    fn job_type(&self) -> &'static str {
        super::RETRY_FAILED.name()
    }

    fn validate(&self, input: &RetryInput) -> Result<(), String> {
        match input.limit {
            Some(n) if !(1..=MAX_RETRY_LIMIT).contains(&n) => Err(format!("limit must be 1 to {MAX_RETRY_LIMIT}")),
            _ => Ok(()),
        }
    }

    fn concurrency_key(&self, _input: &RetryInput) -> Option<String> {
        Some(super::RETRY_FAILED.name().into())
    }

    fn initial_state(&self, _input: &RetryInput) -> RetryState {
        RetryState::default()
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &RetryInput,
        mut state: RetryState,
    ) -> Result<Step<RetryState>, StepError> {
        crate::webhooks::refuse_if_uninstalled(&ctx.db).await?;
        let limit = input.limit.unwrap_or(DEFAULT_RETRY_LIMIT);
        let (cutoff, total) = match state.cutoff {
            Some(c) => (c, None),
            None => {
                let c = ctx.clock.now().timestamp_millis();
                let n = store::count_failures(&ctx.db, c).await.map_err(|e| db_error("counting failures", e))?;
                (c, Some(n.min(limit)))
            }
        };
        state.cutoff = Some(cutoff);
        let want = (limit - state.handled).min(FAILURES_PER_STEP);
        let page = match want > 0 {
            true => {
                let cursor = state.cursor.as_ref().and_then(|c| {
                    Some(FailureCursor {
                        failed_at: c.failed_at,
                        kind: SyncKind::parse(&c.kind)?,
                        mapping_id: c.mapping_id,
                    })
                });
                store::failures_page(&ctx.db, cutoff, cursor.as_ref(), want)
                    .await
                    .map_err(|e| db_error("reading failures", e))?
            }
            false => Vec::new(),
        };
        let Some(last) = page.last() else {
            let step = Step::complete("finish", summary(&state));
            return Ok(step.with_progress(Progress { total, ..Progress::default() }));
        };
        state.cursor = Some(RetryCursor {
            failed_at: last.failed_at,
            kind: last.kind.as_str().into(),
            mapping_id: last.mapping_id,
        });

        let at_ms = ctx.clock.now().timestamp_millis();
        let mut effects = EffectsList::default();
        let mut touched = Vec::new();
        let (mut synced, mut failed, mut dropped) = (0i64, 0i64, 0i64);
        let read_back = ReadBack::for_step(ctx, &mut state.written);
        for kind in [SyncKind::Customer, SyncKind::Product] {
            let ids = ids_of(&page, kind);
            if ids.is_empty() {
                continue;
            }
            let pushed = match kind {
                SyncKind::Customer => self.pusher.customers(ctx, Scope::Ids(&ids), true, read_back).await?,
                SyncKind::Product => {
                    let plan = self.pusher.location_plan(ctx).await?;
                    self.pusher.products(ctx, &plan, Scope::Ids(&ids), read_back).await?
                }
            };
            let gone = missing(&ids, &pushed);
            synced += pushed.synced.len() as i64;
            failed += pushed.failed.len() as i64;
            dropped += gone.len() as i64;
            effects = effects.push(pushed.outcomes(kind, ctx.job_id, at_ms, gone));
            touched.extend(pushed.touched);
        }
        let handled = page.len() as i64;
        state.handled += handled;
        state.synced += synced;
        state.failed += failed;
        state.dropped += dropped;
        let progress = Progress {
            total,
            processed: handled,
            successful: synced,
            failed,
            metadata: Some(json!({"synced": state.synced, "failed": state.failed, "dropped": state.dropped})),
        };
        let done = handled < want || state.handled >= limit;
        let note = format!("{handled} failures re-driven: {synced} synced, {failed} failed again, {dropped} dropped");
        let step = Step::next("retry", state.clone())
            .with_progress(progress)
            .with_effects(effects)
            .with_touched(touched)
            .with_note(note);
        if done {
            return Ok(Step { next: Next::Complete(summary(&state)), ..step });
        }
        Ok(step)
    }
}
