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

use std::marker::PhantomData;

use async_trait::async_trait;
use dongbo_engine::{EntityRef, Progress, Step, StepContext, StepEffects, StepError, Workflow};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::plan::{db_error, step_error, watermark};
use super::PullSettings;
use crate::catalog::store::pulls::{
    count_unseen, watermark as stored_watermark, EffectsList, MarkRemoved, NhanhCustomerRow, NhanhProductRow,
    PullSource, SetWatermark, UpsertNhanhCustomers, UpsertNhanhProducts,
};
use crate::connectors::nhanh::{CustomerFilters, InventoryFilters, ProductFilters};
use crate::jobs::{JobType, PULL_NHANH_CUSTOMERS, PULL_NHANH_PRODUCTS};
use crate::upstreams::Upstreams;

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

/// A Nhanh customer type, as `customer/list` filters and reports it (1, 2 or 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum NhanhCustomerType {
    /// 1: a retail customer (khách lẻ).
    Retail,
    /// 2: a wholesale customer (khách buôn).
    Wholesale,
    /// 3: an agent (đại lý).
    Agent,
}

impl TryFrom<u8> for NhanhCustomerType {
    type Error = String;

    fn try_from(n: u8) -> Result<Self, String> {
        match n {
            1 => Ok(NhanhCustomerType::Retail),
            2 => Ok(NhanhCustomerType::Wholesale),
            3 => Ok(NhanhCustomerType::Agent),
            other => Err(format!("type must be 1 (retail), 2 (wholesale) or 3 (agent), not {other}")),
        }
    }
}

impl From<NhanhCustomerType> for u8 {
    fn from(t: NhanhCustomerType) -> u8 {
        match t {
            NhanhCustomerType::Retail => 1,
            NhanhCustomerType::Wholesale => 2,
            NhanhCustomerType::Agent => 3,
        }
    }
}

/// The input of `PULL_NHANH_CUSTOMERS`.
///
/// The filters are those of Nhanh's `customer/list` (apidocs.nhanh.vn/v3/customer/list), which the
/// old tool's "Pull with filters" sent as they are: `type`, `lastBoughtDateFrom`,
/// `lastBoughtDateTo` (days, `Y-m-d`). A filtered pull reads part of the store, so it marks
/// nothing removed and leaves the incremental watermark where it was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NhanhCustomersInput {
    /// Full (default) or incremental.
    #[serde(default)]
    pub mode: NhanhCustomersMode,
    /// Only customers of this type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub customer_type: Option<NhanhCustomerType>,
    /// Only customers who last bought on or after this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_bought_date_from: Option<chrono::NaiveDate>,
    /// Only customers who last bought on or before this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_bought_date_to: Option<chrono::NaiveDate>,
}

impl NhanhCustomersInput {
    /// Whether the pull reads only part of the store.
    pub fn is_filtered(&self) -> bool {
        self.customer_type.is_some() || self.last_bought_date_from.is_some() || self.last_bought_date_to.is_some()
    }

    /// The `customer/list` filters of one page: this input's, plus `updatedAtFrom` when given.
    pub fn filters(&self, updated_from: Option<i64>) -> CustomerFilters {
        CustomerFilters {
            kind: self.customer_type.map(|t| i64::from(u8::from(t))),
            updated_at_from: updated_from,
            last_bought_date_from: self.last_bought_date_from,
            last_bought_date_to: self.last_bought_date_to,
            ..Default::default()
        }
    }

    /// Checks the date range.
    fn validate(&self) -> Result<(), String> {
        match (self.last_bought_date_from, self.last_bought_date_to) {
            (Some(from), Some(to)) if from > to => {
                Err(format!("lastBoughtDateFrom ({from}) is after lastBoughtDateTo ({to})"))
            }
            _ => Ok(()),
        }
    }
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

/// What a Nhanh pull reads, at the type level: its job type, the input that job type takes, and
/// which listing its steps walk. [`Customers`] and [`Products`] are the two; the workflow is one,
/// [`PullNhanh`].
pub trait NhanhPullKind: Send + Sync + 'static {
    /// The input of its job type.
    type Input: Serialize + DeserializeOwned + Send + Sync;
    /// Its job type, bound to [`Self::Input`].
    const JOB: JobType<Self::Input>;
    /// Checks an input beyond its shape.
    fn validate(_input: &Self::Input) -> Result<(), String> {
        Ok(())
    }
    /// Whether an input asks for an incremental pull.
    fn incremental(input: &Self::Input) -> bool;
    /// The listing an input's steps walk.
    fn listing(input: &Self::Input) -> Kind<'_>;
}

/// `PULL_NHANH_CUSTOMERS`: `customer/list`, with the old tool's filters.
#[derive(Debug, Clone, Copy)]
pub struct Customers;

/// `PULL_NHANH_PRODUCTS`: `product/list`, then `product/inventory` when incremental.
#[derive(Debug, Clone, Copy)]
pub struct Products;

impl NhanhPullKind for Customers {
    type Input = NhanhCustomersInput;
    const JOB: JobType<NhanhCustomersInput> = JobType::new(PULL_NHANH_CUSTOMERS);

    fn validate(input: &NhanhCustomersInput) -> Result<(), String> {
        input.validate()
    }

    fn incremental(input: &NhanhCustomersInput) -> bool {
        input.mode == NhanhCustomersMode::Incremental
    }

    fn listing(input: &NhanhCustomersInput) -> Kind<'_> {
        Kind::Customers(input)
    }
}

impl NhanhPullKind for Products {
    type Input = NhanhProductsInput;
    const JOB: JobType<NhanhProductsInput> = JobType::new(PULL_NHANH_PRODUCTS);

    fn incremental(input: &NhanhProductsInput) -> bool {
        input.mode == NhanhCustomersMode::Incremental
    }

    fn listing(_input: &NhanhProductsInput) -> Kind<'_> {
        Kind::Products
    }
}

/// A Nhanh pull of kind `K` (one workflow for both: they differ only by what they list).
pub struct PullNhanh<K> {
    /// The upstream clients.
    pub upstreams: Upstreams,
    /// Tunables.
    pub settings: PullSettings,
    kind: PhantomData<fn() -> K>,
}

/// The `PULL_NHANH_CUSTOMERS` workflow.
pub type PullNhanhCustomers = PullNhanh<Customers>;

/// The `PULL_NHANH_PRODUCTS` workflow.
pub type PullNhanhProducts = PullNhanh<Products>;

impl<K: NhanhPullKind> PullNhanh<K> {
    /// The workflow over these upstreams.
    pub fn new(upstreams: Upstreams, settings: PullSettings) -> Self {
        PullNhanh { upstreams, settings, kind: PhantomData }
    }
}

#[async_trait]
impl<K: NhanhPullKind> Workflow for PullNhanh<K> {
    type Input = K::Input;
    type State = NhanhPullState;

    fn job_type(&self) -> &'static str {
        K::JOB.name()
    }

    fn validate(&self, input: &K::Input) -> Result<(), String> {
        K::validate(input)
    }

    fn concurrency_key(&self, _input: &K::Input) -> Option<String> {
        Some(K::JOB.name().into())
    }

    fn initial_state(&self, _input: &K::Input) -> NhanhPullState {
        NhanhPullState::default()
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &K::Input,
        state: NhanhPullState,
    ) -> Result<Step<NhanhPullState>, StepError> {
        run(&self.upstreams, &self.settings, ctx, K::listing(input), K::incremental(input), state).await
    }
}

/// What a pull lists: customers (with their input's filters) or products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `customer/list`, filtered as the input says.
    Customers(&'a NhanhCustomersInput),
    /// `product/list` (and `product/inventory` for an incremental pull's stock).
    Products,
}

impl Kind<'_> {
    fn source(self) -> PullSource {
        match self {
            Kind::Customers(_) => PullSource::NhanhCustomers,
            Kind::Products => PullSource::NhanhProducts,
        }
    }

    fn entity(self) -> &'static str {
        match self {
            Kind::Customers(_) => "nhanh_customer",
            Kind::Products => "nhanh_product",
        }
    }

    /// Whether the pull reads only part of the store (so it marks nothing removed).
    fn filtered(self) -> bool {
        matches!(self, Kind::Customers(input) if input.is_filtered())
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
    kind: Kind<'_>,
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
    let seen_by_full_pull = (full && !kind.filtered()).then_some(ctx.job_id);
    let page = match kind {
        Kind::Customers(input) => {
            let filters = input.filters(state.updated_from);
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
            "mode": mode_label(full, kind),
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
    kind: Kind<'_>,
    state: NhanhPullState,
) -> Result<Step<NhanhPullState>, StepError> {
    let full = state.updated_from.is_none() && !kind.filtered();
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
    // A filtered pull did not read every change, so the next incremental pull must not start after it.
    if !kind.filtered() {
        effects = effects.push(SetWatermark { source: kind.source(), watermark: mark, job: ctx.job_id });
    }
    let summary = json!({
        "mode": mode_label(full, kind),
        "transfer": "paged",
        "updatedFrom": state.updated_from,
        "pages": state.pages,
        "upserted": state.upserted,
        "removed": removed,
        "watermark": (!kind.filtered()).then_some(mark),
    });
    let note = format!("{} rows in {} pages, {removed} marked removed", state.upserted, state.pages);
    Ok(Step::complete("finish", summary).with_effects(effects).with_note(note))
}

/// How the job's metadata names the pull: `full`, `incremental` or `filtered`.
fn mode_label(full: bool, kind: Kind<'_>) -> &'static str {
    if kind.filtered() {
        "filtered"
    } else if full {
        "full"
    } else {
        "incremental"
    }
}

#[cfg(test)]
mod input_tests {
    use super::*;

    #[test]
    fn the_old_tools_filters_reach_customer_list_under_nhanhs_names() {
        let input: NhanhCustomersInput = serde_json::from_value(json!({
            "type": 2, "lastBoughtDateFrom": "2025-01-01", "lastBoughtDateTo": "2025-03-31"
        }))
        .unwrap();
        assert!(input.is_filtered());
        let sent = serde_json::to_value(input.filters(Some(17))).unwrap();
        assert_eq!(
            sent,
            json!({"type": 2, "updatedAtFrom": 17, "lastBoughtDateFrom": "2025-01-01", "lastBoughtDateTo": "2025-03-31"})
        );
        let plain = NhanhCustomersInput::default();
        assert!(!plain.is_filtered());
        assert_eq!(serde_json::to_value(plain.filters(None)).unwrap(), json!({}));
    }

    #[test]
    fn a_bad_type_or_date_range_is_refused() {
        let bad_type = serde_json::from_value::<NhanhCustomersInput>(json!({"type": 4})).unwrap_err();
        assert!(bad_type.to_string().contains("type must be 1"), "{bad_type}");
        assert!(serde_json::from_value::<NhanhCustomersInput>(json!({"lastBoughtDateFrom": "01/02/2025"})).is_err());
        let reversed: NhanhCustomersInput =
            serde_json::from_value(json!({"lastBoughtDateFrom": "2025-02-01", "lastBoughtDateTo": "2025-01-01"}))
                .unwrap();
        assert!(reversed.validate().unwrap_err().contains("after"));
    }
}
