//! RECONCILE: after fresh pulls (the nightly pipeline runs them first), compares both mirrors
//! for every mapped item — stock per variant in total and per mapped location
//! ([`crate::catalog::store::reconcile`]), customers' total spent — and pushes only the
//! items that differ, through PRODUCT_SYNC and CUSTOMER_SYNC child jobs scoped to those mappings
//! (`mappingIds`, `forceSync`), whose writes carry idempotency keys like any sync's.
//!
//! Shopify's stock per location is not in the pulled mirror (a product pull reads each variant's
//! total), so when depots are mapped onto locations a reconcile first reads every active
//! location's inventory levels itself, by a bulk export ([`levels`]: `levels-start`,
//! `levels-poll`, `levels-ingest` steps, resumable at a line like a pull's export), and compares
//! each mapped location's level with the Nhanh depots that feed it.
//!
//! What it found is in its metadata (`stockDrift`, `totalSpentDrift`) and in its `compare`
//! step's event: every drifted mapping is filed in the audit index with the action `drift`
//! (`GET /api/audit?entity=product_mapping:<id>`), the first ones listed with both values in the
//! note. What it fixed is in its summary, from the children's counts.

use std::time::Duration;

use async_trait::async_trait;
use dongbo_engine::{EntityRef, Progress, Step, StepContext, StepError, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::json;

mod levels;

pub use levels::LevelsRead;

use crate::catalog::store::reconcile::{spend_drift, stock_drift, DriftSide};
use crate::catalog::store::schedules::LinkChildren;
use crate::jobs;
use crate::pull::shopify::bulk::OpenExport;
use crate::pull::PullSettings;
use crate::schedules::children::{children_view, failures, unfinished, ChildJobs, ChildRef};
use crate::Upstreams;

/// The job type.
pub const RECONCILE: &str = "RECONCILE";

/// How many drifted items the `compare` step's note lists with their values.
const NOTE_ITEMS: usize = 50;

/// RECONCILE's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconcileInput {
    /// Compare and fix stock (default true).
    #[serde(default = "yes")]
    pub products: bool,
    /// Compare and fix customers' total spent (default true).
    #[serde(default = "yes")]
    pub customers: bool,
    /// Seconds between two looks at the fixing jobs (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_secs: Option<u64>,
}

fn yes() -> bool {
    true
}

/// Where a reconcile is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileState {
    /// Where the read of Shopify's levels is (absent in checkpoints written before it existed).
    #[serde(default)]
    pub levels: LevelsRead,
    /// Whether the mirrors were compared.
    pub compared: bool,
    /// Drifted product mappings.
    pub stock: Vec<i64>,
    /// Drifted customer mappings.
    pub spend: Vec<i64>,
    /// The fixing jobs, once requested.
    pub children: Option<Vec<ChildRef>>,
}

/// The RECONCILE workflow.
pub struct Reconcile {
    upstreams: Upstreams,
    children: ChildJobs,
    /// The export's chunk size and poll wait (as a pull's).
    settings: PullSettings,
    /// The levels export being ingested, open between steps.
    export: std::sync::Mutex<Option<OpenExport>>,
}

impl Reconcile {
    /// A reconcile that fixes drift through `children` (PRODUCT_SYNC and CUSTOMER_SYNC).
    pub fn new(upstreams: Upstreams, children: ChildJobs) -> Self {
        Reconcile { upstreams, children, settings: PullSettings::default(), export: Default::default() }
    }
}

#[async_trait]
impl Workflow for Reconcile {
    type Input = ReconcileInput;
    type State = ReconcileState;

    fn job_type(&self) -> &'static str {
        RECONCILE
    }

    fn validate(&self, input: &ReconcileInput) -> Result<(), String> {
        if !input.products && !input.customers {
            return Err("nothing to reconcile: products and customers are both false".into());
        }
        if input.recheck_secs == Some(0) || input.recheck_secs.is_some_and(|s| s > 3600) {
            return Err("recheckSecs must be between 1 and 3600".into());
        }
        Ok(())
    }

    fn concurrency_key(&self, _input: &ReconcileInput) -> Option<String> {
        Some(RECONCILE.into())
    }

    fn initial_state(&self, _input: &ReconcileInput) -> ReconcileState {
        ReconcileState::default()
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &ReconcileInput,
        mut state: ReconcileState,
    ) -> Result<Step<ReconcileState>, StepError> {
        if !state.compared {
            if !state.levels.is_done() {
                return self.read_levels(ctx, input, state).await;
            }
            return self.compare(ctx, input, state).await;
        }
        let Some(children) = state.children.clone() else {
            let mut children = Vec::new();
            let mut links = Vec::new();
            for (job_type, ids, wanted) in [
                (jobs::PRODUCT_SYNC, &state.stock, input.products),
                (jobs::CUSTOMER_SYNC, &state.spend, input.customers),
            ] {
                if !wanted || ids.is_empty() {
                    continue;
                }
                let n = children.len();
                let child_input = json!({ "mappingIds": ids, "forceSync": true });
                let (child, link) = self.children.request(ctx, "fix", n, job_type, child_input).await?;
                children.push(child);
                links.push(link);
            }
            let rows = self.children.rows(&children).await?;
            let progress = Progress {
                metadata: Some(json!({ "children": children_view(&children, &rows) })),
                ..Progress::default()
            };
            state.children = Some(children);
            return Ok(Step::next("fix", state).with_progress(progress).with_effects(LinkChildren(links)));
        };
        let rows = self.children.rows(&children).await?;
        let recheck = Duration::from_secs(input.recheck_secs.unwrap_or(5));
        if let Some(waiting) = unfinished(&children, &rows, recheck) {
            let progress = Progress {
                metadata: Some(json!({ "children": children_view(&children, &rows) })),
                ..Progress::default()
            };
            return Ok(waiting.into_step(state, progress));
        }
        if let Some(reason) = failures(&children, &rows) {
            return Err(StepError::permanent(format!("fixing the drift: {reason}")));
        }
        let fixed = |t: &str| rows.iter().filter(|r| r.job_type == t).map(|r| r.successful).sum::<i64>();
        let failed = |t: &str| rows.iter().filter(|r| r.job_type == t).map(|r| r.failed).sum::<i64>();
        let summary = json!({
            "stockDrift": state.stock.len(),
            "stockFixed": fixed(jobs::PRODUCT_SYNC),
            "stockFailed": failed(jobs::PRODUCT_SYNC),
            "totalSpentDrift": state.spend.len(),
            "totalSpentFixed": fixed(jobs::CUSTOMER_SYNC),
            "totalSpentFailed": failed(jobs::CUSTOMER_SYNC),
            "children": children_view(&children, &rows),
        });
        let progress = Progress {
            processed: (state.stock.len() + state.spend.len()) as i64,
            successful: fixed(jobs::PRODUCT_SYNC) + fixed(jobs::CUSTOMER_SYNC),
            failed: failed(jobs::PRODUCT_SYNC) + failed(jobs::CUSTOMER_SYNC),
            ..Progress::default()
        };
        Ok(Step::complete("done", summary).with_progress(progress))
    }
}

impl Reconcile {
    async fn compare(
        &self,
        ctx: &StepContext,
        input: &ReconcileInput,
        mut state: ReconcileState,
    ) -> Result<Step<ReconcileState>, StepError> {
        // Fixing needs the clients: say so before comparing, not in a child.
        if input.products || input.customers {
            self.upstreams.shopify().map_err(StepError::permanent)?;
        }
        let db = &ctx.db;
        let read = |e: sqlx::Error| StepError::transient(format!("reading the mirrors: {e}"));
        let stock = if input.products { stock_drift(db, ctx.job_id).await.map_err(read)? } else { Vec::new() };
        let spend = if input.customers { spend_drift(db).await.map_err(read)? } else { Vec::new() };
        let mut touched = Vec::with_capacity(stock.len() + spend.len());
        let mut lines = Vec::new();
        for d in &stock {
            touched.push(EntityRef {
                kind: "product_mapping".into(),
                id: d.mapping_id.to_string(),
                action: "drift".into(),
            });
            if lines.len() < NOTE_ITEMS {
                // Against Shopify's total or level, or what dongbo last set at a location.
                let number = |never: &str| d.shopify.map_or(never.to_owned(), |n| n.to_string());
                let at = d.side.location().map(|l| format!(" at {l}")).unwrap_or_default();
                let theirs = match &d.side {
                    DriftSide::Total | DriftSide::Level(_) => format!("Shopify {}", number("unknown")),
                    DriftSide::LastSet(_) => format!("last set {}", number("never")),
                };
                lines.push(format!(
                    "stock {} (Nhanh {} → {}){at}: Nhanh {}, {theirs}",
                    d.mapping_id, d.nhanh_product_id, d.variant_id, d.nhanh
                ));
            }
        }
        for d in &spend {
            touched.push(EntityRef {
                kind: "customer_mapping".into(),
                id: d.mapping_id.to_string(),
                action: "drift".into(),
            });
            if lines.len() < NOTE_ITEMS {
                lines.push(format!(
                    "total spent {} (Nhanh {} → {}): Nhanh {}, Shopify {}",
                    d.mapping_id,
                    d.nhanh_customer_id,
                    d.shopify_customer_id,
                    d.nhanh,
                    d.shopify.as_deref().unwrap_or("absent")
                ));
            }
        }
        let more = touched.len().saturating_sub(lines.len());
        let mut note = format!("{} stock and {} total-spent items differ", stock.len(), spend.len());
        if !lines.is_empty() {
            note.push_str(": ");
            note.push_str(&lines.join("; "));
            if more > 0 {
                note.push_str(&format!("; and {more} more (all in the audit index)"));
            }
        }
        state.compared = true;
        state.stock = stock.iter().map(|d| d.mapping_id).collect();
        state.spend = spend.iter().map(|d| d.mapping_id).collect();
        let progress = Progress {
            total: Some((stock.len() + spend.len()) as i64),
            metadata: Some(json!({
                "stockDrift": stock.len(), "totalSpentDrift": spend.len(), "shopifyLevelsRead": state.levels.read(),
            })),
            ..Progress::default()
        };
        Ok(Step::next("compare", state).with_progress(progress).with_touched(touched).with_note(note))
    }
}
