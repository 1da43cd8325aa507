//! `PULL_NHANH_CUSTOMERS` and `PULL_NHANH_PRODUCTS`: page through Nhanh `customer/list` or
//! `product/list`, one page per step, the checkpoint being Nhanh's `next` object echoed back.
//!
//! Either pull is full (the default, and what the legacy trigger asks for) or incremental:
//! `updatedAtFrom` = the watermark the last completed pull stored (a first incremental pull,
//! with no watermark yet, runs as a full one). A product's `updatedAt` does not move when its
//! stock does ("updatedAt … không bao gồm thông tin tồn kho", apidocs.nhanh.vn/v3/product/list),
//! so an incremental product pull then walks `product/inventory` with the same `updatedAtFrom`
//! — the page's documented filter on stock changes ("lọc theo thời gian thay đổi số tồn",
//! apidocs.nhanh.vn/v3/product/inventory) — and re-reads those products in full by id. The
//! depots named in the stock are recorded on the way. After the last page, a final step marks
//! what a full pull did not see as removed and stores the watermark. Nhanh reports no total,
//! so the jobs' totals stay unknown and their progress is a count.

use async_trait::async_trait;
use dongbo_engine::{EntityRef, Progress, Step, StepContext, StepEffects, StepError, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::plan::{db_error, step_error, watermark};
use super::PullSettings;
use crate::catalog::store::pulls::{
    count_unseen, watermark as stored_watermark, EffectsList, MarkRemoved, NhanhCustomerRow, NhanhProductRow,
    PullSource, SetWatermark, UpsertNhanhCustomers, UpsertNhanhProducts,
};
use crate::connectors::nhanh::{CustomerFilters, InventoryFilters, ProductFilters};
use crate::jobs::{PULL_NHANH_CUSTOMERS, PULL_NHANH_PRODUCTS};
use crate::setup::Upstreams;

/// Which customers a `PULL_NHANH_CUSTOMERS` job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NhanhCustomersMode {
    /// Every customer; what it does not see is marked removed. `all` and `legacy` are aliases.
    #[default]
    #[serde(alias = "all", alias = "legacy")]
    Full,
    /// Only customers updated since the last completed pull's watermark.
    Incremental,
}

/// The input of `PULL_NHANH_CUSTOMERS`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NhanhCustomersInput {
    /// Full (default) or incremental.
    #[serde(default)]
    pub mode: NhanhCustomersMode,
}

/// The input of `PULL_NHANH_PRODUCTS`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NhanhProductsInput {
    /// Full (default) or incremental (changed products, then changed stock).
    #[serde(default)]
    pub mode: NhanhCustomersMode,
}

/// The checkpoint of a Nhanh pull.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NhanhPullState {
    /// When the first step ran, unix seconds (`None` before it).
    pub started_at: Option<i64>,
    /// `updatedAtFrom` of an incremental pull; `None` for a full pull.
    pub updated_from: Option<i64>,
    /// Nhanh's `next` after the last committed page (`None` before the first page).
    pub next: Option<Value>,
    /// Whether the last page has been committed (only the final step is left).
    pub paging_done: bool,
    /// Pages committed.
    pub pages: u64,
    /// Rows upserted.
    pub upserted: u64,
    /// An incremental product pull: whether it has moved on to the stock changes
    /// (`product/inventory`), whose cursor `next` then is.
    #[serde(default)]
    pub stock_phase: bool,
}

/// The `PULL_NHANH_CUSTOMERS` workflow.
pub struct PullNhanhCustomers {
    /// The upstream clients.
    pub upstreams: Upstreams,
    /// Tunables.
    pub settings: PullSettings,
}

/// The `PULL_NHANH_PRODUCTS` workflow.
pub struct PullNhanhProducts {
    /// The upstream clients.
    pub upstreams: Upstreams,
    /// Tunables.
    pub settings: PullSettings,
}

#[async_trait]
impl Workflow for PullNhanhCustomers {
    type Input = NhanhCustomersInput;
    type State = NhanhPullState;

    fn job_type(&self) -> &'static str {
        PULL_NHANH_CUSTOMERS
    }

    fn concurrency_key(&self, _input: &NhanhCustomersInput) -> Option<String> {
        Some(PULL_NHANH_CUSTOMERS.into())
    }

    fn initial_state(&self, _input: &NhanhCustomersInput) -> NhanhPullState {
        NhanhPullState::default()
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &NhanhCustomersInput,
        state: NhanhPullState,
    ) -> Result<Step<NhanhPullState>, StepError> {
        let incremental = input.mode == NhanhCustomersMode::Incremental;
        run(&self.upstreams, &self.settings, ctx, Kind::Customers, incremental, state).await
    }
}

#[async_trait]
impl Workflow for PullNhanhProducts {
    type Input = NhanhProductsInput;
    type State = NhanhPullState;

    fn job_type(&self) -> &'static str {
        PULL_NHANH_PRODUCTS
    }

    fn concurrency_key(&self, _input: &NhanhProductsInput) -> Option<String> {
        Some(PULL_NHANH_PRODUCTS.into())
    }

    fn initial_state(&self, _input: &NhanhProductsInput) -> NhanhPullState {
        NhanhPullState::default()
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &NhanhProductsInput,
        state: NhanhPullState,
    ) -> Result<Step<NhanhPullState>, StepError> {
        let incremental = input.mode == NhanhCustomersMode::Incremental;
        run(&self.upstreams, &self.settings, ctx, Kind::Products, incremental, state).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Customers,
    Products,
}

impl Kind {
    fn source(self) -> PullSource {
        match self {
            Kind::Customers => PullSource::NhanhCustomers,
            Kind::Products => PullSource::NhanhProducts,
        }
    }

    fn entity(self) -> &'static str {
        match self {
            Kind::Customers => "nhanh_customer",
            Kind::Products => "nhanh_product",
        }
    }
}

/// One page as the step commits it.
struct Page {
    ids: Vec<u64>,
    effects: Box<dyn StepEffects>,
    next: Option<Value>,
    total_items: Option<u64>,
}

async fn run(
    upstreams: &Upstreams,
    settings: &PullSettings,
    ctx: &StepContext,
    kind: Kind,
    incremental: bool,
    mut state: NhanhPullState,
) -> Result<Step<NhanhPullState>, StepError> {
    if state.paging_done {
        return finish(settings, ctx, kind, state).await;
    }
    let client = upstreams.nhanh().map_err(StepError::permanent)?.clone();
    if state.started_at.is_none() {
        state.started_at = Some(ctx.clock.now().timestamp());
        if incremental {
            state.updated_from =
                stored_watermark(&ctx.db, kind.source()).await.map_err(|e| db_error("reading the watermark", e))?;
        }
    }
    let full = state.updated_from.is_none();
    let seen_by_full_pull = full.then_some(ctx.job_id);
    let page = match kind {
        Kind::Customers => {
            let filters = CustomerFilters { updated_at_from: state.updated_from, ..Default::default() };
            let page = client.list_customers(&filters, state.next.clone()).await.map_err(step_error)?;
            let rows: Vec<NhanhCustomerRow> = page.items.iter().map(NhanhCustomerRow::from).collect();
            Page {
                ids: rows.iter().map(|r| r.id).collect(),
                effects: Box::new(UpsertNhanhCustomers { job: ctx.job_id, rows, seen_by_full_pull }),
                next: page.next,
                total_items: page.total_items,
            }
        }
        Kind::Products if state.stock_phase => {
            // Products whose stock changed since the watermark, re-read in full by id.
            let filters = InventoryFilters { updated_at_from: state.updated_from, ..Default::default() };
            let page = client.product_inventory(&filters, state.next.clone()).await.map_err(step_error)?;
            let ids: Vec<u64> = page.items.iter().map(|p| p.product_id).collect();
            let mut rows: Vec<NhanhProductRow> = Vec::new();
            if !ids.is_empty() {
                let by_id = ProductFilters { ids: ids.clone(), ..Default::default() };
                let mut next = None;
                for _ in 0..10 {
                    let full = client.list_products(&by_id, next).await.map_err(step_error)?;
                    rows.extend(full.items.iter().map(NhanhProductRow::from));
                    match full.next {
                        Some(n) => next = Some(n),
                        None => break,
                    }
                }
            }
            Page {
                ids: rows.iter().map(|r| r.id).collect(),
                effects: Box::new(UpsertNhanhProducts { job: ctx.job_id, rows, seen_by_full_pull: None }),
                next: page.next,
                total_items: None,
            }
        }
        Kind::Products => {
            let filters = ProductFilters { updated_at_from: state.updated_from, ..Default::default() };
            let page = client.list_products(&filters, state.next.clone()).await.map_err(step_error)?;
            let rows: Vec<NhanhProductRow> = page.items.iter().map(NhanhProductRow::from).collect();
            Page {
                ids: rows.iter().map(|r| r.id).collect(),
                effects: Box::new(UpsertNhanhProducts { job: ctx.job_id, rows, seen_by_full_pull }),
                next: page.next,
                total_items: page.total_items,
            }
        }
    };
    if page.next.is_some() && page.next == state.next {
        return Err(StepError::permanent(format!(
            "{}: Nhanh returned the cursor it was given ({}), the listing would never end",
            kind.source().as_str(),
            page.next.unwrap_or_default()
        )));
    }
    let n = page.ids.len() as i64;
    state.pages += 1;
    state.upserted += n as u64;
    state.next = page.next;
    state.paging_done = state.next.is_none();
    if state.paging_done && kind == Kind::Products && !full && !state.stock_phase {
        // The changed products are in; now the changed stock.
        state.stock_phase = true;
        state.paging_done = false;
    }
    let progress = Progress {
        total: page.total_items.map(|t| t as i64),
        processed: n,
        successful: n,
        failed: 0,
        metadata: Some(json!({
            "pages": state.pages,
            "rows": state.upserted,
            "mode": if full { "full" } else { "incremental" },
            "phase": if state.stock_phase { "stock" } else { "records" },
        })),
    };
    let touched =
        page.ids.iter().map(|id| EntityRef { kind: kind.entity().into(), id: id.to_string(), action: "pulled".into() });
    let note = format!("page {}: {n} rows", state.pages);
    Ok(Step::next("page", state)
        .with_progress(progress)
        .with_effects(EffectsList(vec![page.effects]))
        .with_touched(touched.collect())
        .with_note(note))
}

/// The final step: mark what a full pull did not see, store the watermark, summarise.
async fn finish(
    settings: &PullSettings,
    ctx: &StepContext,
    kind: Kind,
    state: NhanhPullState,
) -> Result<Step<NhanhPullState>, StepError> {
    let full = state.updated_from.is_none();
    let started_at = state.started_at.unwrap_or_else(|| ctx.clock.now().timestamp());
    let mark = watermark(started_at, settings.watermark_overlap.as_secs() as i64);
    let mut effects = EffectsList::default();
    let mut removed = 0;
    if full {
        removed = count_unseen(&ctx.db, kind.source(), ctx.job_id)
            .await
            .map_err(|e| db_error("counting rows the pull did not see", e))?;
        effects = effects.push(MarkRemoved {
            source: kind.source(),
            job: ctx.job_id,
            at_ms: ctx.clock.now().timestamp_millis(),
        });
    }
    effects = effects.push(SetWatermark { source: kind.source(), watermark: mark, job: ctx.job_id });
    let summary = json!({
        "mode": if full { "full" } else { "incremental" },
        "transfer": "paged",
        "updatedFrom": state.updated_from,
        "pages": state.pages,
        "upserted": state.upserted,
        "removed": removed,
        "watermark": mark,
    });
    let note = format!("{} rows in {} pages, {removed} marked removed", state.upserted, state.pages);
    Ok(Step::complete("finish", summary).with_effects(effects).with_note(note))
}
