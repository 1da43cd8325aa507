//! `PULL_SHOPIFY_CUSTOMERS` and `PULL_SHOPIFY_PRODUCTS`: read the store by pages (checkpoint: the
//! `endCursor`) or, for a full pull of a large store, by a bulk export (checkpoint: the
//! operation id, then the JSONL line offset; the export itself is streamed to a temporary file,
//! see [`bulk`]).
//!
//! Steps: `start` (count the store for the job's total, pull locations for a product pull, pick
//! the transfer), then `page` steps, or `bulk-start`, `poll` steps and `ingest` steps, then
//! `finish` (mark what a full pull did not see as removed, store the watermark, summarise).

pub(crate) mod bulk;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dongbo_engine::{EntityRef, Progress, Step, StepContext, StepError, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::plan::{db_error, step_error, updated_since_query, use_bulk, watermark, ShopifyMode};
use super::PullSettings;
use crate::catalog::store::pulls::{
    count_unseen, watermark as stored_watermark, EffectsList, LocationRow, MarkRemoved, PullSource, SetWatermark,
    ShopifyCustomerRow, ShopifyProductRow, ShopifyVariantRow, UpsertLocations, UpsertShopifyCustomers,
    UpsertShopifyProducts,
};
use crate::connectors::ShopifyClient;
use crate::jobs::{JobType, PULL_SHOPIFY_CUSTOMERS, PULL_SHOPIFY_PRODUCTS};
use crate::upstreams::Upstreams;
use bulk::OpenExport;

/// A Shopify product status, as the `status:` search term takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    /// On sale.
    Active,
    /// Not yet published.
    Draft,
    /// Retired.
    Archived,
}

impl ProductStatus {
    /// The search value (`active`, `draft`, `archived`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Active => "active",
            ProductStatus::Draft => "draft",
            ProductStatus::Archived => "archived",
        }
    }
}

/// The longest `query` accepted.
pub const MAX_QUERY_LEN: usize = 1_000;

/// The input of both Shopify pulls.
///
/// `query` (customers) is Shopify's search syntax, passed as the `query:` argument of the listing
/// as the old tool did (shopify.dev/docs/api/usage/search-syntax, e.g. `state:ENABLED` or
/// `email:*@gmail.com`); `status` (products) becomes the search term `status:<status>`. A
/// filtered pull reads part of the store: it is paged, marks nothing removed and leaves the
/// incremental watermark where it was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShopifyPullInput {
    /// `auto` (default), `bulk` or `paged`.
    #[serde(default)]
    pub mode: ShopifyMode,
    /// Only records updated since the last completed pull's watermark (always paged).
    #[serde(default)]
    pub incremental: bool,
    /// Only the records this Shopify search matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Only products of this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProductStatus>,
}

impl ShopifyPullInput {
    /// The input's own search terms (`None` when it reads the whole store).
    pub fn filter_query(&self) -> Option<String> {
        let query = self.query.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let status = self.status.map(|s| format!("status:{}", s.as_str()));
        match (query, status) {
            (None, None) => None,
            (Some(q), None) => Some(q.to_owned()),
            (None, Some(s)) => Some(s),
            (Some(q), Some(s)) => Some(format!("({q}) AND {s}")),
        }
    }

    /// The `query:` of one page: the input's terms and, for an incremental pull, the watermark's.
    pub fn page_query(&self, updated_since: Option<i64>) -> Option<String> {
        let since = updated_since.map(updated_since_query);
        match (self.filter_query(), since) {
            (None, None) => None,
            (Some(q), None) => Some(q),
            (None, Some(s)) => Some(s),
            (Some(q), Some(s)) => Some(format!("{q} AND {s}")),
        }
    }

    /// Checks the query's length.
    fn validate(&self) -> Result<(), String> {
        match &self.query {
            Some(q) if q.len() > MAX_QUERY_LEN => Err(format!("query may have at most {MAX_QUERY_LEN} bytes")),
            _ => Ok(()),
        }
    }
}

/// Where a Shopify pull is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// Nothing done yet.
    #[default]
    Start,
    /// Paging; `cursor` is the `endCursor` of the last committed page.
    Paged {
        /// `after` for the next page.
        cursor: Option<String>,
    },
    /// About to start a bulk export.
    BulkStart,
    /// Waiting for bulk export `operation` to finish.
    BulkPoll {
        /// `gid://shopify/BulkOperation/…`.
        operation: String,
    },
    /// Ingesting the export's JSONL from line `offset`.
    BulkIngest {
        /// `gid://shopify/BulkOperation/…`.
        operation: String,
        /// The first line not yet ingested.
        offset: usize,
    },
    /// Everything read; the final step is left.
    Finish,
}

/// The checkpoint of a Shopify pull.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopifyPullState {
    /// Where the pull is.
    pub phase: Phase,
    /// When the first step ran, unix seconds.
    pub started_at: Option<i64>,
    /// The watermark an incremental pull reads from; `None` for a full pull.
    pub updated_since: Option<i64>,
    /// Whether the pull uses a bulk export.
    pub bulk: bool,
    /// Pages (or JSONL chunks) committed.
    pub pages: u64,
    /// Records upserted (products, not variants, for a product pull).
    pub upserted: u64,
    /// Variants upserted (product pulls).
    pub variants: u64,
}

/// The `PULL_SHOPIFY_CUSTOMERS` workflow.
pub struct PullShopifyCustomers {
    inner: Shared,
}

/// The `PULL_SHOPIFY_PRODUCTS` workflow.
pub struct PullShopifyProducts {
    inner: Shared,
}

impl PullShopifyCustomers {
    /// The workflow over these upstreams.
    pub fn new(upstreams: Upstreams, settings: PullSettings) -> Self {
        PullShopifyCustomers { inner: Shared::new(upstreams, settings, Kind::Customers) }
    }

    /// The bulk export this workflow has open between ingest steps, if any: its operation and
    /// the next line. `None` once no job is ingesting one (for operators and tests: a finished
    /// pull holds nothing).
    pub fn open_export(&self) -> Option<(String, usize)> {
        self.inner.open_export()
    }
}

impl PullShopifyProducts {
    /// The workflow over these upstreams.
    pub fn new(upstreams: Upstreams, settings: PullSettings) -> Self {
        PullShopifyProducts { inner: Shared::new(upstreams, settings, Kind::Products) }
    }

    /// As [`PullShopifyCustomers::open_export`].
    pub fn open_export(&self) -> Option<(String, usize)> {
        self.inner.open_export()
    }
}

macro_rules! shopify_workflow {
    ($ty:ty, $name:expr) => {
        #[async_trait]
        impl Workflow for $ty {
            type Input = ShopifyPullInput;
            type State = ShopifyPullState;

            fn job_type(&self) -> &'static str {
                $name.name()
            }

            fn validate(&self, input: &ShopifyPullInput) -> Result<(), String> {
                input.validate()
            }

            fn concurrency_key(&self, _input: &ShopifyPullInput) -> Option<String> {
                Some($name.name().into())
            }

            fn initial_state(&self, _input: &ShopifyPullInput) -> ShopifyPullState {
                ShopifyPullState::default()
            }

            async fn step(
                &self,
                ctx: &StepContext,
                input: &ShopifyPullInput,
                state: ShopifyPullState,
            ) -> Result<Step<ShopifyPullState>, StepError> {
                self.inner.step(ctx, input, state).await
            }
        }
    };
}

/// `PULL_SHOPIFY_CUSTOMERS` with its input.
pub const CUSTOMERS: JobType<ShopifyPullInput> = JobType::new(PULL_SHOPIFY_CUSTOMERS);
/// `PULL_SHOPIFY_PRODUCTS` with its input.
pub const PRODUCTS: JobType<ShopifyPullInput> = JobType::new(PULL_SHOPIFY_PRODUCTS);

shopify_workflow!(PullShopifyCustomers, CUSTOMERS);
shopify_workflow!(PullShopifyProducts, PRODUCTS);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Customers,
    Products,
}

impl Kind {
    fn source(self) -> PullSource {
        match self {
            Kind::Customers => PullSource::ShopifyCustomers,
            Kind::Products => PullSource::ShopifyProducts,
        }
    }
}

/// What both Shopify pulls share: the clients, the settings and the export being ingested (an
/// open temporary file, no lines: see [`bulk`]).
struct Shared {
    upstreams: Upstreams,
    settings: PullSettings,
    kind: Kind,
    export: Arc<Mutex<Option<OpenExport>>>,
}

/// The rows of one page or chunk, ready to commit.
#[derive(Default)]
pub(crate) struct Batch {
    pub customers: Vec<ShopifyCustomerRow>,
    pub products: Vec<ShopifyProductRow>,
    pub variants: Vec<ShopifyVariantRow>,
}

impl Batch {
    /// The step's upserts, its count for progress (customers or products) and its touched records.
    fn commit(self, ctx: &StepContext, full: bool) -> (EffectsList, i64, u64, Vec<EntityRef>) {
        let seen = full.then_some(ctx.job_id);
        let touched =
            |kind: &str, id: &String| EntityRef { kind: kind.into(), id: id.clone(), action: "pulled".into() };
        let mut entities: Vec<EntityRef> = self.customers.iter().map(|c| touched("shopify_customer", &c.id)).collect();
        entities.extend(self.variants.iter().map(|v| touched("shopify_variant", &v.id)));
        let n = (self.customers.len() + self.products.len()) as i64;
        let variants = self.variants.len() as u64;
        let mut effects = EffectsList::default();
        if !self.customers.is_empty() {
            effects =
                effects.push(UpsertShopifyCustomers { job: ctx.job_id, rows: self.customers, seen_by_full_pull: seen });
        }
        if !self.products.is_empty() || !self.variants.is_empty() {
            effects = effects.push(UpsertShopifyProducts {
                job: ctx.job_id,
                products: self.products,
                variants: self.variants,
                seen_by_full_pull: seen,
            });
        }
        (effects, n, variants, entities)
    }
}

impl Shared {
    fn close_export(&self) {
        *self.export.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn open_export(&self) -> Option<(String, usize)> {
        self.export.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(OpenExport::position)
    }

    fn new(upstreams: Upstreams, settings: PullSettings, kind: Kind) -> Self {
        Shared { upstreams, settings, kind, export: Arc::new(Mutex::new(None)) }
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &ShopifyPullInput,
        state: ShopifyPullState,
    ) -> Result<Step<ShopifyPullState>, StepError> {
        let client = self.upstreams.shopify().map_err(StepError::permanent)?.clone();
        if matches!(state.phase, Phase::Start) {
            // A new job of this kind: whatever an earlier one (failed, cancelled) left open goes.
            self.close_export();
        }
        match state.phase.clone() {
            Phase::Start => self.start(ctx, &client, input, state).await,
            Phase::Paged { cursor } => self.page(ctx, &client, input, cursor, state).await,
            Phase::BulkStart => bulk::start(ctx, &client, self.kind, state).await,
            Phase::BulkPoll { operation } => bulk::poll(&client, &self.settings, operation, state).await,
            Phase::BulkIngest { operation, offset } => {
                let (batch, next) =
                    bulk::ingest(&client, &self.settings, &self.export, self.kind, &operation, offset).await?;
                let phase = match next {
                    Some(offset) => Phase::BulkIngest { operation, offset },
                    None => Phase::Finish,
                };
                Ok(self.committed("ingest", ctx, input, batch, phase, state))
            }
            Phase::Finish => self.finish(ctx, input, state).await,
        }
    }

    async fn start(
        &self,
        ctx: &StepContext,
        client: &ShopifyClient,
        input: &ShopifyPullInput,
        mut state: ShopifyPullState,
    ) -> Result<Step<ShopifyPullState>, StepError> {
        state.started_at = Some(ctx.clock.now().timestamp());
        if input.incremental {
            state.updated_since = stored_watermark(&ctx.db, self.kind.source())
                .await
                .map_err(|e| db_error("reading the watermark", e))?;
        }
        let incremental = state.updated_since.is_some();
        let filtered = input.filter_query().is_some();
        let count = match self.kind {
            Kind::Customers => client.customers_count().await,
            Kind::Products => client.products_count().await,
        }
        .map_err(step_error)?;
        let mut effects = EffectsList::default();
        let mut locations = 0;
        if self.kind == Kind::Products {
            let rows: Vec<LocationRow> =
                client.locations().await.map_err(step_error)?.iter().map(LocationRow::from).collect();
            locations = rows.len();
            effects = effects.push(UpsertLocations { rows });
        }
        // A filtered pull, like an incremental one, pages with its search (an export would read all).
        state.bulk = use_bulk(input.mode, incremental || filtered, count.count, self.settings.bulk_threshold);
        state.phase = if state.bulk { Phase::BulkStart } else { Phase::Paged { cursor: None } };
        let transfer = if state.bulk { "bulk" } else { "paged" };
        let progress = Progress {
            // An incremental or filtered pull reads an unknown part of the store: its total stays unset.
            total: (!incremental && !filtered).then_some(count.count as i64),
            metadata: Some(json!({
                "transfer": transfer, "storeCount": count.count, "incremental": incremental,
                "query": input.filter_query(),
            })),
            ..Progress::default()
        };
        let note = format!("{} records in the store, {transfer} transfer, {locations} locations", count.count);
        Ok(Step::next("start", state).with_progress(progress).with_effects(effects).with_note(note))
    }

    async fn page(
        &self,
        ctx: &StepContext,
        client: &ShopifyClient,
        input: &ShopifyPullInput,
        cursor: Option<String>,
        state: ShopifyPullState,
    ) -> Result<Step<ShopifyPullState>, StepError> {
        let query = input.page_query(state.updated_since);
        let first = self.settings.shopify_page_size;
        let mut batch = Batch::default();
        let next = match self.kind {
            Kind::Customers => {
                let page =
                    client.customers_page(first, cursor.as_deref(), query.as_deref()).await.map_err(step_error)?;
                batch.customers = page.items.iter().map(ShopifyCustomerRow::from).collect();
                page.next
            }
            Kind::Products => {
                let page =
                    client.products_page(first, cursor.as_deref(), query.as_deref()).await.map_err(step_error)?;
                for p in &page.items {
                    batch.products.push(ShopifyProductRow::from(p));
                    batch.variants.extend(p.variants.iter().map(|v| ShopifyVariantRow::new(&p.id, v)));
                    let mut more = p.more_variants.clone();
                    while let Some(after) = more {
                        let vs = client.product_variants_page(&p.id, 250, Some(&after)).await.map_err(step_error)?;
                        batch.variants.extend(vs.items.iter().map(|v| ShopifyVariantRow::new(&p.id, v)));
                        more = vs.next;
                    }
                }
                page.next
            }
        };
        if next.is_some() && next == cursor {
            return Err(StepError::permanent("Shopify returned the cursor it was given: the listing would never end"));
        }
        let phase = match next {
            Some(cursor) => Phase::Paged { cursor: Some(cursor) },
            None => Phase::Finish,
        };
        Ok(self.committed("page", ctx, input, batch, phase, state))
    }

    /// A step that commits `batch` and moves on to `phase`.
    fn committed(
        &self,
        name: &str,
        ctx: &StepContext,
        input: &ShopifyPullInput,
        batch: Batch,
        phase: Phase,
        mut state: ShopifyPullState,
    ) -> Step<ShopifyPullState> {
        let full = state.updated_since.is_none() && input.filter_query().is_none();
        let (effects, n, variants, touched) = batch.commit(ctx, full);
        state.pages += 1;
        state.upserted += n as u64;
        state.variants += variants;
        state.phase = phase;
        let progress = Progress {
            processed: n,
            successful: n,
            metadata: Some(json!({ "pages": state.pages })),
            ..Progress::default()
        };
        let note = format!("{name} {}: {n} records, {variants} variants", state.pages);
        Step::next(name, state).with_progress(progress).with_effects(effects).with_touched(touched).with_note(note)
    }

    async fn finish(
        &self,
        ctx: &StepContext,
        input: &ShopifyPullInput,
        state: ShopifyPullState,
    ) -> Result<Step<ShopifyPullState>, StepError> {
        self.close_export();
        let filtered = input.filter_query().is_some();
        let full = state.updated_since.is_none() && !filtered;
        let source = self.kind.source();
        let started_at = state.started_at.unwrap_or_else(|| ctx.clock.now().timestamp());
        let mark = watermark(started_at, self.settings.watermark_overlap.as_secs() as i64);
        let mut effects = EffectsList::default();
        let mut removed = 0;
        if full {
            removed = count_unseen(&ctx.db, source, ctx.job_id)
                .await
                .map_err(|e| db_error("counting rows the pull did not see", e))?;
            effects = effects.push(MarkRemoved { source, job: ctx.job_id, at_ms: ctx.clock.now().timestamp_millis() });
        }
        // A filtered pull did not read every change, so the next incremental pull must not start after it.
        if !filtered {
            effects = effects.push(SetWatermark { source, watermark: mark, job: ctx.job_id });
        }
        let mode = if filtered {
            "filtered"
        } else if full {
            "full"
        } else {
            "incremental"
        };
        let summary = json!({
            "mode": mode,
            "query": input.filter_query(),
            "transfer": if state.bulk { "bulk" } else { "paged" },
            "pages": state.pages,
            "upserted": state.upserted,
            "variants": state.variants,
            "removed": removed,
            "watermark": (!filtered).then_some(mark),
        });
        let note = format!("{} records in {} steps, {removed} marked removed", state.upserted, state.pages);
        Ok(Step::complete("finish", summary).with_effects(effects).with_note(note))
    }
}

#[cfg(test)]
mod input_tests {
    use super::*;

    #[test]
    fn the_query_and_status_become_the_search_of_every_page() {
        let input = ShopifyPullInput { query: Some("state:ENABLED".into()), ..Default::default() };
        assert_eq!(input.page_query(None).as_deref(), Some("state:ENABLED"));
        assert_eq!(input.page_query(Some(0)).as_deref(), Some("state:ENABLED AND updated_at:>='1970-01-01T00:00:00Z'"));
        let products: ShopifyPullInput = serde_json::from_value(json!({"status": "draft"})).unwrap();
        assert_eq!(products.filter_query().as_deref(), Some("status:draft"));
        let blank = ShopifyPullInput { query: Some("  ".into()), ..Default::default() };
        assert_eq!(blank.filter_query(), None, "a blank query reads the whole store");
        assert!(serde_json::from_value::<ShopifyPullInput>(json!({"status": "sold"})).is_err());
    }
}
