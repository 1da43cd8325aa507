//! `PRODUCT_SYNC` and `CUSTOMER_SYNC`: every mapped item (or the given mapping ids), one keyset
//! page per step, the checkpoint being the last mapping id handled. One generic workflow,
//! [`FullSync`], over the two families ([`Stock`], [`TotalSpent`]).

use std::marker::PhantomData;

use async_trait::async_trait;
use dongbo_engine::{Next, Progress, Step, StepContext, StepError, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::plan::StockPlan;
use super::push::{Pushed, Pusher, ReadBack, Scope};
use super::{db_error, SyncInput, SyncSettings, Written, MAX_MAPPING_IDS};
use crate::catalog::store::sync::{self as store, Selection, SyncKind};
use crate::jobs::JobType;
use crate::upstreams::Upstreams;

/// Pages of explicit mapping ids.
const IDS_PER_STEP: usize = 250;

/// The checkpoint of a full sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// The last mapping id handled: the next step starts after it.
    pub after: i64,
    /// Whether the first step (which sets the job's total) ran.
    pub counted: bool,
    /// Items pushed so far.
    pub synced: i64,
    /// Items skipped as unchanged so far.
    pub skipped: i64,
    /// Items failed so far.
    pub failed: i64,
    /// PRODUCT_SYNC: where stock goes and which depots the token covers, decided by the first
    /// step (one `app/checkaccesstoken` per job) and kept for the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_plan: Option<StockPlan>,
    /// Which claim's step wrote this checkpoint, and when it began: the first step of a later
    /// claim reads its items back before sending ([`ReadBack`]).
    #[serde(default)]
    pub written: Written,
}

/// What a full sync pushes, at the type level: [`Stock`] (`PRODUCT_SYNC`) or [`TotalSpent`]
/// (`CUSTOMER_SYNC`). The workflow is one, [`FullSync`]; the two differ only by this.
pub trait SyncFamily: Send + Sync + 'static {
    /// Its job type (both read a [`SyncInput`]).
    const JOB: JobType<SyncInput>;
    /// Which mappings, and which push, its steps use.
    const KIND: SyncKind;
}

/// `PRODUCT_SYNC`: Nhanh stock per mapped Shopify location → `inventorySetQuantities`.
#[derive(Debug, Clone, Copy)]
pub struct Stock;

/// `CUSTOMER_SYNC`: Nhanh total spent → metafield `custom.total_spent`.
#[derive(Debug, Clone, Copy)]
pub struct TotalSpent;

impl SyncFamily for Stock {
    const JOB: JobType<SyncInput> = super::PRODUCTS;
    const KIND: SyncKind = SyncKind::Product;
}

impl SyncFamily for TotalSpent {
    const JOB: JobType<SyncInput> = super::CUSTOMERS;
    const KIND: SyncKind = SyncKind::Customer;
}

/// A full sync of family `K`: every mapped item (or the given mapping ids), a keyset page a step.
pub struct FullSync<K> {
    pusher: Pusher,
    family: PhantomData<fn() -> K>,
}

/// `PRODUCT_SYNC`: Nhanh stock per mapped Shopify location → `inventorySetQuantities`.
pub type ProductSync = FullSync<Stock>;

/// `CUSTOMER_SYNC`: Nhanh total spent → metafield `custom.total_spent`.
pub type CustomerSync = FullSync<TotalSpent>;

impl<K: SyncFamily> FullSync<K> {
    /// The workflow with these upstreams and settings (see [`SyncSettings::change_threshold`]).
    pub fn new(upstreams: Upstreams, settings: SyncSettings) -> Self {
        FullSync { pusher: Pusher { upstreams, settings }, family: PhantomData }
    }
}

fn validate(input: &SyncInput) -> Result<(), String> {
    match &input.mapping_ids {
        Some(ids) if ids.len() > MAX_MAPPING_IDS => {
            Err(format!("mappingIds takes at most {MAX_MAPPING_IDS} ids, got {}", ids.len()))
        }
        Some(ids) if ids.iter().any(|&id| id <= 0) => Err("mappingIds must be positive".into()),
        _ => Ok(()),
    }
}

#[async_trait]
impl<K: SyncFamily> Workflow for FullSync<K> {
    type Input = SyncInput;
    type State = SyncState;

    fn job_type(&self) -> &'static str {
        K::JOB.name()
    }

    fn validate(&self, input: &SyncInput) -> Result<(), String> {
        validate(input)
    }

    fn concurrency_key(&self, _input: &SyncInput) -> Option<String> {
        Some(K::JOB.name().into())
    }

    fn initial_state(&self, _input: &SyncInput) -> SyncState {
        SyncState::default()
    }

    async fn step(&self, ctx: &StepContext, input: &SyncInput, state: SyncState) -> Result<Step<SyncState>, StepError> {
        run_step(&self.pusher, K::KIND, ctx, input, state).await
    }
}

/// The sorted, distinct explicit ids.
fn explicit_ids(input: &SyncInput) -> Option<Vec<i64>> {
    input.mapping_ids.as_ref().map(|ids| {
        let mut ids = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        ids
    })
}

async fn count(kind: SyncKind, ctx: &StepContext, ids: Option<&[i64]>) -> Result<i64, StepError> {
    let read = |e| db_error("counting mappings", e);
    match (ids, kind) {
        (None, kind) => store::count_mapped(&ctx.db, kind).await.map_err(read),
        (Some(ids), SyncKind::Customer) => {
            Ok(store::customer_rows(&ctx.db, Selection::Ids(ids)).await.map_err(read)?.len() as i64)
        }
        (Some(ids), SyncKind::Product) => {
            Ok(store::product_rows(&ctx.db, Selection::Ids(ids)).await.map_err(read)?.len() as i64)
        }
    }
}

fn summary(kind: SyncKind, s: &SyncState) -> serde_json::Value {
    json!({"kind": kind.as_str(), "synced": s.synced, "skippedUnchanged": s.skipped, "failed": s.failed})
}

async fn run_step(
    pusher: &Pusher,
    kind: SyncKind,
    ctx: &StepContext,
    input: &SyncInput,
    mut state: SyncState,
) -> Result<Step<SyncState>, StepError> {
    crate::webhooks::refuse_if_uninstalled(&ctx.db).await?;
    let force = input.force_sync.unwrap_or(false);
    let ids = explicit_ids(input);
    let total = match state.counted {
        true => None,
        false => Some(count(kind, ctx, ids.as_deref()).await?),
    };
    state.counted = true;
    // The page: the next explicit ids, or the next keyset page of mapped rows.
    let page_ids: Option<Vec<i64>> =
        ids.as_ref().map(|ids| ids.iter().copied().filter(|&id| id > state.after).take(IDS_PER_STEP).collect());
    let scope = match &page_ids {
        Some(page) => Scope::Ids(page),
        None => Scope::After(state.after),
    };
    if page_ids.as_ref().is_some_and(Vec::is_empty) {
        let step = Step::complete("finish", summary(kind, &state));
        return Ok(step.with_progress(Progress { total, ..Progress::default() }));
    }
    let read_back = ReadBack::for_step(ctx, &mut state.written);
    let (pushed, page_full) = match kind {
        SyncKind::Customer => {
            let p = pusher.customers(ctx, scope, force, read_back).await?;
            let full = p.seen.len() as i64 >= pusher.customer_page();
            (p, full)
        }
        SyncKind::Product => {
            let plan = match state.stock_plan.clone() {
                Some(plan) => plan,
                None => pusher.location_plan(ctx).await?,
            };
            let p = pusher.products(ctx, &plan, scope, read_back).await?;
            let full = p.seen.len() as i64 >= pusher.product_page(&plan);
            state.stock_plan = Some(plan);
            (p, full)
        }
    };
    let done = match &page_ids {
        Some(page) => {
            state.after = page.last().copied().unwrap_or(state.after);
            ids.as_ref().is_some_and(|ids| ids.last().is_some_and(|&last| last <= state.after))
        }
        None => {
            state.after = pushed.seen.last().copied().unwrap_or(state.after);
            !page_full
        }
    };
    Ok(finish_page(kind, ctx, state, pushed, total, done))
}

fn finish_page(
    kind: SyncKind,
    ctx: &StepContext,
    mut state: SyncState,
    pushed: Pushed,
    total: Option<i64>,
    done: bool,
) -> Step<SyncState> {
    let synced = pushed.synced.len() as i64;
    let failed = pushed.failed.len() as i64;
    state.synced += synced;
    state.skipped += pushed.skipped;
    state.failed += failed;
    let progress = Progress {
        total,
        processed: pushed.seen.len() as i64,
        successful: synced + pushed.skipped,
        failed,
        metadata: Some({
            let mut m = json!({
                "synced": state.synced,
                "skippedUnchanged": state.skipped,
                "failed": state.failed,
                "lastMappingId": state.after,
            });
            if let (Some(plan), Some(obj)) = (&state.stock_plan, m.as_object_mut()) {
                if let Some(extra) = plan.metadata().as_object() {
                    obj.extend(extra.clone());
                }
            }
            m
        }),
    };
    let mut note =
        format!("mappings up to {}: {synced} synced, {} unchanged, {failed} failed", state.after, pushed.skipped);
    if pushed.already_set > 0 {
        note.push_str(&format!(" ({} of them set by the cut-off run before, not sent again)", pushed.already_set));
    }
    let at_ms = ctx.clock.now().timestamp_millis();
    let effects = pushed.outcomes(kind, ctx.job_id, at_ms, Vec::new());
    let touched = pushed.touched;
    let step = Step::next("push", state.clone())
        .with_progress(progress)
        .with_effects(effects)
        .with_touched(touched)
        .with_note(note);
    if done {
        // The last page completes the job in the same commit.
        return Step { next: Next::Complete(summary(kind, &state)), ..step };
    }
    step
}
